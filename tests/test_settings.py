"""Settings: nested sections, the CONTRACT's flat names as aliases, errors that name the field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from cluster import InProcessBus, LocalDirectory, RedisBus, RedisDirectory
from signaling import BUS_KEY, DIRECTORY_KEY
from vdispatch.node import build_app
from vdispatch.settings import FLAT_NAMES, Settings, SettingsError, load_settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("VDISPATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vdispatch.toml"
    path.write_text(text)
    return path


def test_every_setting_has_a_working_default() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("var")
    assert settings.recorder.data_dir == settings.catalog.data_dir == Path("var")
    assert settings.recorder.segment_seconds == 10
    assert settings.recorder.enabled is True
    assert settings.catalog.database_url is None
    assert settings.catalog.url.startswith("sqlite:///")
    assert settings.media.ice_servers == []
    assert settings.auth.login_failures_per_user == 5
    assert settings.cluster.redis_url is None
    assert settings.node.public_url == "http://127.0.0.1:8080"


def test_a_nested_environment_variable_sets_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VDISPATCH_RECORDER__SEGMENT_SECONDS", "5")
    monkeypatch.setenv("VDISPATCH_MEDIA__ICE_ADDRESSES", "127.0.0.1,10.0.0.5")
    monkeypatch.setenv("VDISPATCH_AUTH__LOGIN_WINDOW", "60")
    settings = load_settings()
    assert settings.recorder.segment_seconds == 5
    assert settings.media.ice_addresses == ["127.0.0.1", "10.0.0.5"]
    assert settings.auth.login_window == 60


def test_the_contracts_flat_environment_variables_still_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VDISPATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VDISPATCH_SEGMENT_SECONDS", "5")
    monkeypatch.setenv("VDISPATCH_RECORD", "false")
    monkeypatch.setenv("VDISPATCH_ICE_ADDRESSES", "127.0.0.1, 10.0.0.5")
    monkeypatch.setenv("VDISPATCH_DATABASE_URL", "postgresql://db.example/vdispatch")
    monkeypatch.setenv("VDISPATCH_LOGIN_WINDOW_SECONDS", "60")
    settings = load_settings()
    assert settings.recorder.data_dir == settings.catalog.data_dir == tmp_path / "data"
    assert settings.recorder.segment_seconds == 5
    assert settings.recorder.enabled is False
    assert settings.media.ice_addresses == ["127.0.0.1", "10.0.0.5"]
    assert settings.catalog.database_url == "postgresql://db.example/vdispatch"
    assert settings.auth.login_window == 60


def test_arguments_take_flat_names_too() -> None:
    settings = load_settings(segment_seconds=3, ice_addresses="127.0.0.1")
    assert settings.recorder.segment_seconds == 3
    assert settings.media.ice_addresses == ["127.0.0.1"]


def test_a_toml_file_takes_sections_and_flat_keys(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        'data_dir = "/srv/vdispatch"\n'
        "retention_days = 30\n"
        'ice_addresses = ["10.20.0.5"]\n'
        "[recorder]\n"
        "segment_seconds = 5\n"
        "[auth]\n"
        "session_max_hours = 8\n",
    )
    settings = load_settings(path)
    assert settings.recorder.data_dir == Path("/srv/vdispatch")
    assert settings.catalog.retention_days == 30
    assert settings.media.ice_addresses == ["10.20.0.5"]
    assert settings.recorder.segment_seconds == 5
    assert settings.auth.session_lifetime.total_seconds() == 8 * 3600


def test_the_environment_overrides_the_file_whichever_names_each_uses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = toml(tmp_path, "segment_seconds = 5\n[catalog]\nretention_days = 30\n")
    monkeypatch.setenv("VDISPATCH_RECORDER__SEGMENT_SECONDS", "7")
    monkeypatch.setenv("VDISPATCH_RETENTION_DAYS", "40")
    settings = load_settings(path)
    assert settings.recorder.segment_seconds == 7
    assert settings.catalog.retention_days == 40


def test_a_setting_given_by_both_names_in_one_place_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VDISPATCH_SEGMENT_SECONDS", "5")
    monkeypatch.setenv("VDISPATCH_RECORDER__SEGMENT_SECONDS", "7")
    with pytest.raises(SettingsError) as env_error:
        load_settings()
    assert "VDISPATCH_SEGMENT_SECONDS" in str(env_error.value)
    assert "VDISPATCH_RECORDER__SEGMENT_SECONDS" in str(env_error.value)

    monkeypatch.delenv("VDISPATCH_SEGMENT_SECONDS")
    monkeypatch.delenv("VDISPATCH_RECORDER__SEGMENT_SECONDS")
    path = toml(tmp_path, "record = false\n[recorder]\nenabled = true\n")
    with pytest.raises(SettingsError, match=r"recorder\.enabled: given twice .* record and"):
        load_settings(path)


def test_data_dir_is_set_once_not_per_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VDISPATCH_RECORDER__DATA_DIR", "/elsewhere")
    with pytest.raises(SettingsError, match=r"recorder\.data_dir: .*VDISPATCH_DATA_DIR"):
        load_settings()


def test_a_bad_value_is_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VDISPATCH_SEGMENT_SECONDS", "0")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value) == "recorder.segment_seconds: Input should be greater than 0"

    monkeypatch.delenv("VDISPATCH_SEGMENT_SECONDS")
    with pytest.raises(SettingsError) as errors:
        load_settings(port=0, secret="short")
    problems = str(errors.value).split("; ")
    assert "secret: must be at least 32 characters" in problems
    assert "port: Input should be greater than or equal to 1" in problems
    with pytest.raises(SettingsError, match=r"recorder\.segmnt_seconds: Extra inputs"):
        load_settings(toml(tmp_path, "[recorder]\nsegmnt_seconds = 5\n"))


def test_every_flat_name_is_an_alias_of_a_section_field() -> None:
    for flat, (section, field) in FLAT_NAMES.items():
        assert flat not in Settings.model_fields, flat
        model = Settings.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        assert field in model.model_fields, (flat, section, field)


def test_the_operations_guide_lists_every_setting() -> None:
    table = DOCS.read_text()
    for flat in FLAT_NAMES:
        assert f"`{flat.upper()}`" in table, flat
    for name, info in Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for field in model.model_fields:
                if field != "data_dir":
                    assert f"`{name}.{field}`" in table, f"{name}.{field}"
        else:
            assert f"`{name.upper()}`" in table, name


def test_redis_url_makes_the_node_a_cluster_member(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var", redis_url="redis://cache.example:6379")
    assert settings.cluster.redis_url == "redis://cache.example:6379"
    app = build_app(settings)  # nothing connects before the app starts
    assert isinstance(app[BUS_KEY], RedisBus)
    assert isinstance(app[DIRECTORY_KEY], RedisDirectory)

    alone = build_app(load_settings(data_dir=tmp_path / "var"))
    assert isinstance(alone[BUS_KEY], InProcessBus)
    assert isinstance(alone[DIRECTORY_KEY], LocalDirectory)


def test_media_workers_auto_is_one_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VDISPATCH_MEDIA__WORKERS", "auto")
    assert load_settings().media.worker_count() == (os.cpu_count() or 1)
    monkeypatch.setenv("VDISPATCH_MEDIA__WORKERS", "0")
    assert load_settings().media.worker_count() == (os.cpu_count() or 1)
    monkeypatch.setenv("VDISPATCH_MEDIA__WORKERS", "3")
    assert load_settings().media.worker_count() == 3
    monkeypatch.setenv("VDISPATCH_MEDIA__WORKERS", "-1")
    with pytest.raises(SettingsError, match=r"media\.workers"):
        load_settings()
