"""The benchmark workload: 720p VP8 at ~3 Mb/s, 30 fps, a keyframe every 2 s of
100-340 KB, plus 20 ms Opus frames. Encoded once with PyAV (libvpx, libopus), cached
in a temp file, and published by aiortc tracks that return av.Packet, which aiortc
packetizes without encoding.

Each GOP comes from a fresh libvpx encoder whose `max-intra-rate` caps that GOP's
keyframe, so the keyframe sizes spread over the range a real camera produces; a GOP
starts with a keyframe and references nothing before it, so the GOPs concatenate into
one valid stream.

`load_or_build("small")`: the same at 320x180 and ~250 kb/s with 8-25 KB keyframes,
a cheap stream for soaks with many publishers (bench/soak.py).
"""

from __future__ import annotations

import asyncio
import fractions
import hashlib
import json
import os
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack

WIDTH, HEIGHT, FPS = 1280, 720, 30
GOP = 60  # a keyframe every 2 s
VIDEO_BITRATE = 2_800_000
# max-intra-rate per GOP (% of the average frame): keyframes of ~100 to ~340 KB
INTRA_RATES = (1000, 1600, 2150, 2500, 2750)
AUDIO_RATE = 48000
AUDIO_FRAME = 960  # 20 ms
VIDEO_CLOCK = 90000
_VERSION = 1
_MAGIC = b"VDBENCH1"


@dataclass(frozen=True)
class Profile:
    """Picture size, bitrate and the keyframe caps of each GOP."""

    width: int
    height: int
    bitrate: int
    intra_rates: tuple[int, ...]


PROFILES = {
    "720p": Profile(WIDTH, HEIGHT, VIDEO_BITRATE, INTRA_RATES),
    "small": Profile(320, 180, 250_000, (800, 1200, 1600, 2000, 2400)),
}


@dataclass
class Workload:
    video: list[bytes]  # one encoded VP8 frame each, FPS per second
    audio: list[bytes]  # one Opus packet each, 20 ms apart
    path: Path
    profile: Profile = PROFILES["720p"]

    @property
    def keyframes(self) -> list[int]:
        return [len(f) for f in self.video if not f[0] & 0x01]

    @property
    def video_bitrate(self) -> float:
        return sum(len(f) for f in self.video) * 8 * FPS / len(self.video)

    def describe(self) -> str:
        kf = self.keyframes
        return (
            f"VP8 {self.profile.width}x{self.profile.height} {FPS} fps,"
            f" {self.video_bitrate / 1e6:.2f} Mb/s, "
            f"keyframe every {GOP / FPS:.0f} s of {min(kf) // 1000}-{max(kf) // 1000} KB "
            f"({', '.join(str(k // 1000) for k in kf)}); Opus 48 kHz stereo 20 ms; "
            f"{len(self.video) / FPS:.0f} s loop"
        )


def _params(p: Profile) -> dict[str, object]:
    return {
        "v": _VERSION,
        "size": [p.width, p.height],
        "fps": FPS,
        "gop": GOP,
        "bitrate": p.bitrate,
        "intra": p.intra_rates,
        "av": av.__version__,
    }


def cache_path(profile: str = "720p") -> Path:
    params = _params(PROFILES[profile])
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"vdispatch-bench-workload-{key}.bin"


