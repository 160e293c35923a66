"""A station's TOML config: one agent, several cameras, each its own stream
`{station}-{camera id}`. Validated once; an error names the field.

    station = "county-a"
    gateways = ["https://city-1.example:8443", "https://city-2.example:8443"]
    token_file = "/etc/vdispatch/county-a.token"
    status_port = 8090

    [[cameras]]
    id = "judge"
    role = "judge"
    source = "rtsp://admin@10.0.0.21/stream1"
    password_file = "/etc/vdispatch/cam-judge.password"
    transport = "tcp"
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# The gateway's stream-id rule (signaling.tokens.STREAM_ID_RE; the agent does not import
# signaling, a test checks the two agree).
STREAM_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def valid_stream_id(stream_id: str) -> bool:
    return STREAM_ID_RE.fullmatch(stream_id) is not None


Role = Literal["panorama", "judge", "prosecutor", "defendant", "evidence", "room"]
# The station's signing key (made by `vdispatch station enroll`), in its key_dir.
STATION_KEY_FILE = "station-ed25519.pem"
DEFAULT_KEY_DIR = Path("/var/lib/vdispatch-agent/keys")
SOURCE_KINDS = ("rtsp://", "rtsps://", "file:", "/dev/video", "testsrc")


class StationConfigError(Exception):
    """The station config is wrong; the message names the field."""


class CameraConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Unique in the station; the stream is `{station}-{id}`.
    id: str = Field(min_length=1, max_length=32)
    # rtsp://[user[:password]@]host[:port]/path[?transport=udp], file:/path.mp4,
    # /dev/videoN (a USB camera), or testsrc (a test pattern and tone).
    source: str
    role: Role
    # The camera's own audio (true), none (false), or a microphone: "alsa:hw:1".
    audio: bool | str = True
    # RTSP over tcp (default) or udp; overrides ?transport= in the URL.
    transport: Literal["tcp", "udp"] | None = None
    # RTSP credentials when not in the URL; the password preferably from a file (0600).
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    # USB cameras and testsrc (encoded at the agent): picture size, frame rate, codec
    # (H.264 or VP8, both encoded at the agent and spooled), bitrate and the
    # keyframe interval (a viewer or a spool segment starts at a keyframe).
    width: int = Field(default=1280, ge=160, le=3840)
    height: int = Field(default=720, ge=120, le=2160)
    fps: int = Field(default=30, ge=1, le=60)
    codec: Literal["h264", "vp8"] = "h264"
    bitrate_kbps: int = Field(default=2500, ge=100, le=50000)
    keyframe_seconds: float = Field(default=2.0, gt=0, le=10)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not valid_stream_id(value):
            raise ValueError("lower-case letters, digits, - and _ (starting with a letter/digit)")
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if not value.startswith(SOURCE_KINDS):
            raise ValueError("rtsp://…, file:/path, /dev/videoN or testsrc")
        return value

    @field_validator("audio")
    @classmethod
    def _audio(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not value.startswith("alsa:"):
            raise ValueError('true, false or a microphone "alsa:DEVICE"')
        return value

    @model_validator(mode="after")
    def _credentials(self) -> CameraConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("password and password_file: give one")
        if (self.password or self.password_file) and not self.username:
            raise ValueError("a password needs a username")
        return self

    def read_password(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return self.password


class StationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    station: str = Field(min_length=1, max_length=31)
    # Gateway base URLs in fail-over order.
    gateways: list[str] = Field(min_length=1)
    # The station token (vdispatch token --role station --stream STATION-CAM …), one line.
    token_file: Path
    # The local status page (JSON at /status.json, a page at /), on 127.0.0.1 only.
    status_port: int = Field(default=8090, ge=0, le=65535)
    # STUN/TURN servers for the agent's peers.
    ice_servers: list[str] = Field(default_factory=list)
    # coturn's static-auth-secret in a file beside the token, readable by the agent only:
    # TURN URLs above get TURN REST credentials per connection (camera_agents/ice.py).
    turn_secret_file: Path | None = None
    # Seconds without RTCP from the gateway (it reports about once a second) before the
    # publication counts as lost and the next gateway is tried.
    liveness_timeout: float = Field(default=2.5, ge=1.0, le=60.0)
    cameras: list[CameraConfig] = Field(min_length=1)
    # Where `vdispatch station enroll` put the station's key (it signs the spool).
    key_dir: Path = DEFAULT_KEY_DIR
    # The local spool: every camera recorded here (none: no spool, nothing back-filled).
    spool_dir: Path | None = None
    # The spool's size on disk; uploaded segments go first, then (alarmed) the oldest.
    spool_max_bytes: int = Field(default=20 * 1024**3, ge=1024 * 1024)
    # A spool segment is closed (and may be uploaded) at the first keyframe after this.
    spool_segment_seconds: float = Field(default=10.0, ge=1.0, le=600.0)
    # Back-fill's share of the uplink (kilobits per second): live video keeps priority.
    backfill_kbps: int = Field(default=2000, ge=8)

    def read_turn_secret(self) -> str | None:
        if self.turn_secret_file is None:
            return None
        return self.turn_secret_file.read_text().strip()

    @property
    def key_path(self) -> Path:
        return self.key_dir / STATION_KEY_FILE

    @field_validator("station")
    @classmethod
    def _station(cls, value: str) -> str:
        if not valid_stream_id(value):
            raise ValueError("lower-case letters, digits, - and _ (starting with a letter/digit)")
        return value

    @field_validator("gateways")
    @classmethod
    def _gateways(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r}: a gateway is an http(s):// base URL")
        return value

    @model_validator(mode="after")
    def _unique(self) -> StationConfig:
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"cameras: id {', '.join(dupes)} used twice")
        for c in self.cameras:
            if not valid_stream_id(self.stream_id(c)):
                raise ValueError(f"cameras: stream {self.stream_id(c)!r} is too long")
        return self

    def stream_id(self, camera: CameraConfig) -> str:
        return f"{self.station}-{camera.id}"


def load_station_config(path: str | Path) -> StationConfig:
    """Read and validate once; StationConfigError names the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise StationConfigError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise StationConfigError(f"{path}: not TOML: {exc}") from None
    try:
        config = StationConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise StationConfigError(f"{path}: {where}: {first['msg']}{more}") from None
    # Files named in the config are found beside it.
    here = path.parent
    cameras = [
        c.model_copy(update={"password_file": here / c.password_file})
        if c.password_file is not None
        else c
        for c in config.cameras
    ]
    update: dict[str, object] = {
        "token_file": here / config.token_file,
        "cameras": cameras,
        "key_dir": here / config.key_dir,
    }
    if config.spool_dir is not None:
        update["spool_dir"] = here / config.spool_dir
    if config.turn_secret_file is not None:
        update["turn_secret_file"] = here / config.turn_secret_file
    return config.model_copy(update=update)
