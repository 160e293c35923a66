"""Typed settings: VDISPATCH_* environment variables over an optional TOML file over
embedded defaults.

Each package declares its own section once (defaults, bounds, a comment per field):
`media_gateway.MediaSettings`, `recorder.RecorderSettings`, `catalog.CatalogSettings`,
`signaling.AuthSettings`. This root composes them as nested fields, declares the node's own
facts (data directory, secret, address, identity), and validates everything once.

Nested names: `VDISPATCH_RECORDER__SEGMENT_SECONDS=5` or `[recorder] segment_seconds = 5`.
The CONTRACT's flat names (`VDISPATCH_SEGMENT_SECONDS`, `segment_seconds = 5`) are aliases,
mapped once in FLAT_NAMES; giving a setting both ways in one place is refused.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from catalog import CatalogSettings
from cluster import ClusterSettings, Node
from media_gateway import MediaSettings
from recorder import RecorderSettings
from signaling import AuthSettings

ENV_PREFIX = "VDISPATCH_"

# The CONTRACT's flat names (env VDISPATCH_<NAME>, or a top-level TOML key) → section.field.
FLAT_NAMES: dict[str, tuple[str, str]] = {
    "ice_servers": ("media", "ice_servers"),
    "ice_addresses": ("media", "ice_addresses"),
    "turn_secret": ("media", "turn_secret"),
    "udp_receive_buffer": ("media", "udp_receive_buffer"),
    "udp_send_buffer": ("media", "udp_send_buffer"),
    "segment_seconds": ("recorder", "segment_seconds"),
    "record": ("recorder", "enabled"),
    "reconnect_grace": ("recorder", "reconnect_grace"),
    "database_url": ("catalog", "database_url"),
    "redis_url": ("cluster", "redis_url"),
    "retention_days": ("catalog", "retention_days"),
    "session_idle_minutes": ("auth", "session_idle_minutes"),
    "session_max_hours": ("auth", "session_max_hours"),
    "login_failures_per_user": ("auth", "login_failures_per_user"),
    "login_failures_per_address": ("auth", "login_failures_per_address"),
    "login_window_seconds": ("auth", "login_window"),
    "trusted_proxies": ("auth", "trusted_proxies"),
}

# Sections that work under DATA_DIR: the root fills it in; they have no default of their own.
DATA_DIR_SECTIONS = ("recorder", "catalog")


class SettingsError(Exception):
    """A setting is wrong; the message names the field."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        # Lists come as comma-separated text from the environment, never JSON.
        enable_decoding=False,
        extra="forbid",
        frozen=True,
    )
    toml_file: ClassVar[Path | None] = None

    # Recordings, the token secret, the SQLite catalog; passed down to recorder and catalog.
    data_dir: Path = Path("./var")
    # Token signing key (at least 32 characters); unset: generated into DATA_DIR/secret.
    secret: SecretStr | None = None
    # HTTP listen address.
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    # This node's name in a cluster.
    node_id: str = Field(default_factory=Node.default_id)
    # How clients reach this node; default http://HOST:PORT (a wildcard host as 127.0.0.1).
    public_url: str = Field(default_factory=lambda data: _default_public_url(data))
    # Where `vdispatch serve` serves /metrics to anyone (HOST:PORT); empty: no listener,
    # /metrics only on the public port (admins, or the metrics token).
    metrics_listen: str = "127.0.0.1:9464"
    # A Bearer token that may read /metrics on the public port; unset: only admins.
    metrics_token: SecretStr | None = None

    media: MediaSettings = MediaSettings()
    recorder: RecorderSettings
    catalog: CatalogSettings
    auth: AuthSettings = AuthSettings()
    cluster: ClusterSettings = ClusterSettings()

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        value = value.strip()
        if value:
            parse_listen(value)
        return value

    @field_validator("metrics_token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @model_validator(mode="before")
    @classmethod
    def _pass_data_dir_down(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data_dir = data.get("data_dir", cls.model_fields["data_dir"].default)
        data = dict(data)
        for name in DATA_DIR_SECTIONS:
            section = data.get(name, {})
            if isinstance(section, BaseModel):
                section = section.model_dump()
            if isinstance(section, dict):
                data[name] = {**section, "data_dir": data_dir}
        return data

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """The metrics listener's (host, port); None: no listener."""
        return parse_listen(self.metrics_listen) if self.metrics_listen else None

    @property
    def node(self) -> Node:
        return Node(node_id=self.node_id, public_url=self.public_url)

    def token_secret(self) -> bytes:
        """The configured SECRET, or one generated once into DATA_DIR (so: on first use)."""
        if self.secret is not None:
            return self.secret.get_secret_value().encode()
        path = self.data_dir / "secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            _FlatNames(settings_cls, init_settings, "arguments"),
            _FlatNames(settings_cls, env_settings, "the environment", environ=True),
        ]
        if cls.toml_file is not None:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_file)
            sources.append(_FlatNames(settings_cls, toml, str(cls.toml_file)))
        return tuple(sources)


