"""The one table of roles and permissions (signaling/policy.py) and what derives from it:
route guards, the navigation bar and home pages, the event socket's topics, token grants
and the CLI's --role choices. No node, no database."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from typing import cast

import pytest
from aiohttp import web

import command_console
import signaling
from command_console.i18n import MESSAGES
from command_console.render import LANDING, NAV, TEMPLATES, can_for, home, nav
from signaling import User, policy
from signaling.policy import (
    GRANTS,
    TOKEN_GRANTS,
    TOPICS,
    Permission,
    Role,
    TokenRole,
    allows,
    roles_with,
    token_roles_with,
    topics,
)
from vdispatch.cli import _parser

P = Permission


def _app() -> web.Application:
    app = web.Application()
    signaling.add_routes(app)
    command_console.add_routes(app)
    return app


def _guards(app: web.Application) -> dict[tuple[str, str], Permission]:
    """(method, path) -> the permission its handler requires, for every guarded route."""
    found = {}
    for route in app.router.routes():
        permission = getattr(route.handler, "required_permission", None)
        if permission is not None:
            assert route.resource is not None
            found[(route.method, route.resource.canonical)] = permission
    return found


def _choices(parser: argparse.ArgumentParser, *commands: str) -> list[str]:
    for command in commands:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[command]
    [role] = [a for a in parser._actions if a.dest == "role"]
    return list(role.choices or [])


# ---------------------------------------------------------------- the table


def test_every_role_has_its_row_and_its_label_in_both_languages() -> None:
    assert set(GRANTS) == set(Role) and set(TOKEN_GRANTS) == set(TokenRole)
    for role in Role:
        zh, en = MESSAGES[f"role.{role}"]
        assert zh and en


def test_every_permission_is_held_by_some_role_or_token() -> None:
    for permission in Permission:
        assert roles_with(permission) or token_roles_with(permission), permission


def test_the_table_says_what_docs_architecture_says() -> None:
    commander, observer, auditor, admin = Role.COMMANDER, Role.OBSERVER, Role.AUDITOR, Role.ADMIN
    prosecutor, clerk, receptionist = Role.PROSECUTOR, Role.CLERK, Role.RECEPTIONIST
    assert roles_with(P.LIVE_VIEW) == (commander, observer)
    assert roles_with(P.STREAM_SUBSCRIBE) == (commander, observer)
    assert roles_with(P.STREAM_PUBLISH) == ()  # station tokens only
    assert roles_with(P.ARCHIVE_READ) == (auditor,)
    assert roles_with(P.RECORDING_EXPORT) == (auditor,)
    assert roles_with(P.AUDIT_READ) == (auditor, admin)
    assert roles_with(P.STATIONS_READ) == (commander, observer, auditor, admin)
    assert roles_with(P.SESSIONS_CREATE) == (commander, prosecutor)
    assert roles_with(P.SESSIONS_READ_ALL) == (commander,)
    assert roles_with(P.SESSIONS_JOIN) == (commander, observer, prosecutor, clerk, receptionist)
    assert roles_with(P.STATIONS_MANAGE) == roles_with(P.USERS_MANAGE) == (admin,)
    assert roles_with(P.DISPATCH_MANAGE) == roles_with(P.SCREEN_VIEW) == (commander,)
    assert roles_with(P.EVENTS_DISPATCH) == (commander,)
    assert roles_with(P.STREAM_RECEIVE) == ()  # routed to tokens only: screens, stations
    assert token_roles_with(P.STREAM_RECEIVE) == (TokenRole.STATION, TokenRole.SCREEN)
    assert token_roles_with(P.SCREEN_VIEW) == (TokenRole.SCREEN,)
    assert token_roles_with(P.STREAM_PUBLISH) == (TokenRole.STATION,)
    assert token_roles_with(P.STREAM_SUBSCRIBE) == (TokenRole.VIEWER,)
    assert token_roles_with(P.ARCHIVE_READ) == token_roles_with(P.AUDIT_READ)
    assert token_roles_with(P.AUDIT_READ) == (TokenRole.AUDITOR,)
    # Petition reception: petitioners' personal data for receptionists and auditors only.
    assert roles_with(P.RECEPTION_QUEUE) == (receptionist,)
    assert roles_with(P.RECEPTION_RECORDS) == (auditor,)
    assert roles_with(P.KIOSK_MANAGE) == (commander, admin)
    assert roles_with(P.RECEPTION_KIOSK) == ()  # a county kiosk's token only
    assert token_roles_with(P.RECEPTION_KIOSK) == (TokenRole.KIOSK,)
    assert TOKEN_GRANTS[TokenRole.KIOSK] == {P.RECEPTION_KIOSK}  # and nothing else
    # Evidence copies: auditors and admins read every one's state; the MP4 is content.
    assert roles_with(P.COPY_READ) == roles_with(P.COPY_RENDER) == (auditor, admin)
    assert set(roles_with(P.COPY_READ)) & set(roles_with(P.ARCHIVE_READ)) == {auditor}
    # The cluster's nodes and load, and its alarm: who runs the centre.
    assert roles_with(P.NODES_READ) == roles_with(P.EVENTS_CLUSTER) == (commander, admin)


def test_the_event_socket_forwards_the_topics_each_role_may_see() -> None:
    assert set(TOPICS) == {p for p in Permission if p.startswith("events.")}
    sessions = ("session.", "direction.", "comment.")  # each event checked for its audience
    assert topics(Role.COMMANDER) == (
        "stream.",
        "station.",
        "recording.",
        *sessions,
        "dispatch.",
        "cluster.",  # the cluster alarm (this node lost Redis)
        "catalog.alarm",  # ... or the catalog's database
    )
    assert topics(Role.OBSERVER) == ("stream.", "station.", *sessions)
    assert topics(Role.PROSECUTOR) == topics(Role.CLERK) == sessions
    # Evidence copies' progress (session.copy), checked for its audience as well.
    assert topics(Role.AUDITOR) == ("station.", "recording.", "session.copy")  # never stream.*
    assert topics(Role.ADMIN) == (
        "stream.",
        "station.",
        "session.copy",
        "cluster.",
        "catalog.alarm",
    )
    assert topics(Role.RECEPTIONIST) == (*sessions, "reception.")


def test_tokens_name_their_streams_unless_they_cover_every_one() -> None:
    assert policy.per_stream(TokenRole.STATION) and policy.per_stream(TokenRole.VIEWER)
    assert not policy.per_stream(TokenRole.AUDITOR) and not policy.per_stream(TokenRole.SCREEN)
    assert policy.names_screen(TokenRole.SCREEN) and not policy.names_screen(TokenRole.STATION)
    assert policy.names_station(TokenRole.KIOSK) and not policy.names_station(TokenRole.STATION)
    assert not policy.per_stream(TokenRole.KIOSK)
    assert not policy.may_cover_every_stream(TokenRole.STATION)
    assert policy.may_cover_every_stream(TokenRole.VIEWER)


def test_names_parse_to_roles_and_anything_else_to_none() -> None:
    assert policy.parse_role("auditor") is Role.AUDITOR
    assert policy.parse_token_role("auditor") is TokenRole.AUDITOR
    assert policy.parse_role("station") is None and policy.parse_token_role("admin") is None
    assert policy.parse_role(None) is None and policy.parse_token_role(["viewer"]) is None


# ---------------------------------------------------------------- what derives from it


def test_each_nav_link_needs_the_permission_its_handler_requires() -> None:
    guards = _guards(_app())
    for href, _, permission in NAV:
        assert guards[("GET", href)] == permission, href


def test_every_guarded_route_needs_a_permission_some_role_holds() -> None:
    guards = _guards(_app())
    assert len(guards) > 15
    for route, permission in guards.items():
        assert roles_with(permission), route


def test_home_pages_and_the_nav_bar_follow_the_table() -> None:
    assert {role: home(role) for role in Role} == {
        Role.COMMANDER: "/",
        Role.OBSERVER: "/",
        Role.AUDITOR: "/archive",
        Role.ADMIN: "/admin/stations",
        Role.PROSECUTOR: "/sessions",
        Role.CLERK: "/sessions",
        Role.RECEPTIONIST: "/reception",
    }
    assert [href for href, _ in nav(Role.AUDITOR)] == ["/archive", "/audit"]
    assert [href for href, _ in nav(Role.ADMIN)] == [
        "/audit",
        "/admin/stations",
        "/admin/users",
        "/nodes",
    ]
    assert set(LANDING) == {href for href, _, _ in NAV}
    for role in Role:
        assert home(role) in {href for href, _ in nav(role)}, role


@pytest.mark.parametrize(
    ("role", "links"),
    [
        (Role.AUDITOR, ["/archive", "/archive/sessions", "/archive/timeline", "/audit"]),
        (Role.ADMIN, ["/audit"]),
    ],
)
def test_templates_show_links_by_permission(role: Role, links: list[str]) -> None:
    user = User(1, "x", role, "X", False, datetime.now(UTC))
    html = TEMPLATES.get_template("_archive_nav.html").render(
        can=can_for(user), path="/audit", t=lambda key: key
    )
    assert re.findall(r'<a href="([^"]+)"', html) == links


def test_a_new_row_in_the_table_is_all_guards_nav_and_topics_need(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clerk = cast(Role, "archivist")  # a role the table does not have yet
    table = cast(dict[Role, frozenset[Permission]], GRANTS)
    monkeypatch.setitem(table, clerk, frozenset({P.ARCHIVE_READ, P.EVENTS_RECORDING}))
    assert allows(clerk, P.ARCHIVE_READ) and not allows(clerk, P.RECORDING_EXPORT)
    assert clerk in roles_with(P.ARCHIVE_READ)
    assert nav(clerk) == [("/archive", "nav.archive")]
    assert home(clerk) == "/archive"
    assert topics(clerk) == ("recording.",)


def test_the_cli_role_choices_are_the_tables_roles() -> None:
    parser = _parser()
    assert _choices(parser, "user", "add") == [role.value for role in Role]
    assert _choices(parser, "token") == [role.value for role in TokenRole]
    for role in Role:
        assert parser.parse_args(["user", "add", "x", "--role", role]).role == role
    with pytest.raises(SystemExit):
        parser.parse_args(["user", "add", "x", "--role", "station"])
