"""TURN REST credentials (coturn's use-auth-secret) as the gateway and the agent make
them, held to coturn's documented recipe: username EXPIRY:NAME, password
`echo -n $username | openssl dgst -binary -sha1 -hmac $secret | openssl base64`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from camera_agents import Station, load_station_config
from camera_agents import ice as agent_ice
from media_gateway import MediaSettings, ice_servers, turn_rest_credentials

SECRET = "4080c3b5a0b1e0c9a4cf1b9e86b38bd2f2a9a3d47a4f0c3e0ef1ea39ab8c7d11"
NOW = 1_780_000_000.0


def _openssl_password(secret: str, username: str) -> str:
    """coturn's wiki recipe, run as written (an implementation that is not ours)."""
    digest = subprocess.run(
        ["openssl", "dgst", "-binary", "-sha1", "-hmac", secret],
        input=username.encode(),
        capture_output=True,
        check=True,
    ).stdout
    encoded = subprocess.run(
        ["openssl", "base64"], input=digest, capture_output=True, check=True
    ).stdout
    return encoded.decode().strip()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not here")
def test_credentials_follow_coturns_recipe_in_the_gateway_and_the_agent() -> None:
    username, password = turn_rest_credentials(SECRET, "peer-1", 3600, now=NOW)
    assert username == f"{int(NOW) + 3600}:peer-1"
    assert password == _openssl_password(SECRET, username)
    assert agent_ice.turn_rest_credentials(SECRET, "peer-1", 3600, now=NOW) == (
        username,
        password,
    )


def test_only_turn_urls_carry_credentials_and_only_with_a_secret() -> None:
    urls = [
        "stun:stun.example.org:3478",
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:5349?transport=tcp",
    ]
    plain = ice_servers(MediaSettings(ice_servers=urls), "p")
    assert [(s.urls, s.username, s.credential) for s in plain] == [(u, None, None) for u in urls]

    settings = MediaSettings(
        ice_servers=urls, turn_secret=SecretStr(SECRET), turn_credential_lifetime=600
    )
    stun, turn, turns = ice_servers(settings, "p", now=NOW)
    assert (stun.username, stun.credential) == (None, None)
    expected = turn_rest_credentials(SECRET, "p", 600, now=NOW)
    assert (turn.username, turn.credential) == expected
    assert (turns.username, turns.credential) == expected

    stun, turn, _ = agent_ice.ice_servers(urls, SECRET, "county-a-judge")
    assert stun.username is None
    assert turn.username is not None and turn.username.endswith(":county-a-judge")


def test_the_secret_is_never_shown() -> None:
    settings = MediaSettings(turn_secret=SecretStr(SECRET))
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())


async def test_a_stations_turn_secret_file_beside_its_config_reaches_every_camera(
    tmp_path: Path,
) -> None:
    (tmp_path / "turn.secret").write_text(SECRET + "\n")
    path = tmp_path / "station.toml"
    path.write_text(
        'station = "county-a"\ngateways = ["http://city:8080"]\ntoken_file = "t"\n'
        'ice_servers = ["turn:turn.example.org:3478?transport=udp"]\n'
        'turn_secret_file = "turn.secret"\n'
        '[[cameras]]\nid = "judge"\nrole = "judge"\nsource = "testsrc"\naudio = false\n'
    )
    config = load_station_config(path)
    assert config.turn_secret_file == tmp_path / "turn.secret"
    secret = config.read_turn_secret()
    assert secret == SECRET
    station = Station(config, "token", secret)
    assert [c.agent.config.turn_secret for c in station.cameras] == [SECRET]
