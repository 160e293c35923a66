"""deploy/compose.yaml, deploy/Dockerfile and deploy/cluster.env.example agree with each
other and with the node's settings: every VDISPATCH_* the nodes get is a setting and the
set loads (with the example's values), every ${VAR} is in the example env file, the files
mounted exist, the image installs every package and runs unprivileged with a health check.
PyYAML is not a dependency: the YAML is read as text here, and `docker compose config`
checks it as YAML where Docker Compose is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from vdispatch.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = (DEPLOY / "compose.yaml").read_text()
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
EXAMPLE = DEPLOY / "cluster.env.example"
INTERPOLATION = re.compile(r"(?<!\$)\$\{(\w+)(?::\?[^}]*)?\}")


def _example_env() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_the_services_of_the_cluster_are_all_there() -> None:
    block = COMPOSE.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0]
    services = set(re.findall(r"^  ([a-z][\w-]*):$", block, flags=re.MULTILINE))
    assert services == {"node-a", "node-b", "redis", "postgres", "nginx", "coturn"}


def test_every_variable_comes_from_the_example_env_file() -> None:
    used = set(INTERPOLATION.findall(COMPOSE))
    assert used, "the compose file takes its secrets from the env file"
    assert used <= set(_example_env()), used - set(_example_env())


def test_the_nodes_environment_is_a_valid_settings_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    example = _example_env()
    names = dict(re.findall(r"^\s+(VDISPATCH_\w+): (.+)$", COMPOSE, flags=re.MULTILINE))
    assert {"VDISPATCH_SECRET", "VDISPATCH_REDIS_URL", "VDISPATCH_DATABASE_URL"} <= set(names)
    for name, raw in names.items():
        value = INTERPOLATION.sub(lambda m: example[m.group(1)], raw).strip('"')
        monkeypatch.setenv(name, value)
    # The settings load as a node would (extra="forbid": a misspelt name is refused).
    settings = load_settings(data_dir=tmp_path / "var")
    assert settings.cluster.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.catalog.database_url or "").startswith("postgresql://vdispatch:")
    assert settings.media.turn_secret is not None
    assert settings.auth.trusted_proxies == ["127.0.0.1"]
    assert settings.metrics_address == ("127.0.0.1", 9465)  # node-b's, apart from node-a's


def test_the_files_the_compose_file_mounts_exist() -> None:
    for source in re.findall(r"^\s+- (\./[^:]+):", COMPOSE, flags=re.MULTILINE):
        assert (DEPLOY / source).is_file(), source


def test_the_image_installs_every_package_and_runs_unprivileged() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package in pyproject["tool"]["importlinter"]["root_packages"]:
        assert f"COPY {package} ./{package}" in DOCKERFILE, package
    assert re.search(r"^USER vdispatch$", DOCKERFILE, flags=re.MULTILINE)
    assert "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE
    assert "STOPSIGNAL SIGINT" in DOCKERFILE
    assert "deploy/cluster.env" in (ROOT / ".gitignore").read_text().splitlines()


def test_docker_compose_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("Docker Compose is not installed (docker compose / docker-compose)")
    checked = subprocess.run(
        [*command, "--env-file", str(EXAMPLE), "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
