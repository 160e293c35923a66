"""Typed settings: VDISPATCH_* environment variables over an optional TOML file over
embedded defaults. Each package owns its section; this root composes and validates once."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from catalog import CatalogSettings
from cluster import Node
from media_gateway import MediaSettings
from recorder import RecorderSettings
from signaling import AuthSettings

CommaList = Annotated[list[str], NoDecode]


class SettingsError(Exception):
    """A setting is wrong; the message names the field."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VDISPATCH_", extra="forbid")
    toml_file: ClassVar[Path | None] = None

    data_dir: Path = Path("./var")
    database_url: str | None = None
    redis_url: str | None = None
    secret: SecretStr | None = None
    node_id: str | None = None
    public_url: str | None = None
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=1, le=65535)
    ice_servers: CommaList = Field(default_factory=list)
    ice_addresses: CommaList = Field(default_factory=list)
    segment_seconds: float = Field(10.0, gt=0, le=3600)
    record: bool = True
    reconnect_grace: float = Field(30.0, ge=0)
    retention_days: int = Field(3650, ge=1, le=365000)
    udp_receive_buffer: int = Field(8 * 1024 * 1024, ge=65536)
    udp_send_buffer: int = Field(4 * 1024 * 1024, ge=65536)
    session_idle_minutes: float = Field(120.0, gt=0)
    session_max_hours: float = Field(12.0, gt=0)
    login_failures_per_user: int = Field(5, ge=1)
    login_failures_per_address: int = Field(20, ge=1)
    login_window_seconds: float = Field(300.0, gt=0)
    trusted_proxies: CommaList = Field(default_factory=list)

    @field_validator("ice_servers", "ice_addresses", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_file))
        return tuple(sources)

    # ---- sections for each package ----

    def media(self) -> MediaSettings:
        return MediaSettings(
            ice_servers=list(self.ice_servers),
            ice_addresses=list(self.ice_addresses),
            udp_receive_buffer=self.udp_receive_buffer,
            udp_send_buffer=self.udp_send_buffer,
        )

    def recorder(self) -> RecorderSettings:
        return RecorderSettings(
            data_dir=self.data_dir,
            segment_seconds=self.segment_seconds,
            enabled=self.record,
            reconnect_grace=self.reconnect_grace,
        )

    def catalog(self) -> CatalogSettings:
        return CatalogSettings(
            data_dir=self.data_dir,
            database_url=self.database_url or None,
            retention_days=self.retention_days,
        )

    def auth(self) -> AuthSettings:
        return AuthSettings(
            session_idle=timedelta(minutes=self.session_idle_minutes),
            session_lifetime=timedelta(hours=self.session_max_hours),
            login_failures_per_user=self.login_failures_per_user,
            login_failures_per_address=self.login_failures_per_address,
            login_window=self.login_window_seconds,
            trusted_proxies=list(self.trusted_proxies),
        )

    def node(self) -> Node:
        public = self.public_url or f"http://{_display_host(self.host)}:{self.port}"
        return Node(node_id=self.node_id or Node.default_id(), public_url=public)

    def token_secret(self) -> bytes:
        """The configured SECRET, or one generated once into DATA_DIR."""
        if self.secret is not None:
            value = self.secret.get_secret_value().encode()
            if len(value) < 32:
                raise SettingsError("secret: must be at least 32 characters")
            return value
        path = self.data_dir / "secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate once; raise SettingsError naming the bad field."""
    path = Path(config_file) if config_file else None
    if path is not None and not path.is_file():
        raise SettingsError(f"config file not found: {path}")
    Settings.toml_file = path
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(problems) from exc
    finally:
        Settings.toml_file = None