def load_or_build(profile: str = "720p", log: bool = True) -> Workload:
    """`profile`: a key of PROFILES."""
    p = PROFILES[profile]
    path = cache_path(profile)
    if path.exists():
        try:
            video, audio = _read(path)
            return Workload(video, audio, path, p)
        except (OSError, ValueError):
            pass
    t0 = time.monotonic()
    if log:
        print(f"encoding the {profile} workload once (cached in {path}) ...", flush=True)
    video = _encode_video(p)
    audio = _encode_audio(len(video) * AUDIO_RATE // (FPS * AUDIO_FRAME))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    _write(tmp, video, audio)
    tmp.replace(path)
    if log:
        print(f"  encoded in {time.monotonic() - t0:.1f} s", flush=True)
    return Workload(video, audio, path, p)


def _write(path: Path, video: list[bytes], audio: list[bytes]) -> None:
    with path.open("wb") as f:
        f.write(_MAGIC + struct.pack("!II", len(video), len(audio)))
        for item in (*video, *audio):
            f.write(struct.pack("!I", len(item)))
            f.write(item)


def _read(path: Path) -> tuple[list[bytes], list[bytes]]:
    data = path.read_bytes()
    if data[:8] != _MAGIC:
        raise ValueError("not a workload file")
    nv, na = struct.unpack_from("!II", data, 8)
    pos = 16
    items: list[bytes] = []
    for _ in range(nv + na):
        (n,) = struct.unpack_from("!I", data, pos)
        pos += 4
        items.append(data[pos : pos + n])
        pos += n
        if len(items[-1]) != n:
            raise ValueError("truncated workload file")
    return items[:nv], items[nv:]


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A detailed scene: noise at several scales, like foliage or a crowd."""
    img = np.zeros((height, width, 3), np.float32)
    for scale, amp in ((64, 90.0), (16, 50.0), (4, 30.0), (1, 10.0)):
        n = rng.standard_normal((height // scale + 2, width // scale + 2, 3)).astype(np.float32)
        img += np.kron(n, np.ones((scale, scale, 1), np.float32))[:height, :width] * amp
    return np.clip(img + 128, 0, 255).astype(np.uint8)


def _encode_video(p: Profile) -> list[bytes]:
    rng = np.random.default_rng(20240601)
    width, height = p.width, p.height
    pan = 3 * GOP * len(p.intra_rates)
    scene = _texture(rng, width + pan, height)
    frames: list[bytes] = []
    for g, intra in enumerate(p.intra_rates):
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height = width, height
        codec.pix_fmt = "yuv420p"
        codec.time_base = fractions.Fraction(1, FPS)
        codec.gop_size = 10 * GOP  # only the first frame of each encoder is a keyframe
        codec.bit_rate = p.bitrate
        codec.options = {
            "deadline": "realtime",
            "cpu-used": "6",
            "lag-in-frames": "0",
            "max-intra-rate": str(intra),
            "buf-sz": "6000",
            "buf-initial-sz": "4000",
            "buf-optimal-sz": "5000",
        }
        gop: list[bytes] = []
        for j in range(GOP):
            i = g * GOP + j
            img = np.ascontiguousarray(scene[:, 3 * i : 3 * i + width])  # slow camera pan
            box = 200 if height >= 400 else height // 4  # 720p: as before the profiles
            y0 = (i * 7) % (height - box)  # and something moving
            img[y0 : y0 + box, box : 2 * box] = (i * 5) % 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = j
            gop += [bytes(p) for p in codec.encode(frame)]
        gop += [bytes(p) for p in codec.encode(None)]
        if len(gop) != GOP or gop[0][0] & 0x01:
            raise RuntimeError(f"GOP {g}: {len(gop)} frames, first not a keyframe")
        frames += gop
    return frames


def _encode_audio(count: int) -> list[bytes]:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 64000
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    rng = np.random.default_rng(7)
    out: list[bytes] = []
    i = 0
    while len(out) < count:
        t = (np.arange(AUDIO_FRAME) + i * AUDIO_FRAME) / AUDIO_RATE
        tone = 0.2 * np.sin(2 * np.pi * (300 + 40 * np.sin(t)) * t)
        mono = ((tone + 0.05 * rng.standard_normal(AUDIO_FRAME)) * 32767).astype(np.int16)
        stereo = np.repeat(mono[:, None], 2, axis=1).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * AUDIO_FRAME
        out += [bytes(p) for p in codec.encode(frame)]
        i += 1
    return out[:count]


class Pacer:
    """One wall clock for a publisher's tracks, so audio and video stay in step."""

    def __init__(self) -> None:
        self.start: float | None = None

    async def wait(self, offset: float) -> None:
        if self.start is None:
            self.start = time.monotonic()
        delay = self.start + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class EncodedTrack(MediaStreamTrack):
    """Returns pre-encoded av.Packets in real time; aiortc packetizes, never encodes."""

    def __init__(self, kind: str, packets: list[bytes], pacer: Pacer, phase: int = 0) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._pacer = pacer
        self._phase = phase  # start somewhere else in the loop (different publishers)
        self._index = 0
        if kind == "video":
            self._period, self._clock, self._step = 1 / FPS, VIDEO_CLOCK, VIDEO_CLOCK // FPS
        else:
            self._period, self._clock, self._step = (
                AUDIO_FRAME / AUDIO_RATE,
                AUDIO_RATE,
                AUDIO_FRAME,
            )
        self._time_base = fractions.Fraction(1, self._clock)

    async def recv(self) -> av.Packet:
        i = self._index
        await self._pacer.wait(i * self._period)
        self._index += 1
        pkt = av.Packet(self._packets[(i + self._phase) % len(self._packets)])
        pkt.pts = i * self._step
        pkt.time_base = self._time_base
        return pkt


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or ["720p"]:
        print(f"{name}: {load_or_build(name).describe()}")
