"""Accounts, sessions, the station registry and presence on real databases (SQLite, and
PostgreSQL for the round trip of the new tables), the login rate limiter, and the
`vdispatch user` / `vdispatch station` commands."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from catalog import CatalogSettings, LoginSessionRow, UserRow
from catalog.recordings import Catalog
from signaling import AccountError, Hearings, StationError, Stations, Users
from signaling.login_sessions import LoginSessions
from signaling.ratelimit import Attack, LoginLimiter
from signaling.stations import STALE_AFTER
from vdispatch.demo import (
    ACCOUNTS_FILE,
    ensure_accounts,
    ensure_interrogation,
    ensure_session,
    ensure_stations,
)

from .catalogs import cli
from .console import PASSWORD


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    opened = Catalog.open(CatalogSettings(data_dir=tmp_path / "var"))
    try:
        yield opened
    finally:
        opened.dispose()


def _all_the_new_tables(catalog: Catalog) -> None:
    """Users, sessions, stations and presence: written and read back."""
    users = Users(catalog.engine)
    user = users.add("zhang.san", "commander", PASSWORD, "张三")
    assert users.get("zhang.san") == user and user.display_name == "张三"
    assert users.authenticate("zhang.san", PASSWORD) == (user, "")
    sessions = LoginSessions(catalog.engine, timedelta(hours=1), timedelta(hours=8))
    token, session = sessions.create(user, "10.0.0.7", "pytest")
    resolved = sessions.resolve(token)
    assert resolved is not None and resolved.user == user and resolved.csrf == session.csrf
    stations = Stations(catalog.engine)
    stations.add("county-a-court", "甲县", "人民法院 第一法庭", "courtroom", ["cam-a", "cam-a2"])
    now = datetime.now(UTC)
    [changed] = stations.sync_presence({"cam-a2"}, "node-1", now)
    assert changed.online and changed.last_seen is not None
    assert abs((changed.last_seen - now).total_seconds()) < 0.001
    [listed] = stations.all()
    assert listed.streams == ("cam-a", "cam-a2") and listed.county == "甲县" and listed.online
    assert sessions.delete(token) and sessions.resolve(token) is None
    actions = [r["action"] for r in catalog.audit_rows()]
    assert actions == ["user.add", "station.add"]
    assert catalog.check_audit().ok


def test_the_console_tables_on_sqlite(catalog: Catalog) -> None:
    _all_the_new_tables(catalog)


def test_the_console_tables_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    opened = Catalog.open(CatalogSettings(data_dir=tmp_path / "var", database_url=postgres_url))
    try:
        _all_the_new_tables(opened)
    finally:
        opened.dispose()


def test_passwords_are_argon2id_hashes_and_bad_input_is_refused(catalog: Catalog) -> None:
    users = Users(catalog.engine)
    users.add("li", "auditor", PASSWORD)
    with users._read() as s:
        stored = s.query(UserRow.password_hash).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert users.authenticate("li", "wrong password!")[0] is None
    assert users.authenticate("LI", PASSWORD)[0] is None
    for name, role, password, why in [
        ("li", "auditor", PASSWORD, "exists already"),
        ("Li Wei", "auditor", PASSWORD, "user name"),
        ("wang", "judge", PASSWORD, "role"),
        ("wang", "observer", "short", "at least 10"),
    ]:
        with pytest.raises(AccountError, match=why):
            users.add(name, role, password)
    users.set_password("li", "another long password")
    assert users.authenticate("li", PASSWORD)[0] is None
    assert users.authenticate("li", "another long password")[0] is not None


def test_sessions_end_when_idle_too_long_or_too_old(catalog: Catalog) -> None:
    users = Users(catalog.engine)
    user = users.add("li", "observer", PASSWORD)
    sessions = LoginSessions(
        catalog.engine, idle=timedelta(minutes=30), lifetime=timedelta(hours=8)
    )

    def age(token: str, **changes: datetime) -> None:
        with sessions._write.begin() as s:
            s.execute(update(LoginSessionRow).values(**changes))

    now = datetime.now(UTC)
    idle, _ = sessions.create(user, "10.0.0.1", "")
    age(idle, last_seen=now - timedelta(minutes=31))
    assert sessions.resolve(idle) is None
    old, _ = sessions.create(user, "10.0.0.1", "")
    age(old, created_at=now - timedelta(hours=9), last_seen=now)
    assert sessions.resolve(old) is None
    fresh, _ = sessions.create(user, "10.0.0.1", "")
    age(fresh, last_seen=now - timedelta(minutes=5), created_at=now - timedelta(hours=1))
    assert sessions.resolve(fresh) is not None  # and its last_seen moves on
    assert sessions.resolve(fresh) is not None
    assert sessions.purge_expired() == 0
    users.set_disabled("li", True)
    assert sessions.resolve(fresh) is None and sessions.count(user) == 0


def test_a_stream_belongs_to_one_station_and_kinds_are_checked(catalog: Catalog) -> None:
    stations = Stations(catalog.engine)
    stations.add("county-a-court", "甲县", "第一法庭", "courtroom", ["cam-a"])
    for args, why in [
        (("county-b", "乙县", "讯问室", "interrogation_room", ["cam-a"]), "belongs to station"),
        (("county-b", "乙县", "讯问室", "prison", ["cam-b"]), "kind"),
        (("County B", "乙县", "讯问室", "courtroom", ["cam-b"]), "station id"),
        (("county-b", "乙县", "讯问室", "courtroom", []), "at least one stream"),
        (("county-b", "乙县", "", "courtroom", ["cam-b"]), "name"),
        (("county-b", "乙县", "讯问室", "courtroom", ["cam b"]), "stream id"),
    ]:
        with pytest.raises(StationError, match=why):
            stations.add(*args)
    # Moving a stream between its own station's list is fine.
    stations.update("county-a-court", "甲县", "第一法庭", "courtroom", ["cam-a2", "cam-a"])
    assert stations.by_stream()["cam-a"].id == "county-a-court"
    assert stations.delete("county-a-court") and not stations.delete("county-a-court")
    assert stations.by_stream() == {}


def test_presence_follows_the_streams_and_goes_stale_without_heartbeats(
    catalog: Catalog,
) -> None:
    stations = Stations(catalog.engine)
    stations.add("a", "甲县", "第一法庭", "courtroom", ["a1", "a2"])
    stations.add("b", "乙县", "讯问室", "interrogation_room", ["b1"])
    t0 = datetime.now(UTC)
    assert [s.id for s in stations.sync_presence({"a1"}, "n1", t0)] == ["a"]
    assert stations.sync_presence({"a1", "a2"}, "n1", t0 + timedelta(seconds=1)) == []
    changed = stations.sync_presence({"b1"}, "n1", t0 + timedelta(seconds=2))
    assert {s.id: s.online for s in changed} == {"a": False, "b": True}
    by_id = {s.id: s for s in stations.all(t0 + timedelta(seconds=3))}
    assert not by_id["a"].online and by_id["b"].online
    assert by_id["a"].last_seen == t0 + timedelta(seconds=2)
    # Another node's view is left alone; a node that stops syncing goes stale.
    assert stations.sync_presence(set(), "n2", t0 + timedelta(seconds=4)) == []
    later = t0 + timedelta(seconds=2) + STALE_AFTER + timedelta(seconds=1)
    assert not {s.id: s for s in stations.all(later)}["b"].online


def test_the_limiter_throttles_the_guessing_pair_with_a_growing_wait() -> None:
    now = [1000.0]
    limiter = LoginLimiter(
        per_pair=5, window=300, backoff=30, backoff_max=100, clock=lambda: now[0]
    )
    for _ in range(4):
        assert limiter.retry_after("10.0.0.1", "li") == 0
        assert limiter.failed("10.0.0.1", "li").wait == 0
    assert limiter.failed("10.0.0.1", "li").wait == 30
    assert limiter.retry_after("10.0.0.1", "LI ") == 30  # the same account, however typed
    # The owner, elsewhere, is not throttled; nor is another account from the guesser.
    assert limiter.retry_after("10.0.0.2", "li") == 0
    assert limiter.retry_after("10.0.0.1", "wang") == 0
    waits = []
    for _ in range(4):
        now[0] += limiter.retry_after("10.0.0.1", "li")
        assert limiter.retry_after("10.0.0.1", "li") == 0
        waits.append(limiter.failed("10.0.0.1", "li").wait)
    assert waits == [60, 100, 100, 100]  # doubling, capped
    # Forgotten once the window has passed after the longest wait; a success clears it.
    now[0] += 100 + 300
    assert limiter.retry_after("10.0.0.1", "li") == 0
    assert limiter.failed("10.0.0.1", "li").wait == 0
    limiter.succeeded("10.0.0.1", "li")
    for _ in range(4):
        limiter.failed("10.0.0.1", "li")
    assert limiter.retry_after("10.0.0.1", "li") == 0


def test_a_spraying_address_may_fail_once_per_account_but_a_right_password_gets_through() -> None:
    now = [1000.0]
    limiter = LoginLimiter(per_pair=5, per_address=8, window=300, clock=lambda: now[0])
    for name in ("a", "b", "c", "d"):
        for _ in range(2):
            limiter.failed("10.0.0.9", name)
    assert limiter.spraying("10.0.0.9") and not limiter.spraying("10.0.0.8")
    # Accounts it has not failed on are still checked (retry_after 0): a colleague behind
    # the same NAT with the right password gets in. One failure, and that pair waits.
    assert limiter.retry_after("10.0.0.9", "zhao") == 0
    verdict = limiter.failed("10.0.0.9", "zhao")
    assert verdict.spraying and verdict.wait == 30
    assert limiter.retry_after("10.0.0.9", "a") > 0  # failed twice: now past the limit of 1
    now[0] += 301
    assert not limiter.spraying("10.0.0.9")


def test_an_account_failing_from_many_addresses_raises_one_alarm_per_window() -> None:
    now = [1000.0]
    limiter = LoginLimiter(attack=6, window=300, clock=lambda: now[0])
    verdicts = [limiter.failed(f"10.0.1.{i % 3}", "auditor") for i in range(12)]
    alarms = [v.attack for v in verdicts if v.attack is not None]
    assert alarms == [Attack(failures=6, addresses=3, window=300)]
    assert verdicts[5].attack is not None
    assert limiter.retry_after("10.0.2.1", "auditor") == 0  # the owner, from a clean address
    now[0] += 301
    assert limiter.failed("10.0.1.1", "auditor").attack is None  # one failure in the window
    for _ in range(5):
        last = limiter.failed("10.0.1.2", "auditor")
    assert last.attack is not None


def test_user_and_station_commands(tmp_path: Path) -> None:
    data = tmp_path / "var"
    done = cli(
        data,
        "user",
        "add",
        "zhang.san",
        "--role",
        "commander",
        "--display-name",
        "张三",
        stdin=PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert "zhang.san (commander) added" in done.stdout
    again = cli(data, "user", "add", "zhang.san", "--role", "auditor", stdin=PASSWORD + "\n")
    assert again.returncode == 2 and "exists already" in again.stderr
    short = cli(data, "user", "add", "li", "--role", "auditor", stdin="short\n")
    assert short.returncode == 2 and "at least 10" in short.stderr
    listed = cli(data, "user", "list")
    assert "zhang.san" in listed.stdout and "commander" in listed.stdout and "张三" in listed.stdout
    assert cli(data, "user", "disable", "zhang.san").returncode == 0
    assert "disabled" in cli(data, "user", "list").stdout
    added = cli(
        data,
        "station",
        "add",
        "county-a-court",
        "--county",
        "甲县",
        "--name",
        "人民法院 第一法庭",
        "--kind",
        "courtroom",
        "--stream",
        "cam-a",
        "--stream",
        "cam-a2",
    )
    assert added.returncode == 0, added.stderr
    stations = cli(data, "station", "list").stdout
    assert "county-a-court" in stations and "甲县 人民法院 第一法庭" in stations
    assert "cam-a,cam-a2" in stations and "offline" in stations
    bad = cli(
        data,
        "station",
        "add",
        "x",
        "--county",
        "c",
        "--name",
        "n",
        "--kind",
        "courtroom",
        "--stream",
        "cam-a",
    )
    assert bad.returncode == 2 and "belongs to station" in bad.stderr
    catalog = Catalog.open(CatalogSettings(data_dir=data))
    try:
        user = Users(catalog.engine).authenticate("zhang.san", PASSWORD)
        assert user == (None, "account disabled")
        rows = catalog.audit_rows()
        assert [r["action"] for r in rows] == ["user.add", "user.disable", "station.add"]
        assert all(r["actor"].startswith("cli:") for r in rows)
    finally:
        catalog.dispose()


def test_the_demo_creates_its_accounts_once_and_keeps_the_passwords_private(
    catalog: Catalog, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    users = Users(catalog.engine)
    first = ensure_accounts(users, data)
    assert [(n, r) for n, r, _ in first] == [
        ("commander", "commander"),
        ("prosecutor", "prosecutor"),
        ("observer", "observer"),
        ("clerk", "clerk"),
        ("receptionist", "receptionist"),
        ("auditor", "auditor"),
        ("admin", "admin"),
    ]
    prosecutor = users.get("prosecutor")
    assert prosecutor is not None and prosecutor.county == "甲县"
    path = data / ACCOUNTS_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for name, _, password in first:
        assert users.authenticate(name, password)[0] is not None
        assert password in path.read_text()
    assert ensure_accounts(users, data) == first  # not created twice; same passwords
    stations = Stations(catalog.engine)
    ensure_stations(stations, 3)
    ensure_stations(stations, 3)
    names = [(s.county, s.kind) for s in stations.all()]
    assert sorted(names) == [
        ("丙县", "reception_room"),
        ("乙县", "interrogation_room"),
        ("甲县", "courtroom"),
    ]
    court = stations.get("county-a-court")
    assert court is not None and len(court.streams) == 3  # a three-camera courtroom
    hearings = Hearings(catalog.engine)
    session = ensure_session(hearings, stations)
    assert session is not None and session.state == "scheduled"
    assert session.part_of("prosecutor") == "prosecutor" and session.streams == court.streams
    assert ensure_session(hearings, stations) == session  # one, not one per run
    interrogation = ensure_interrogation(hearings, stations)
    assert interrogation is not None and interrogation.kind == "interrogation"
    assert interrogation.part_of("clerk") == "clerk"
    assert ensure_interrogation(hearings, stations) == interrogation
