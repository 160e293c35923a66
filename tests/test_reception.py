"""Petition reception on a real node over HTTP (Issue 9, items 6-8): kiosks in two counties
queue petitioners with their kiosk tokens and see their place; receptionists take them in
order (the second accept of one ticket is 409), close them with an outcome; the queue
survives a node restart; a petitioner who leaves is abandoned with the time waited; the
kiosk token opens nothing else; bad input is refused; personal data stays out of the
audit log, the events and the logs."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestServer

from camera_agents import WhipPublisher
from camera_agents.testsrc import PatternTrack
from media_gateway import set_host_addresses
from signaling import ARCHIVE_KEY
from signaling.kiosk_guard import route_scope
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .console import Console, add_station, add_user, console, logged_in
from .peers import whip_or_whep

NAME, CONTACT = "王小明", "13800000000"
SDP = "v=0\r\n"


@asynccontextmanager
async def _node(data: Path) -> AsyncIterator[Node]:
    settings = load_settings(data_dir=data, ice_addresses="127.0.0.1", reconnect_grace=0.2)
    app = build_app(settings, demo=True)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    try:
        yield Node(url=str(server.make_url("")).rstrip("/"), app=app)
    finally:
        await server.close()
        set_host_addresses(None)
        await asyncio.sleep(0)


async def _call(
    url: str, method: str, path: str, body: Any = None, token: str | None = None, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url + path, data=data, headers=headers, **kw) as r,
    ):
        text = await r.text()
    try:
        return r.status, json.loads(text)
    except json.JSONDecodeError:
        return r.status, text


async def _post(c: Console, path: str, body: Any = None) -> tuple[int, Any]:
    answer = await c.post(path, data=json.dumps(body or {}))
    try:
        return answer.status, json.loads(answer.text)
    except json.JSONDecodeError:
        return answer.status, answer.text


async def _next(ws: aiohttp.ClientWebSocketResponse, topic: str, timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        assert msg.type == WSMsgType.TEXT, msg
        message = msg.json()
        if message["topic"] == topic:
            return message


async def _setup(node: Node) -> dict[str, str]:
    """Two counties' reception rooms and their kiosk links (minted by an admin)."""
    await add_station(node.app, "recv-a", ["recv-a-cam"], "甲县", "接访室", "reception_room")
    await add_station(node.app, "recv-b", ["recv-b-cam"], "乙县", "接访室", "reception_room")
    await add_station(node.app, "court-a", ["court-a-wide"], "甲县")
    for name, role in [
        ("admin", "admin"),
        ("r1", "receptionist"),
        ("r2", "receptionist"),
        ("cmd", "commander"),
        ("aud", "auditor"),
    ]:
        await add_user(node.app, name, role)
    tokens = {}
    async with logged_in(node.url, "admin") as admin:
        for station in ("recv-a", "recv-b"):
            status, link = await _post(admin, f"/api/reception/kiosks/{station}/link")
            assert status == 201, link
            assert link["url"] == f"/kiosk/{station}?token={link['token']}"
            tokens[station] = link["token"]
        status, text = await _post(admin, "/api/reception/kiosks/court-a/link")
        assert status == 400 and "not a reception room" in text
    return tokens


def _form(subject: str = "讨薪") -> dict[str, str]:
    return {"name": NAME, "contact": CONTACT, "subject": subject}


