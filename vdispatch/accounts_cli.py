"""`vdispatch user …` and `vdispatch station …`: console accounts and the station registry
from the command line. Each opens (and migrates) the catalog database itself; every
change is audited with the actor cli:USER@HOST."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TypeVar

from signaling import AccountError, StationError, Stations, Users

from .catalog_cli import CatalogUnavailable, cli_actor, open_catalog
from .settings import Settings

T = TypeVar("T")


class PasswordMismatch(Exception):
    pass


def read_password(prompt: str = "Password: ") -> str:
    """Twice with getpass on a terminal; otherwise the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != first:
            raise PasswordMismatch("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _with(settings: Settings, command: str, work: Callable[[Users, Stations], T]) -> T:
    with open_catalog(settings, command) as catalog:
        return work(Users(catalog.engine), Stations(catalog.engine))


def _fail(command: str, message: object, status: int = 1) -> int:
    print(f"vdispatch {command}: {message}", file=sys.stderr)
    return status


def user_add(
    settings: Settings, name: str, role: str, display_name: str | None, county: str | None = None
) -> int:
    try:
        password = read_password(f"Password for {name}: ")
        user = _with(
            settings,
            "user add",
            lambda users, _: users.add(
                name, role, password, display_name, actor=cli_actor(), county=county
            ),
        )
    except (AccountError, PasswordMismatch) as exc:
        return _fail("user add", exc, 2)
    except CatalogUnavailable as exc:
        return _fail("user add", exc)
    scope = f", county {user.county}" if user.county else ""
    print(f"user {user.name} ({user.role}{scope}) added")
    return 0


def user_list(settings: Settings) -> int:
    try:
        users = _with(settings, "user list", lambda users, _: users.all())
    except CatalogUnavailable as exc:
        return _fail("user list", exc)
    for u in users:
        state = "disabled" if u.disabled else "active"
        created = u.created_at.strftime("%Y-%m-%d")
        county = u.county or "-"
        print(f"{u.name:<24} {u.role:<12} {county:<12} {state:<8} {created}  {u.display_name}")
    return 0


def user_disable(settings: Settings, name: str, disabled: bool) -> int:
    word = "disable" if disabled else "enable"
    try:
        changed = _with(
            settings,
            f"user {word}",
            lambda users, _: users.set_disabled(name, disabled, actor=cli_actor()),
        )
    except AccountError as exc:
        return _fail(f"user {word}", exc, 2)
    except CatalogUnavailable as exc:
        return _fail(f"user {word}", exc)
    state = "disabled (logged out everywhere)" if disabled else "enabled"
    print(f"user {name} {state}" if changed else f"user {name} was {word}d already")
    return 0


def user_password(settings: Settings, name: str) -> int:
    try:
        password = read_password(f"New password for {name}: ")
        _with(
            settings,
            "user passwd",
            lambda users, _: users.set_password(name, password, actor=cli_actor()),
        )
    except (AccountError, PasswordMismatch) as exc:
        return _fail("user passwd", exc, 2)
    except CatalogUnavailable as exc:
        return _fail("user passwd", exc)
    print(f"password of {name} changed (its other logins ended)")
    return 0


def station_add(
    settings: Settings, station_id: str, county: str, name: str, kind: str, streams: list[str]
) -> int:
    try:
        station = _with(
            settings,
            "station add",
            lambda _, stations: stations.add(
                station_id, county, name, kind, streams, actor=cli_actor()
            ),
        )
    except StationError as exc:
        return _fail("station add", exc, 2)
    except CatalogUnavailable as exc:
        return _fail("station add", exc)
    print(f"station {station.id} added: {station.county} {station.name} ({station.kind})")
    return 0


def station_list(settings: Settings) -> int:
    try:
        stations = _with(settings, "station list", lambda _, stations: stations.all())
    except CatalogUnavailable as exc:
        return _fail("station list", exc)
    for s in stations:
        presence = "online" if s.online else "offline"
        seen = s.last_seen.strftime("%Y-%m-%d %H:%M:%S") if s.last_seen else "never"
        streams = ",".join(s.streams)
        print(f"{s.id:<24} {s.kind:<18} {presence:<7} {seen:<19}  {s.county} {s.name}  [{streams}]")
    return 0


def station_remove(settings: Settings, station_id: str) -> int:
    try:
        removed = _with(
            settings,
            "station remove",
            lambda _, stations: stations.delete(station_id, actor=cli_actor()),
        )
    except CatalogUnavailable as exc:
        return _fail("station remove", exc)
    if not removed:
        return _fail("station remove", f"no station {station_id!r}", 2)
    print(f"station {station_id} removed")
    return 0
