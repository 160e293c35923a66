"""Video dispatch on a real node over HTTP: only commanders route sources to screens, save
and recall layouts; bad requests say why; every change is audited and told on the event
socket; a screen's link shows that screen only while it is its current link; a county
station's token receives its live session's city picture and what is dispatched to it,
and nothing else (real aiortc publishers and viewers)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from camera_agents import WhipPublisher
from camera_agents.testsrc import PatternTrack
from signaling import ARCHIVE_KEY, USERS_KEY

from .conftest import Node
from .console import PASSWORD, Console, add_station, add_user, console, logged_in
from .peers import Viewer, whip_or_whep

ROLES = ("commander", "observer", "auditor", "admin", "prosecutor", "clerk")
SDP = "v=0\r\n"  # refusals come before the body is read: any offer will do


async def _call(c: Console, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    kwargs = {"data": json.dumps(body)} if body is not None else {}
    answer = await c.request(method, path, **kwargs)
    try:
        return answer.status, json.loads(answer.text)
    except json.JSONDecodeError:
        return answer.status, answer.text


async def _audit(node: Node, action: str) -> list[dict[str, Any]]:
    catalog = node.app[ARCHIVE_KEY].catalog
    return await asyncio.to_thread(lambda: catalog.audit_rows(action=action))


async def _next(ws: aiohttp.ClientWebSocketResponse, topic: str, timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        assert msg.type == WSMsgType.TEXT, msg
        message = msg.json()
        if message["topic"] == topic:
            return message


async def _whep_status(node: Node, stream: str, token: str) -> tuple[int, str]:
    status, body, _ = await whip_or_whep(node.whep(stream), token, SDP)
    return status, body


class Publishers:
    """Real WHIP publishers (test pattern), stopped when the test ends."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.live: dict[str, WhipPublisher] = {}

    async def start(self, stream: str, token: str | None = None) -> None:
        track = PatternTrack(stream, fps=15, width=320, height=180)
        pub = WhipPublisher(self.node.whip(stream), token or self.node.token(stream), [track])
        await pub.start()
        self.live[stream] = pub

    async def close(self) -> None:
        for pub in self.live.values():
            await pub.stop()


@pytest.fixture
async def publishers(node: Node) -> AsyncIterator[Publishers]:
    p = Publishers(node)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def accounts(node: Node) -> Node:
    for role in ROLES:
        await add_user(node.app, role, role)
    await add_station(node.app, "court-a", ["court-a-wide", "court-a-judge"], "甲县")
    await add_station(node.app, "court-b", ["court-b-wide"], "乙县", "人民法院 第二法庭")
    return node


# ------------------------------------------------------------------ who may


ENDPOINTS = [
    ("GET", "/api/dispatch/screens", None),
    ("POST", "/api/dispatch/screens", {"name": "hall", "title": "指挥大厅", "kind": "wall"}),
    ("GET", "/api/dispatch/screens/hall", None),
    ("PUT", "/api/dispatch/screens/hall/layout", {"grid": 4, "sources": ["court-a-wide"]}),
    ("PUT", "/api/dispatch/screens/hall", {"title": "指挥大厅主屏"}),
    ("POST", "/api/dispatch/screens/hall/link", {"days": 7}),
    ("DELETE", "/api/dispatch/screens/hall/link", None),
    ("POST", "/api/dispatch/layouts", {"name": "morning"}),
    ("GET", "/api/dispatch/layouts", None),
    ("POST", "/api/dispatch/layouts/morning/recall", None),
    ("DELETE", "/api/dispatch/layouts/morning", None),
    ("DELETE", "/api/dispatch/screens/hall", None),
]


