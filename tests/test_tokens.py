"""Stream tokens: minting, verifying, grants, durations, and the `vdispatch token` command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from signaling import Forbidden, Grant, Permission, TokenIssuer, Unauthorized, parse_ttl

SECRET = b"s" * 32


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(SECRET)


def _expired_token(secret: bytes, role: str = "station", stream: str = "cam1") -> str:
    past = int(time.time()) - 3600
    claims = {
        "iss": "vdispatch",
        "iat": past - 60,
        "exp": past,
        "jti": "expired",
        "role": role,
        "streams": [stream],
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def test_a_minted_token_verifies_to_its_role_streams_and_expiry(issuer: TokenIssuer) -> None:
    before = time.time()
    grant = issuer.verify(issuer.mint(["cam1", "cam2"], "station", 600))
    assert grant.role == "station"
    assert grant.streams == ("cam1", "cam2")
    assert before + 590 <= grant.expires <= time.time() + 610
    assert grant.token_id


def test_every_minted_token_has_its_own_id(issuer: TokenIssuer) -> None:
    a = issuer.verify(issuer.mint(["cam1"], "viewer", 60))
    b = issuer.verify(issuer.mint(["cam1"], "viewer", 60))
    assert a.token_id != b.token_id


def test_an_expired_token_is_rejected_as_expired(issuer: TokenIssuer) -> None:
    with pytest.raises(Unauthorized, match="expired") as info:
        issuer.verify(_expired_token(SECRET))
    assert info.value.status == 401


def test_a_token_signed_with_another_secret_is_rejected(issuer: TokenIssuer) -> None:
    other = TokenIssuer(b"o" * 32).mint(["cam1"], "station", 600)
    with pytest.raises(Unauthorized, match="invalid token"):
        issuer.verify(other)


def test_a_tampered_token_is_rejected(issuer: TokenIssuer) -> None:
    token = issuer.mint(["cam1"], "station", 600)
    header, _payload, signature = token.split(".")
    forged = jwt.encode({"streams": ["*"]}, "x" * 32, algorithm="HS256").split(".")[1]
    with pytest.raises(Unauthorized):
        issuer.verify(f"{header}.{forged}.{signature}")


def test_garbage_is_not_a_token(issuer: TokenIssuer) -> None:
    with pytest.raises(Unauthorized):
        issuer.verify("not-a-jwt")


def test_a_token_without_role_or_streams_is_rejected(issuer: TokenIssuer) -> None:
    now = int(time.time())
    claims = {"iss": "vdispatch", "iat": now, "exp": now + 60, "jti": "x"}
    with pytest.raises(Unauthorized, match="role or streams"):
        issuer.verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_a_token_from_another_issuer_is_rejected(issuer: TokenIssuer) -> None:
    now = int(time.time())
    claims = {
        "iss": "someone-else",
        "iat": now,
        "exp": now + 60,
        "jti": "x",
        "role": "station",
        "streams": ["cam1"],
    }
    with pytest.raises(Unauthorized):
        issuer.verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenIssuer(b"short")


def test_a_station_grant_allows_publishing_its_own_streams_only() -> None:
    grant = Grant("station", ("cam1",), time.time() + 60, "t")
    assert grant.allows(Permission.STREAM_PUBLISH, "cam1")
    assert not grant.allows(Permission.STREAM_PUBLISH, "cam2")
    assert not grant.allows(Permission.STREAM_SUBSCRIBE, "cam1")


def test_a_viewer_grant_allows_subscribing_its_own_streams_only() -> None:
    grant = Grant("viewer", ("cam1",), time.time() + 60, "t")
    assert grant.allows(Permission.STREAM_SUBSCRIBE, "cam1")
    assert not grant.allows(Permission.STREAM_SUBSCRIBE, "cam2")
    assert not grant.allows(Permission.STREAM_PUBLISH, "cam1")


def test_a_viewer_wildcard_covers_every_stream_but_never_publishing() -> None:
    grant = Grant("viewer", ("*",), time.time() + 60, "t")
    assert grant.allows(Permission.STREAM_SUBSCRIBE, "cam1")
    assert grant.allows(Permission.STREAM_SUBSCRIBE, "anything")
    assert not grant.allows(Permission.STREAM_PUBLISH, "cam1")


def test_a_station_wildcard_grant_covers_nothing() -> None:
    grant = Grant("station", ("*",), time.time() + 60, "t")
    assert not grant.allows(Permission.STREAM_PUBLISH, "cam1")


def test_only_viewer_tokens_may_be_minted_for_every_stream(issuer: TokenIssuer) -> None:
    assert issuer.verify(issuer.mint(["*"], "viewer", 60)).streams == ("*",)
    with pytest.raises(ValueError, match="only viewer"):
        issuer.mint(["*"], "station", 60)


@pytest.mark.parametrize("stream", ["Bad_ID", "-x", "_x", "a" * 65, "", "cam 1", "cam/1", "câm"])
def test_minting_for_an_invalid_stream_id_is_refused(issuer: TokenIssuer, stream: str) -> None:
    with pytest.raises(ValueError, match="invalid stream id"):
        issuer.mint([stream], "station", 60)


@pytest.mark.parametrize("stream", ["a", "cam1", "0", "county-7_north", "a" * 64])
def test_minting_for_a_valid_stream_id_works(issuer: TokenIssuer, stream: str) -> None:
    assert issuer.verify(issuer.mint([stream], "station", 60)).streams == (stream,)


def test_authorize_answers_401_without_a_bearer_token(issuer: TokenIssuer) -> None:
    for header in (None, "", "Basic abc", "Bearer", "Bearer   ", "token"):
        with pytest.raises(Unauthorized) as info:
            issuer.authorize(header, Permission.STREAM_PUBLISH, "cam1")
        assert info.value.status == 401


def test_authorize_answers_403_for_a_valid_token_without_the_grant(issuer: TokenIssuer) -> None:
    token = issuer.mint(["cam1"], "station", 60)
    with pytest.raises(Forbidden) as info:
        issuer.authorize(f"Bearer {token}", Permission.STREAM_PUBLISH, "cam2")
    assert info.value.status == 403


def test_authorize_accepts_any_case_of_the_bearer_scheme(issuer: TokenIssuer) -> None:
    token = issuer.mint(["cam1"], "station", 60)
    grant = issuer.authorize(f"bearer {token}", Permission.STREAM_PUBLISH, "cam1")
    assert grant.role == "station"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 12 * 3600), ("90m", 90 * 60), ("45s", 45), ("2w", 1209600)],
)
def test_parse_ttl_reads_durations_with_units(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


def test_parse_ttl_reads_plain_seconds() -> None:
    assert parse_ttl("120") == 120
    assert parse_ttl(" 5m ") == 300


@pytest.mark.parametrize("text", ["0", "0d", "abc", "", "-5m", "1.5h", "5x", "h"])
def test_parse_ttl_rejects_what_is_not_a_positive_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_ttl(text)


def test_the_token_command_prints_a_token_that_verifies_against_its_secret(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDISPATCH_")}
    env["VDISPATCH_DATA_DIR"] = str(data_dir)
    exe = Path(sys.executable).with_name("vdispatch")
    result = subprocess.run(
        [str(exe), "token", "--stream", "cam1", "--role", "station", "--ttl", "1h"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    token = result.stdout.strip().splitlines()[-1]
    secret_file = data_dir / "secret"
    assert secret_file.is_file()
    grant = TokenIssuer(secret_file.read_text().strip().encode()).verify(token)
    assert grant.role == "station"
    assert grant.streams == ("cam1",)
    assert 3500 < grant.expires - time.time() <= 3600
    assert token == result.stdout.splitlines()[-1]


def test_the_token_command_refuses_a_bad_duration(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDISPATCH_")}
    env["VDISPATCH_DATA_DIR"] = str(tmp_path / "data")
    exe = Path(sys.executable).with_name("vdispatch")
    result = subprocess.run(
        [str(exe), "token", "--stream", "cam1", "--role", "station", "--ttl", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "not a duration" in result.stderr


# ---- auditor tokens: recordings and the audit log, no live video ----


def test_an_auditor_token_covers_every_recording_and_carries_a_name(issuer: TokenIssuer) -> None:
    grant = issuer.verify(issuer.mint([], "auditor", 600, name="Auditor Li"))
    assert grant.role == "auditor" and grant.streams == ("*",)
    assert grant.name == "Auditor Li"
    assert grant.actor == f"token:{grant.token_id} (Auditor Li)"
    assert issuer.verify(issuer.mint(["cam1"], "station", 60)).name is None


def test_an_auditor_grant_allows_replay_and_audit_and_nothing_live() -> None:
    grant = Grant("auditor", ("*",), time.time() + 60, "t")
    assert grant.allows(Permission.ARCHIVE_READ, "*") and grant.allows(
        Permission.ARCHIVE_READ, "cam1"
    )
    assert grant.allows(Permission.AUDIT_READ, "*")
    assert not grant.allows(Permission.STREAM_SUBSCRIBE, "cam1") and not grant.allows(
        Permission.STREAM_PUBLISH, "cam1"
    )
    assert grant.actor == "token:t"


@pytest.mark.parametrize("role", ["station", "viewer"])
def test_station_and_viewer_grants_allow_no_replay_or_audit(role: str) -> None:
    grant = Grant(role, ("*", "cam1"), time.time() + 60, "t")  # type: ignore[arg-type]
    assert not grant.allows(Permission.ARCHIVE_READ, "*") and not grant.allows(
        Permission.AUDIT_READ, "*"
    )


def test_authorize_names_the_missing_auditor_role(issuer: TokenIssuer) -> None:
    token = issuer.mint(["*"], "viewer", 60)
    with pytest.raises(Forbidden, match="auditor role needed"):
        issuer.authorize(f"Bearer {token}", Permission.ARCHIVE_READ, "*")
    auditor = issuer.mint([], "auditor", 60)
    assert issuer.authorize(f"Bearer {auditor}", Permission.AUDIT_READ, "*").role == "auditor"


@pytest.mark.parametrize("name", ["", "x" * 65, "line\nbreak"])
def test_a_bad_name_is_refused(issuer: TokenIssuer, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        issuer.mint([], "auditor", 60, name=name)


def test_the_token_command_mints_an_auditor_token_with_a_name(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDISPATCH_")}
    env["VDISPATCH_DATA_DIR"] = str(tmp_path / "data")
    exe = str(Path(sys.executable).with_name("vdispatch"))
    args = [exe, "token", "--role", "auditor", "--name", "Auditor Li", "--ttl", "1h"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=True)
    secret = (tmp_path / "data" / "secret").read_text().strip().encode()
    grant = TokenIssuer(secret).verify(result.stdout.strip().splitlines()[-1])
    assert (grant.role, grant.streams, grant.name) == ("auditor", ("*",), "Auditor Li")
    refused = subprocess.run(
        [*args, "--stream", "cam1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "leave out --stream" in refused.stderr
    no_stream = subprocess.run(
        [exe, "token", "--role", "station"], env=env, capture_output=True, text=True, timeout=60
    )
    assert no_stream.returncode == 2 and "needs --stream" in no_stream.stderr