def parse_listen(listen: str) -> tuple[str, int]:
    """ "HOST:PORT" (IPv6 as "[::1]:9464") -> (host, port); ValueError saying the form."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{listen!r}: HOST:PORT (like 127.0.0.1:9464), or empty for none")
    return host.removeprefix("[").removesuffix("]"), int(port)


class _FlatNames(PydanticBaseSettingsSource):
    """One source's values with the flat names moved into their sections.

    Folding per source keeps the usual precedence (arguments over environment over file)
    between a flat name in one source and its nested name in another."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        inner: PydanticBaseSettingsSource,
        where: str,
        *,
        environ: bool = False,
    ) -> None:
        super().__init__(settings_cls)
        self.inner = inner
        self.where = where
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        data = dict(self.inner())
        if self.environ:
            env = {k.lower(): v for k, v in os.environ.items()}
            for flat in FLAT_NAMES:
                value = env.get(f"{ENV_PREFIX}{flat}".lower())
                if value is not None:
                    data[flat] = value
        return _fold(data, self.where, self.environ)


def _fold(data: dict[str, Any], where: str, environ: bool) -> dict[str, Any]:
    def name(flat: str | None, section: str, field: str) -> str:
        if environ:
            if flat is not None:
                return f"{ENV_PREFIX}{flat.upper()}"
            return f"{ENV_PREFIX}{section.upper()}__{field.upper()}"
        return flat if flat is not None else f"{section}.{field}"

    for section in DATA_DIR_SECTIONS:
        given = data.get(section)
        if isinstance(given, dict) and "data_dir" in given:
            raise SettingsError(
                f"{section}.data_dir: not a setting of its own; set data_dir"
                f" ({ENV_PREFIX}DATA_DIR) for every section"
            )
    for flat, (section, field) in FLAT_NAMES.items():
        if flat not in data:
            continue
        value = data.pop(flat)
        nested = data.get(section)
        nested = dict(nested) if isinstance(nested, dict) else {}
        if field in nested:
            raise SettingsError(
                f"{section}.{field}: given twice in {where}, as {name(flat, section, field)}"
                f" and as {name(None, section, field)}; keep one"
            )
        nested[field] = value
        data[section] = nested
    for section, model in _SECTIONS.items():
        nested = data.get(section)
        if isinstance(nested, dict):
            data[section] = _split_lists(model, nested)
    return data


def _split_lists(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Comma-separated text for a list field (env vars, arguments) becomes a list."""
    out = dict(values)
    for field, info in model.model_fields.items():
        value = out.get(field)
        if isinstance(value, str) and info.annotation == list[str]:
            out[field] = [v.strip() for v in value.split(",") if v.strip()]
    return out


_SECTIONS: dict[str, type[BaseModel]] = {
    name: info.annotation
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
}


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _default_public_url(data: dict[str, Any]) -> str:
    # pydantic calls this only once host and port are valid.
    return f"http://{_display_host(data['host'])}:{data['port']}"


def _describe(exc: ValidationError) -> str:
    problems = []
    for e in exc.errors():
        if e["type"] == "default_factory_not_called":
            continue  # a default derived from a bad value: that value's error says it
        where = ".".join(str(p) for p in e["loc"]) or "settings"
        message = str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"]
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate once; raise SettingsError naming the bad field.

    `overrides` take flat or nested names (`segment_seconds=3`, `recorder={...}`)."""
    path = Path(config_file) if config_file else None
    if path is not None and not path.is_file():
        raise SettingsError(f"config file not found: {path}")
    Settings.toml_file = path
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc
    finally:
        Settings.toml_file = None