async def test_only_commanders_dispatch(accounts: Node) -> None:
    async with console(accounts.url) as anonymous:
        for method, path, body in ENDPOINTS:
            assert (await _call(anonymous, method, path, body))[0] == 401, path
    for role in ROLES[1:]:
        async with logged_in(accounts.url, role) as c:
            for method, path, body in ENDPOINTS:
                status, text = await _call(c, method, path, body)
                assert status == 403, (role, method, path, status)
                assert f"the {role} role may not do this (needs commander)" in text
            assert (await c.get("/dispatch")).status == 403
    async with logged_in(accounts.url, "commander") as c:
        for method, path, body in ENDPOINTS:
            status, answer = await _call(c, method, path, body)
            assert status in (200, 201), (method, path, status, answer)
        page = await c.get("/dispatch")
        assert page.status == 200 and "集中调度" in page.text and 'href="/dispatch"' in page.text
    # Nothing of this reached the audit log from the refused roles.
    rows = await _audit(accounts, "dispatch.screen.add")
    assert [r["actor"] for r in rows] == ["user:commander"]


async def test_bad_requests_are_refused_with_the_reason(accounts: Node) -> None:
    async with logged_in(accounts.url, "commander") as c:
        wall = {"name": "hall", "title": "指挥大厅", "kind": "wall"}
        assert (await _call(c, "POST", "/api/dispatch/screens", wall))[0] == 201
        for body, reason in [
            ({**wall, "name": "Hall!"}, "name: [a-z0-9]"),
            ({**wall, "name": "hall"}, "exists already"),
            ({**wall, "name": "x", "kind": "tv"}, "kind: one of wall, station"),
            ({**wall, "name": "x", "title": "  "}, "title: 1 to 128"),
            ({**wall, "name": "x", "station": "court-a"}, "only a station screen"),
            ({**wall, "name": "x", "kind": "station"}, "station: the id of a registered"),
            ({**wall, "name": "x", "kind": "station", "station": "nowhere"}, "'nowhere'"),
            ([1, 2], "the body must be a JSON object"),
        ]:
            status, text = await _call(c, "POST", "/api/dispatch/screens", body)
            assert status == (409 if "exists" in reason else 400), (body, status, text)
            assert reason in text, (body, text)
        layout = "/api/dispatch/screens/hall/layout"
        for body, reason in [
            ({"grid": 6, "sources": []}, "layout.grid: one of 1, 4, 9, 16"),
            ({"grid": True, "sources": []}, "layout.grid: one of"),
            ({"grid": 4, "sources": "court-a-wide"}, "a list of stream ids"),
            ({"grid": 1, "sources": ["court-a-wide", "court-b-wide"]}, "at most 1 for a grid"),
            ({"grid": 4, "sources": ["Court A"]}, "is not a stream id"),
            ({"grid": 4, "sources": ["court-a-wide"] * 2}, "listed twice"),
            ({"grid": 4, "sources": ["s20261202-abcdef-talkback"]}, "private channel"),
            ({"grid": 4, "sources": ["s20261202-abcdef-reply"]}, "private channel"),
        ]:
            status, text = await _call(c, "PUT", layout, body)
            assert status == 400 and reason in text, (body, status, text)
        big = {"grid": 4, "sources": [], "padding": "x" * (65 * 1024)}
        status, text = await _call(c, "PUT", layout, big)
        assert status == 413 and "over 64 KiB" in text
        status, text = await _call(c, "PUT", "/api/dispatch/screens/nope/layout", {"grid": 1})
        assert status == 404 and "no screen 'nope'" in text
        status, text = await _call(
            c, "POST", "/api/dispatch/layouts", {"name": "x", "screens": ["nope"]}
        )
        assert status == 400 and "no screen nope" in text
        status, text = await _call(c, "POST", "/api/dispatch/layouts/nope/recall")
        assert status == 404 and "no saved layout" in text
        status, text = await _call(c, "POST", "/api/dispatch/screens/hall/link", {"days": 0})
        assert status == 400 and "days: a whole number" in text
        # Without the CSRF header, no change at all.
        answer = await c.request(
            "PUT", layout, data=json.dumps({"grid": 1, "sources": []}), csrf=False
        )
        assert answer.status == 403 and "CSRF" in answer.text
    assert len(await _audit(accounts, "dispatch.screen.set")) == 0