async def test_two_counties_queue_and_receptionists_take_them_in_order(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = await _setup(node)
    async with AsyncExitStack() as stack:
        r1 = await stack.enter_async_context(logged_in(node.url, "r1"))
        r2 = await stack.enter_async_context(logged_in(node.url, "r2"))
        cmd = await stack.enter_async_context(logged_in(node.url, "cmd"))
        ws = await stack.enter_async_context(r1.http.ws_connect(f"{node.url}/ws/events"))
        ws_cmd = await stack.enter_async_context(cmd.http.ws_connect(f"{node.url}/ws/events"))

        status, a = await _call(node.url, "POST", "/api/reception/queue", _form(), tokens["recv-a"])
        assert status == 201, a
        assert a["place"] == 1 and a["estimated_minutes"] == 10 and a["county"] == "甲县"
        assert NAME not in json.dumps(a, ensure_ascii=False) and CONTACT not in json.dumps(a)
        queued = await _next(ws, "reception.queued")
        assert queued["data"]["ticket"]["id"] == a["id"] and "audience" not in queued["data"]
        assert NAME not in json.dumps(queued, ensure_ascii=False)
        status, b = await _call(
            node.url, "POST", "/api/reception/queue", _form("<b>土地</b>"), tokens["recv-b"]
        )
        assert status == 201 and b["place"] == 2 and b["estimated_minutes"] == 20

        # Receptionists see the whole queue across counties, with waiting times.
        queue = await r1.json("/api/reception/queue")
        assert [t["id"] for t in queue["waiting"]] == [a["id"], b["id"]]
        assert [t["county"] for t in queue["waiting"]] == ["甲县", "乙县"]
        assert queue["waiting"][0]["petitioner"] == NAME
        assert queue["waiting"][0]["contact"] == CONTACT
        assert queue["waiting"][1]["subject"] == "<b>土地</b>"  # text, escaped by the page
        assert all(t["waited_seconds"] >= 0 for t in queue["waiting"])
        # A kiosk sees only its own ticket: another station's answers 404.
        path = f"/api/reception/queue?ticket={b['id']}"
        assert (await _call(node.url, "GET", path, token=tokens["recv-a"]))[0] == 404
        status, mine = await _call(node.url, "GET", path, token=tokens["recv-b"])
        assert status == 200 and mine["place"] == 2 and "petitioner" not in mine

        # r1 takes the first; r2 taking the same one is refused; the kiosk's place moves.
        status, session = await _post(r1, f"/api/reception/queue/{a['id']}/accept")
        assert status == 200, session
        assert session["kind"] == "reception" and session["state"] == "live"
        assert session["station"] == "recv-a" and session["ticket"] == a["id"]
        assert session["created_by"] == "r1"
        status, text = await _post(r2, f"/api/reception/queue/{a['id']}/accept")
        assert status == 409 and "accepted by r1" in text
        status, mine = await _call(node.url, "GET", path, token=tokens["recv-b"])
        assert mine["place"] == 1
        status, taken = await _call(
            node.url, "GET", f"/api/reception/queue?ticket={a['id']}", token=tokens["recv-a"]
        )
        assert taken["state"] == "accepted" and taken["session"] == session["id"]
        accepted = await _next(ws, "reception.accepted")
        assert accepted["data"]["ticket"]["session"] == session["id"]
        assert (await r1.json("/api/reception/queue"))["mine"][0]["id"] == a["id"]

        # The outcome form: missing fields 400, too long 413, then closed; the session ends.
        base = f"/api/reception/queue/{a['id']}/close"
        assert (await _post(r1, base, {"reply": "已答复"}))[0] == 400
        assert (await _post(r1, base, {"matter": "x" * 201, "reply": "y"}))[0] == 413
        assert (await _post(r2, base, {"matter": "讨薪", "reply": "已答复"}))[0] == 404
        outcome = {"matter": "讨薪", "reply": "已答复", "follow_up": "转办", "department": "劳动局"}
        status, closed = await _post(r1, base, outcome)
        assert status == 200 and closed["state"] == "closed", closed
        assert closed["outcome"]["department"] == "劳动局"
        # Sealed in the background (the seal waits for the recordings to close).
        sealed = await _next(ws, "session.sealed", 25)
        assert sealed["data"]["session"]["id"] == session["id"]
        assert (await r1.json(f"/api/sessions/{session['id']}"))["state"] == "sealed"
        assert (await _post(r1, base, outcome))[0] == 409

        status, second = await _post(r2, f"/api/reception/queue/{b['id']}/accept")
        assert status == 200 and second["station"] == "recv-b"
        # The petitioner leaves mid-call: kept on the ticket, no new call tokens; the
        # receptionist sees it and still closes the reception.
        leave = f"/api/reception/queue/{b['id']}/leave"
        status, left = await _call(node.url, "POST", leave, token=tokens["recv-b"])
        assert status == 200 and left["state"] == "accepted" and left["left_call_at"], left
        media = f"/api/reception/queue/{b['id']}/media"
        status, text = await _call(node.url, "POST", media, {"direction": "view"}, tokens["recv-b"])
        assert status == 409 and "left the call" in text
        assert (await r2.json("/api/reception/queue"))["mine"][0]["left_call_at"]
        outcome = {"matter": "土地", "reply": "信访人离开"}
        status, closed = await _post(r2, f"/api/reception/queue/{b['id']}/close", outcome)
        assert status == 200 and closed["state"] == "closed"
        # Commanders get no reception.* events (receptionists only).
        seen = []
        while True:
            try:
                msg = await ws_cmd.receive(timeout=0.2)
            except TimeoutError:
                break
            seen.append(msg.json()["topic"])
        assert not any(t.startswith("reception.") for t in seen)

    # Auditors read every ticket with its outcome; the audit log names ticket ids only.
    async with logged_in(node.url, "aud") as aud:
        records = await aud.json("/api/reception/tickets")
        assert {t["id"] for t in records["tickets"]} == {a["id"], b["id"]}
    rows = await asyncio.to_thread(node.app[ARCHIVE_KEY].catalog.audit_rows)
    reception = [r for r in rows if str(r.get("action", "")).startswith("reception.")]
    assert {r["action"] for r in reception} >= {
        "reception.enqueue",
        "reception.accept",
        "reception.close",
        "reception.kiosk.link",
        "reception.hangup",
    }
    logged = json.dumps(rows, default=str, ensure_ascii=False)
    assert NAME not in logged and CONTACT not in logged
    assert NAME not in caplog.text and CONTACT not in caplog.text


async def test_the_queue_survives_a_restart_and_a_petitioner_who_leaves_is_abandoned(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    async with _node(data) as first:
        tokens = await _setup(first)
        ids = []
        for station in ("recv-a", "recv-b", "recv-a"):
            status, t = await _call(
                first.url, "POST", "/api/reception/queue", _form(), tokens[station]
            )
            assert status == 201, t
            ids.append(t["id"])
    async with _node(data) as second:
        async with logged_in(second.url, "r1") as r1:
            queue = await r1.json("/api/reception/queue")
            assert [t["id"] for t in queue["waiting"]] == ids
        # The kiosk tokens still work (same secret); the third petitioner leaves.
        leave = f"/api/reception/queue/{ids[2]}/leave"
        assert (await _call(second.url, "POST", leave, token=tokens["recv-b"]))[0] == 404
        status, left = await _call(second.url, "POST", leave, token=tokens["recv-a"])
        assert status == 200 and left["state"] == "abandoned", left
        assert left["waited_seconds"] >= 0
        assert (await _call(second.url, "POST", leave, token=tokens["recv-a"]))[0] == 409
        async with logged_in(second.url, "r1") as r1:
            assert (await _post(r1, f"/api/reception/queue/{ids[2]}/accept"))[0] == 409
            queue = await r1.json("/api/reception/queue")
            assert [t["id"] for t in queue["waiting"]] == ids[:2]


def _routes(app: Any, values: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """Every route of the app as (method, a concrete path, its kiosk scope): path
    variables filled from `values` ("x" otherwise); static files by one of them."""
    routes = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        path = resource.get_info().get("formatter", resource.canonical)
        if path == "/static":
            path = "/static/console.css"
        path = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)
        routes.append((route.method, path, route_scope(route.handler)))
    return sorted(set(routes))


async def _walk(
    url: str, routes: list[tuple[str, str, str | None]], token: str, query: bool = False
) -> dict[tuple[str, str], int]:
    """The status of each route with `token` (Authorization: Bearer, or `?token=`)."""
    seen = {}
    async with aiohttp.ClientSession() as http:
        for method, path, _ in routes:
            headers = {} if query else {"Authorization": f"Bearer {token}"}
            params = {"token": token} if query else None
            async with http.request(
                method, url + path, headers=headers, params=params, allow_redirects=False
            ) as r:
                seen[(method, path)] = r.status
    return seen


async def test_the_kiosk_token_opens_nothing_else_and_bad_input_is_refused(node: Node) -> None:
    tokens = await _setup(node)
    kiosk = tokens["recv-a"]
    url = node.url
    status, t = await _call(url, "POST", "/api/reception/queue", _form(), kiosk)
    assert status == 201
    # Every route of the app but the kiosk's own answers 403 with the reason, as a
    # Bearer header and as a ?token= query alike (404/405 only where it cannot apply).
    values = {"stream_id": "recv-a-cam", "station": "recv-a", "station_id": "recv-a", "n": "1"}
    values |= {"action": "disable"}
    routes = _routes(node.app, {**values, "ticket": t["id"]})
    others = [r for r in routes if r[2] != "kiosk"]
    assert len(others) > 100 and ("POST", "/whep/recv-a-cam", "view") in others
    assert ("GET", "/ws/events", None) in others and ("GET", "/static/console.css", None) in others
    for query in (False, True):
        seen = await _walk(url, others, kiosk, query)
        wrong = {k: v for k, v in seen.items() if v not in (403, 404, 405)}
        assert not wrong, (query, wrong)
        assert {k: v for k, v in seen.items() if v != 403} == {}, query
    status, text = await _call(url, "GET", "/api/reception/tickets", token=kiosk)
    assert status == 403 and "kiosk" in text
    status, text, _ = await whip_or_whep(node.whep("recv-a-cam"), kiosk, SDP)
    assert status == 403, text
    # The kiosk's own routes: what a kiosk does, and nothing of a receptionist's.
    kiosk_routes = {(m, p) for m, p, scope in routes if scope == "kiosk"}
    assert kiosk_routes == {
        ("GET", "/api/reception/queue"),
        ("HEAD", "/api/reception/queue"),
        ("POST", "/api/reception/queue"),
        ("POST", f"/api/reception/queue/{t['id']}/leave"),
        ("POST", f"/api/reception/queue/{t['id']}/media"),
        ("GET", "/kiosk/recv-a"),
        ("HEAD", "/kiosk/recv-a"),
    }
    accept = f"/api/reception/queue/{t['id']}/accept"
    assert (await _call(url, "POST", accept, token=kiosk))[0] == 403
    # Other tokens and console logins may not queue.
    station = node.tokens.mint(["recv-a-cam"], "station", 600)  # type: ignore[arg-type]
    assert (await _call(url, "POST", "/api/reception/queue", _form(), station))[0] == 403
    assert (await _call(url, "POST", "/api/reception/queue", _form()))[0] == 401
    async with logged_in(url, "r1") as r1:
        assert (await _post(r1, "/api/reception/queue", _form()))[0] == 403
    async with logged_in(url, "cmd") as cmd:
        assert (await cmd.get("/api/reception/queue")).status == 403
        assert (await _post(cmd, f"/api/reception/queue/{t['id']}/accept"))[0] == 403
    # Bad input: missing fields 400, too long 413, not JSON 400, a huge body 413.
    post = "/api/reception/queue"
    for body, expected in [
        ({"name": NAME, "contact": CONTACT}, 400),
        ({**_form(), "name": ""}, 400),
        ({**_form(), "name": 5}, 400),
        ({**_form(), "name": "x" * 65}, 413),
        ({**_form(), "contact": "1" * 65}, 413),
        ({**_form(), "subject": "x" * 201}, 413),
        ({**_form(), "subject": "a\x00b"}, 400),
        ("not json", 400),
        ("[1]", 400),
        (json.dumps({"name": "x" * 20000}), 413),
    ]:
        status, text = await _call(url, "POST", post, body, kiosk)
        assert status == expected, (body if len(str(body)) < 100 else "huge", status, text)
    assert (await _call(url, "GET", post, token=kiosk))[0] == 400  # no ticket named
    async with console(url) as anon:
        assert (await anon.get("/api/reception/queue")).status == 401


async def test_the_kiosk_page_opens_with_its_own_link_only_and_receptionists_have_theirs(
    node: Node,
) -> None:
    tokens = await _setup(node)
    async with console(node.url) as kiosk:
        page = await kiosk.get(f"/kiosk/recv-a?token={tokens['recv-a']}")
        assert page.status == 200 and 'id="kiosk-form"' in page.text
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "远程视频接访" in page.text
        english = await kiosk.get(f"/kiosk/recv-a?token={tokens['recv-a']}&lang=en")
        assert "Video reception" in english.text and "Request a reception" in english.text
        for path in (
            f"/kiosk/recv-b?token={tokens['recv-a']}",  # another station's link
            "/kiosk/recv-a",
            "/kiosk/recv-a?token=forged",
            f"/kiosk/recv-a?token={node.tokens.mint(['recv-a-cam'], 'station', 60)}",  # type: ignore[arg-type]
        ):
            assert (await kiosk.get(path)).status == 403, path
        # The kiosk link is no station display link either.
        display = await kiosk.get(f"/station/recv-a/display?token={tokens['recv-a']}")
        assert display.status == 403
    async with logged_in(node.url, "r1") as r1:
        page = await r1.get("/reception")
        assert page.status == 200 and 'id="reception-queue"' in page.text
        assert 'href="/reception"' in page.text  # in the navigation bar
    async with logged_in(node.url, "cmd") as cmd:
        assert (await cmd.get("/reception")).status == 403


async def test_a_revoked_or_replaced_kiosk_link_is_refused_everywhere_at_once(node: Node) -> None:
    tokens = await _setup(node)
    url, old = node.url, tokens["recv-a"]
    status, t = await _call(url, "POST", "/api/reception/queue", _form(), old)
    assert status == 201
    async with logged_in(url, "admin") as admin, logged_in(url, "cmd") as cmd:
        # Listed (never the token): when made, by whom, until when.
        listed = await cmd.json("/api/reception/kiosks")
        assert [x["station"] for x in listed["links"]] == ["recv-a", "recv-b"]
        assert listed["links"][0]["created_by"] == "user:admin"
        assert listed["links"][0]["expires_at"] > listed["links"][0]["created_at"]
        assert old not in json.dumps(listed)
        # A new link replaces the old one: the old token is refused at once, everywhere.
        status, link = await _post(cmd, "/api/reception/kiosks/recv-a/link", {"days": 2})
        assert status == 201 and link["created_by"] == "user:cmd", link
        new = link["token"]
        values = {"stream_id": "recv-a-cam", "station": "recv-a", "station_id": "recv-a"}
        routes = _routes(node.app, {**values, "ticket": t["id"], "n": "1", "action": "disable"})
        for query in (False, True):
            seen = await _walk(url, routes, old, query)
            assert {k: v for k, v in seen.items() if v != 401} == {}, query
        status, text = await _call(url, "GET", f"/api/reception/queue?ticket={t['id']}", token=old)
        assert status == 401 and "revoked" in text
        async with console(url) as kiosk:
            page = await kiosk.get(f"/kiosk/recv-a?token={old}")
            assert page.status == 401 and "此接访终端链接已被撤销" in page.text
            assert (await kiosk.get(f"/kiosk/recv-a?token={new}")).status == 200
        status, place = await _call(url, "GET", f"/api/reception/queue?ticket={t['id']}", token=new)
        assert status == 200 and place["place"] == 1  # the petitioner keeps the place

        # The call: the kiosk mints a call token per stream; revoking stops them too.
        assert (await _post(cmd, f"/api/reception/queue/{t['id']}/media"))[0] == 403
        media = f"/api/reception/queue/{t['id']}/media"
        status, text = await _call(url, "POST", media, {"direction": "publish"}, new)
        assert status == 409 and "waiting" in text  # no call before it is accepted
        async with logged_in(url, "r1") as r1:
            status, session = await _post(r1, f"/api/reception/queue/{t['id']}/accept")
            assert status == 200
        assert (await _call(url, "POST", media, {"direction": "talk"}, new))[0] == 400
        assert (await _call(url, "POST", media, {"direction": "view"}, tokens["recv-b"]))[0] == 404
        status, publish = await _call(url, "POST", media, {"direction": "publish"}, new)
        assert status == 201 and publish["stream"] == "recv-a-cam", publish
        status, view = await _call(url, "POST", media, {"direction": "view"}, new)
        assert status == 201 and view["stream"] == f"{session['id']}-city"
        assert view["expires_in"] <= 120
        # Each call token opens its one stream (400 bad SDP, 404 not on air: past every
        # check of the credential) and
        # nothing else: not the other stream, not the other direction, no other route.
        assert (await whip_or_whep(node.whip("recv-a-cam"), publish["token"], SDP))[0] == 400
        assert (await whip_or_whep(node.whep(view["stream"]), view["token"], SDP))[0] == 404
        assert (await whip_or_whep(node.whep("recv-a-cam"), publish["token"], SDP))[0] == 403
        assert (await whip_or_whep(node.whip(view["stream"]), view["token"], SDP))[0] == 403
        assert (await whip_or_whep(node.whep(view["stream"]), publish["token"], SDP))[0] == 403
        for call in (publish["token"], view["token"]):
            seen = await _walk(url, routes, call)
            opened = {k for k, v in seen.items() if v != 403}
            assert opened <= {
                ("POST", "/whip/recv-a-cam"),
                ("DELETE", "/whip/recv-a-cam/x"),
            }, opened
        status, text = await _call(url, "GET", "/station/recv-a/display", token=publish["token"])
        assert status == 403

        # The kiosk's camera on air with its call token (a real WebRTC peer).
        camera = WhipPublisher(
            node.whip("recv-a-cam"), publish["token"], [PatternTrack("recv-a-cam", fps=5)]
        )
        await camera.start()
        try:
            assert node.gateway.publication("recv-a-cam") is not None
            # Revoked: the open call ends at once; the kiosk token and its call tokens
            # answer 401, the link is gone.
            revoked = await admin.request("DELETE", "/api/reception/kiosks/recv-a/link")
            assert revoked.status == 200, revoked
            assert (
                json.loads(revoked.text)["revoked"] and json.loads(revoked.text)["calls_ended"] == 1
            )
            assert node.gateway.publication("recv-a-cam") is None
        finally:
            await camera.stop()
        assert (await cmd.get("/api/reception/kiosks/recv-a/link")).status == 404
        assert (await admin.request("DELETE", "/api/reception/kiosks/recv-a/link")).status == 404
        assert (await admin.request("DELETE", "/api/reception/kiosks/court-a/link")).status == 400
        for token in (new, publish["token"], view["token"]):
            seen = await _walk(url, routes, token)
            assert {k: v for k, v in seen.items() if v != 401} == {}
        assert (await whip_or_whep(node.whip("recv-a-cam"), publish["token"], SDP))[0] == 401
        assert (await _call(url, "POST", media, {"direction": "view"}, new))[0] == 401
        # recv-b's link is untouched; receptionists and auditors may not manage links.
        status, _ = await _call(
            url, "GET", "/api/reception/queue?ticket=none", token=tokens["recv-b"]
        )
        assert status == 404
    async with logged_in(url, "r1") as r1:
        assert (await r1.get("/api/reception/kiosks")).status == 403
        assert (await r1.request("DELETE", "/api/reception/kiosks/recv-b/link")).status == 403
    rows = await asyncio.to_thread(node.app[ARCHIVE_KEY].catalog.audit_rows)
    links = [r for r in rows if str(r.get("action", "")).startswith("reception.kiosk.")]
    assert [(r["action"], r["actor"]) for r in links][-2:] == [
        ("reception.kiosk.link", "user:cmd"),
        ("reception.kiosk.revoke", "user:admin"),
    ]
    assert links[-2]["detail"]["replaced"] == links[0]["detail"]["token"]


async def test_a_room_in_a_call_takes_its_next_petitioner_only_after_the_close(
    node: Node,
) -> None:
    """One camera and one kiosk per room: a second petitioner of a room in a call waits,
    even when two receptionists accept the two at once (the catalog decides)."""
    tokens = await _setup(node)
    queued = []
    for subject in ("讨薪", "土地", "医保"):
        status, ticket = await _call(
            node.url, "POST", "/api/reception/queue", _form(subject), tokens["recv-a"]
        )
        assert status == 201, ticket
        queued.append(ticket["id"])
    first, second, third = queued
    async with logged_in(node.url, "r1") as r1, logged_in(node.url, "r2") as r2:
        answers = await asyncio.gather(
            _post(r1, f"/api/reception/queue/{first}/accept"),
            _post(r2, f"/api/reception/queue/{second}/accept"),
        )
        assert sorted(status for status, _ in answers) == [200, 409], answers
        (_, session), (_, text) = sorted(answers, key=lambda a: a[0])
        assert "recv-a is in a call" in text, text
        taken = session["ticket"]
        waiting = second if taken == first else first
        # The loser is still waiting, first in line, and the third behind it.
        queue = await r1.json("/api/reception/queue")
        assert [t["id"] for t in queue["waiting"]] == [waiting, third]
        closer = r1 if session["created_by"] == "r1" else r2
        outcome = {"matter": "讨薪", "reply": "已答复"}
        status, _ = await _post(closer, f"/api/reception/queue/{taken}/close", outcome)
        assert status == 200
        status, again = await _post(r2, f"/api/reception/queue/{waiting}/accept")
        assert status == 200 and again["station"] == "recv-a", again