async def test_changes_are_audited_then_told_and_layouts_recalled_with_one_request(
    accounts: Node,
) -> None:
    node = accounts
    async with (
        logged_in(node.url, "commander") as c,
        logged_in(node.url, "observer") as o,
        c.http.ws_connect(f"{node.url}/ws/events") as ws,
        o.http.ws_connect(f"{node.url}/ws/events") as observer_ws,
    ):
        await _next(ws, "hello")
        await _next(observer_ws, "hello")
        hall = {"name": "hall", "title": "指挥大厅", "kind": "wall"}
        county = {
            "name": "court-a-tv",
            "title": "甲县法庭",
            "kind": "station",
            "station": "court-a",
        }
        for body in (hall, county):
            assert (await _call(c, "POST", "/api/dispatch/screens", body))[0] == 201
        first = {"grid": 4, "sources": ["court-a-wide", "court-b-wide"]}
        status, screen = await _call(c, "PUT", "/api/dispatch/screens/hall/layout", first)
        assert status == 200 and screen["grid"] == 4 and screen["updated_by"] == "user:commander"
        told = await _next(ws, "dispatch.screen")
        while told["data"]["screen"]["name"] != "hall" or not told["data"]["screen"]["sources"]:
            told = await _next(ws, "dispatch.screen")
        assert told["data"]["screen"]["sources"] == first["sources"]
        city = {"grid": 1, "sources": ["court-b-wide"]}
        assert (await _call(c, "PUT", "/api/dispatch/screens/court-a-tv/layout", city))[0] == 200

        status, saved = await _call(c, "POST", "/api/dispatch/layouts", {"name": "morning"})
        assert status == 201 and saved["screens"]["hall"] == first, saved
        await _next(ws, "dispatch.layout")
        other = {"grid": 9, "sources": ["court-a-judge"]}
        assert (await _call(c, "PUT", "/api/dispatch/screens/hall/layout", other))[0] == 200
        status, recalled = await _call(c, "POST", "/api/dispatch/layouts/morning/recall")
        assert status == 200 and recalled["missing"] == []
        assert [s["name"] for s in recalled["changed"]] == ["hall"]  # court-a-tv unchanged
        screens = {s["name"]: s for s in (await c.json("/api/dispatch/screens"))["screens"]}
        assert screens["hall"]["grid"] == 4 and screens["hall"]["sources"] == first["sources"]
        assert list(screens) == ["hall", "court-a-tv"]  # walls first
        # The observer's socket carries no dispatch event.
        with pytest.raises(TimeoutError):
            await _next(observer_ws, "dispatch.screen", timeout=0.5)

    sets = await _audit(node, "dispatch.screen.set")
    assert [(r["target"], r["detail"]["grid"]) for r in sets] == [
        ("screen:hall", 4),
        ("screen:court-a-tv", 1),
        ("screen:hall", 9),
    ]
    assert sets[2]["detail"]["before"] == first
    (recall,) = await _audit(node, "dispatch.layout.recall")
    assert recall["target"] == "layout:morning" and recall["detail"]["changed"] == ["hall"]
    assert recall["actor"] == "user:commander"
    (save,) = await _audit(node, "dispatch.layout.save")
    assert save["detail"]["screens"]["court-a-tv"] == city
    adds = await _audit(node, "dispatch.screen.add")
    assert adds[1]["detail"] == {"title": "甲县法庭", "kind": "station", "station": "court-a"}


# ------------------------------------------------------------------ screen links


async def test_a_screen_link_shows_its_screen_only_while_it_is_the_current_link(
    accounts: Node, publishers: Publishers
) -> None:
    node = accounts
    for stream in ("court-a-wide", "court-b-wide"):
        await publishers.start(stream)
    async with logged_in(node.url, "commander") as c:
        for name in ("hall", "side"):
            body = {"name": name, "title": name, "kind": "wall"}
            assert (await _call(c, "POST", "/api/dispatch/screens", body))[0] == 201
        layout = {"grid": 1, "sources": ["court-a-wide"]}
        assert (await _call(c, "PUT", "/api/dispatch/screens/hall/layout", layout))[0] == 200
        status, link = await _call(c, "POST", "/api/dispatch/screens/hall/link", {})
        assert status == 201 and link["url"].startswith("/screen/hall?token=")
        token = link["token"]

        # The stream on the screen plays; another does not; the screen page opens.
        viewer = Viewer(node.whep("court-a-wide"), token)
        try:
            await viewer.start()
            await viewer.wait_frames(10)
        finally:
            await viewer.close()
        status, text = await _whep_status(node, "court-b-wide", token)
        assert status == 403 and "this screen token may not subscribe" in text
        async with console(node.url) as wall_pc:
            page = await wall_pc.get(link["url"])
            assert page.status == 200 and 'data-feed="/ws/screens/hall"' in page.text
            assert page.headers["Referrer-Policy"] == "no-referrer"
            other = await wall_pc.get(f"/screen/side?token={token}")
            assert other.status == 403 and "此链接不能打开该画面" in other.text
            async with wall_pc.http.ws_connect(f"{node.url}/ws/screens/hall?token={token}") as ws:
                state = await _next(ws, "dispatch.screen")
                assert state["data"]["grid"] == 1
                assert state["data"]["tiles"] == [
                    {
                        "stream": "court-a-wide",
                        "source": "dispatch",
                        "label": "人民法院 第一法庭",
                        "live": True,
                    }
                ]
                # Off the screen: refused from now on.
                moved = {"grid": 4, "sources": ["court-b-wide"]}
                assert (await _call(c, "PUT", "/api/dispatch/screens/hall/layout", moved))[0] == 200
                state = await _next(ws, "dispatch.screen")
                assert [t["stream"] for t in state["data"]["tiles"]] == ["court-b-wide"]
                assert (await _whep_status(node, "court-a-wide", token))[0] == 403
                # A new link: the old one stops at once, its socket closes (4404).
                status, newer = await _call(c, "POST", "/api/dispatch/screens/hall/link", {})
                assert status == 201
                closed = await ws.receive(timeout=5)
                assert closed.type == WSMsgType.CLOSE and closed.data == 4404
            assert (await _whep_status(node, "court-b-wide", token))[0] == 403
            assert (await wall_pc.get(link["url"])).status == 401
            assert (await _whep_status(node, "court-b-wide", newer["token"]))[0] != 403
            # Revoked: nothing.
            assert (await _call(c, "DELETE", "/api/dispatch/screens/hall/link"))[0] == 200
            assert (await wall_pc.get(newer["url"])).status == 401
            assert (await _whep_status(node, "court-b-wide", newer["token"]))[0] == 403
        # A console login holding screen.view opens it too; others may not.
        assert (await c.get("/screen/hall")).status == 200
    async with logged_in(node.url, "observer") as o:
        assert (await o.get("/screen/hall")).status == 403
    async with console(node.url) as nobody:
        answer = await nobody.get("/screen/hall")
        assert answer.status == 302 and answer.location == "/login?next=/screen/hall"
    actions = [r["action"] for r in await _audit(node, "dispatch.screen.link")]
    assert actions == ["dispatch.screen.link"] * 2
    assert len(await _audit(node, "dispatch.screen.unlink")) == 1


async def test_screen_tokens_come_from_the_console_not_the_cli(
    accounts: Node,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from vdispatch.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["token", "--role", "screen"]) == 2
    assert "/dispatch" in capsys.readouterr().err
    with pytest.raises(ValueError, match="names its screen"):
        accounts.tokens.mint([], "screen", 60)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="names its screen"):
        accounts.tokens.mint(["court-a-wide"], "station", 60, screen="hall")  # type: ignore[arg-type]


# ------------------------------------------------------------------ county stations


async def test_a_station_token_receives_its_live_sessions_city_picture_and_nothing_else(
    accounts: Node, publishers: Publishers
) -> None:
    node = accounts
    await add_user(node.app, "director", "commander")
    await asyncio.to_thread(
        node.app[USERS_KEY].add, "pros-a", "prosecutor", PASSWORD, county="甲县"
    )
    station_a = node.tokens.mint(["court-a-wide", "court-a-judge"], "station", 600)  # type: ignore[arg-type]
    station_b = node.tokens.mint(["court-b-wide"], "station", 600)  # type: ignore[arg-type]
    await publishers.start("court-a-wide", station_a)
    await publishers.start("court-b-wide", station_b)
    async with AsyncExitStack() as stack:
        d = await stack.enter_async_context(logged_in(node.url, "director"))
        body = {
            "kind": "direction",
            "station": "court-a",
            "title": "张某案庭审",
            "case_no": "甲检刑诉〔2026〕12号",
            "participants": [{"user": "pros-a", "part": "prosecutor"}],
        }
        status, session = await _call(d, "POST", "/api/sessions", body)
        assert status == 201, session
        sid = session["id"]
        city, talkback, reply = (f"{sid}-{s}" for s in ("city", "talkback", "reply"))
        # Not live yet: no city picture for the station.
        assert (await _whep_status(node, city, station_a))[0] == 403
        assert (await _call(d, "POST", f"/api/sessions/{sid}/start"))[0] == 200
        for stream in ("city", "talkback"):
            status, media = await _call(
                d, "POST", f"/api/sessions/{sid}/media", {"direction": "publish", "stream": stream}
            )
            assert status == 201, media
            await publishers.start(media["stream"], media["token"])

        # The station's display is told: its city picture, live.
        async with console(node.url) as court_pc:
            display = await court_pc.get(f"/station/court-a/display?token={station_a}")
            assert display.status == 200, display.text
            assert 'data-feed="/ws/stations/court-a/display"' in display.text
            wrong = await court_pc.get(f"/station/court-a/display?token={station_b}")
            assert wrong.status == 403
            assert (await court_pc.get("/station/court-a/display")).status == 401
            feed = f"{node.url}/ws/stations/court-a/display?token={station_a}"
            async with court_pc.http.ws_connect(feed) as ws:
                state = (await _next(ws, "dispatch.screen"))["data"]
                assert state["kind"] == "station" and state["title"] == "人民法院 第一法庭"
                assert [(t["stream"], t["source"]) for t in state["tiles"]] == [(city, "city")]

                # It plays the city picture; the talk-back and reply are the parts' only;
                # another station's picture and another station's token are refused.
                viewer = Viewer(node.whep(city), station_a)
                try:
                    await viewer.start()
                    await viewer.wait_frames(10)
                finally:
                    await viewer.close()
                for stream, token in [
                    (talkback, station_a),
                    (reply, station_a),
                    ("court-b-wide", station_a),
                    (city, station_b),
                ]:
                    status, text = await _whep_status(node, stream, token)
                    assert status == 403, (stream, status, text)
                assert "this station token may not subscribe" in text

                # Dispatched to its station screen: received too, and the display told.
                async with logged_in(node.url, "commander") as c:
                    screen = {
                        "name": "court-a-tv",
                        "title": "甲县法庭",
                        "kind": "station",
                        "station": "court-a",
                    }
                    assert (await _call(c, "POST", "/api/dispatch/screens", screen))[0] == 201
                    layout = {"grid": 4, "sources": ["court-b-wide"]}
                    put = "/api/dispatch/screens/court-a-tv/layout"
                    assert (await _call(c, "PUT", put, layout))[0] == 200
                state = (await _next(ws, "dispatch.screen"))["data"]
                while len(state["tiles"]) < 2:
                    state = (await _next(ws, "dispatch.screen"))["data"]
                assert [t["stream"] for t in state["tiles"]] == [city, "court-b-wide"]
                assert state["grid"] == 4
                viewer = Viewer(node.whep("court-b-wide"), station_a)
                try:
                    await viewer.start()
                    await viewer.wait_frames(5)
                finally:
                    await viewer.close()
                assert (await _whep_status(node, "court-b-wide", station_b))[0] == 403

                # The session ends: the city picture is no longer the station's.
                assert (await _call(d, "POST", f"/api/sessions/{sid}/end"))[0] == 200
                state = (await _next(ws, "dispatch.screen"))["data"]
                while any(t["source"] == "city" for t in state["tiles"]):
                    state = (await _next(ws, "dispatch.screen"))["data"]
                assert (await _whep_status(node, city, station_a))[0] == 403
