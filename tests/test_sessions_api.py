"""The hearing-session API on a real node (CONTRACT §5): a director runs a session, the
prosecutor in court gets directions live and sends receipts, an observer comments; what
each part may not do is refused server-side, and a county sees nothing of another."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from signaling import ARCHIVE_KEY, USERS_KEY

from .conftest import Node
from .console import PASSWORD, Console, add_station, add_user, logged_in

COURT_A = ["court-a-wide", "court-a-judge"]


async def _next(ws: aiohttp.ClientWebSocketResponse, topic: str, timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        assert msg.type == WSMsgType.TEXT, msg
        message = msg.json()
        if message["topic"] == topic:
            return message


async def _topics(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[str]:
    seen = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        seen.append(msg.json()["topic"])
    return seen


async def _post(c: Console, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
    answer = await c.post(path, data=json.dumps(body), **kwargs)
    try:
        return answer.status, json.loads(answer.text)
    except json.JSONDecodeError:
        return answer.status, answer.text


@pytest.fixture
async def court(node: Node) -> AsyncIterator[dict[str, Console]]:
    """Two counties' courts; a director, the prosecutor of each county, an observer."""
    await add_station(node.app, "court-a", COURT_A, "甲县")
    await add_station(node.app, "court-b", ["court-b-wide"], "乙县")
    await add_user(node.app, "director", "commander")
    await add_user(node.app, "obs", "observer")
    for name, county in [("pros-a", "甲县"), ("pros-b", "乙县")]:
        await asyncio.to_thread(
            node.app[USERS_KEY].add, name, "prosecutor", PASSWORD, county=county
        )
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(logged_in(node.url, name))
            for name in ("director", "obs", "pros-a", "pros-b")
        }


async def _session(c: dict[str, Console]) -> dict[str, Any]:
    status, body = await _post(
        c["director"],
        "/api/sessions",
        {
            "kind": "direction",
            "station": "court-a",
            "title": "张某等十四人案庭审",
            "case_no": "甲检刑诉〔2026〕12号",
            "participants": [
                {"user": "pros-a", "part": "prosecutor"},
                {"user": "obs", "part": "observer"},
            ],
        },
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def test_a_direction_reaches_the_prosecutor_only_and_its_receipt_the_director(
    node: Node, court: dict[str, Console]
) -> None:
    session = await _session(court)
    sid = session["id"]
    assert session["state"] == "scheduled" and session["streams"] == COURT_A
    base = f"/api/sessions/{sid}"
    async with AsyncExitStack() as stack:
        ws = {
            name: await stack.enter_async_context(
                court[name].http.ws_connect(f"{node.url}/ws/events")
            )
            for name in ("director", "pros-a", "obs", "pros-b")
        }
        assert (await _post(court["director"], f"{base}/start", {}))[0] == 200
        started = await _next(ws["pros-a"], "session.started")
        assert started["data"]["session"]["state"] == "live"
        assert "audience" not in started["data"]

        sent_at = time.monotonic()
        status, direction = await _post(
            court["director"], f"{base}/directions", {"text": "请就证据三发问", "urgent": True}
        )
        assert status == 201, direction
        got = await _next(ws["pros-a"], "direction.sent")
        assert time.monotonic() - sent_at < 1.0
        assert got["data"]["direction"]["text"] == "请就证据三发问"
        assert got["data"]["direction"]["urgent"] is True

        status, read = await _post(court["pros-a"], f"{base}/directions/{direction['id']}/read", {})
        assert status == 200 and read["read_by"] == "pros-a", read
        receipt = await _next(ws["director"], "direction.read")
        assert receipt["data"]["direction"]["id"] == direction["id"]

        status, _ = await _post(
            court["obs"], f"{base}/comments", {"text": "发问有力", "media_time": 3.5}
        )
        assert status == 201
        comment = await _next(ws["director"], "comment.posted")
        assert comment["data"]["comment"]["media_time"] == 3.5

        # The observer saw the start and the comment, never a direction; county B nothing.
        seen_by_observer = await _topics(ws["obs"], 0.3)
        assert "session.started" in seen_by_observer and "comment.posted" in seen_by_observer
        assert not any(t.startswith("direction.") for t in seen_by_observer)
        assert not any(
            t.startswith(("session.", "direction.", "comment."))
            for t in await _topics(ws["pros-b"], 0.1)
        )

    full = await court["director"].json(base)
    assert [d["read_by"] for d in full["directions"]] == ["pros-a"]
    assert (await court["obs"].json(base))["directions"] == []  # private
    assert (await _post(court["director"], f"{base}/end", {}))[0] == 200
    status, reason = await _post(court["director"], f"{base}/directions", {"text": "晚了"})
    assert status == 409 and "ended" in reason


async def test_each_part_is_refused_what_it_may_not_do(
    node: Node, court: dict[str, Console]
) -> None:
    sid = (await _session(court))["id"]
    base = f"/api/sessions/{sid}"
    assert (await _post(court["obs"], f"{base}/start", {}))[0] == 403
    assert (await _post(court["director"], f"{base}/start", {}))[0] == 200
    assert (await _post(court["director"], f"{base}/start", {}))[0] == 409
    assert (await _post(court["obs"], f"{base}/directions", {"text": "x"}))[0] == 403
    assert (await _post(court["pros-a"], f"{base}/comments", {"text": "x", "media_time": 1}))[
        0
    ] == 403
    # Media: publishing and the private audio channels follow the part.
    publish = {"direction": "publish", "stream": "talkback"}
    assert (await _post(court["obs"], f"{base}/media", publish))[0] == 403
    assert (await _post(court["obs"], f"{base}/media", {"direction": "publish", "stream": "city"}))[
        0
    ] == 403
    status, token = await _post(court["director"], f"{base}/media", publish)
    assert status == 201 and token["url"] == f"/whip/{sid}-talkback", token
    hear = {"direction": "view", "stream": "talkback"}
    assert (await _post(court["pros-a"], f"{base}/media", hear))[0] == 201
    assert (await _post(court["obs"], f"{base}/media", hear))[0] == 403
    status, view = await _post(
        court["obs"], f"{base}/media", {"direction": "view", "stream": "court-a-judge"}
    )
    assert status == 201 and view["url"] == "/whep/court-a-judge"
    assert (
        await _post(court["obs"], f"{base}/media", {"direction": "view", "stream": "court-b-wide"})
    )[0] == 404


async def test_county_b_sees_nothing_of_county_a(node: Node, court: dict[str, Console]) -> None:
    sid = (await _session(court))["id"]
    outsider = court["pros-b"]
    assert (await outsider.json("/api/sessions"))["sessions"] == []
    assert (await outsider.json("/api/sessions?county=甲县"))["sessions"] == []
    assert (await outsider.get(f"/api/sessions/{sid}")).status == 404
    assert (await _post(outsider, f"/api/sessions/{sid}/start", {}))[0] == 404
    assert [s["id"] for s in (await court["pros-a"].json("/api/sessions"))["sessions"]] == [sid]
    # A county account cannot create sessions; nor invite across counties.
    status, _ = await _post(outsider, "/api/sessions", {"kind": "direction", "station": "court-b"})
    assert status == 403
    status, reason = await _post(
        court["director"],
        "/api/sessions",
        {
            "kind": "direction",
            "station": "court-a",
            "title": "t",
            "case_no": "c",
            "participants": [{"user": "pros-b", "part": "prosecutor"}],
        },
    )
    assert status == 400 and "乙县" in reason


async def test_bad_input_is_a_clear_4xx_and_nothing_is_stored(
    node: Node, court: dict[str, Console]
) -> None:
    sid = (await _session(court))["id"]
    base = f"/api/sessions/{sid}"
    director = court["director"]
    await _post(director, f"{base}/start", {})
    cases = [
        ({"text": ""}, 400),
        ({"text": "x" * 501}, 413),
        ({"text": "ok", "urgent": "yes"}, 400),
        ("not an object", 400),
    ]
    for body, expected in cases:
        status, reason = await _post(director, f"{base}/directions", body)
        assert status == expected, (body, status, reason)
    answer = await director.post(f"{base}/directions", data=b"{not json")
    assert answer.status == 400
    answer = await director.post(f"{base}/directions", data=b" " * (65 * 1024))
    assert answer.status == 413
    # Without the CSRF header a cookie-authenticated post is refused.
    answer = await director.post(f"{base}/directions", data=json.dumps({"text": "x"}), csrf=False)
    assert answer.status == 403
    # HTML is kept as text (the pages escape it), and a foreign session is a 404.
    status, d = await _post(director, f"{base}/directions", {"text": "<script>alert(1)</script>"})
    assert status == 201 and d["text"] == "<script>alert(1)</script>"
    assert (await _post(director, "/api/sessions/s20260101-000000/directions", {"text": "x"}))[
        0
    ] == 404
    full = await director.json(base)
    assert [x["text"] for x in full["directions"]] == ["<script>alert(1)</script>"]
    audit = await asyncio.to_thread(node.app[ARCHIVE_KEY].catalog.audit_trail, f"session:{sid}")
    assert [r["action"] for r in audit] == ["session.create", "session.start", "direction.send"]


async def test_a_director_keeps_quick_phrases_and_no_one_else_sees_them(
    node: Node, court: dict[str, Console]
) -> None:
    director = court["director"]
    assert await director.json("/api/me/phrases") == {"phrases": []}
    phrases = ["请就证据三发问", "注意语速", "<b>休庭</b>"]
    answer = await director.request("PUT", "/api/me/phrases", data=json.dumps({"phrases": phrases}))
    assert answer.status == 200 and json.loads(answer.text) == {"phrases": phrases}
    assert (await director.json("/api/me/phrases"))["phrases"] == phrases
    reordered = [phrases[1], phrases[0]]
    answer = await director.request(
        "PUT", "/api/me/phrases", data=json.dumps({"phrases": reordered})
    )
    assert (await director.json("/api/me/phrases"))["phrases"] == reordered
    for bad, status in (
        ({"phrases": "注意语速"}, 400),
        ({"phrases": ["", "x"]}, 400),
        ({"phrases": ["x", "x"]}, 400),
        ({"phrases": ["x" * 201]}, 413),
        ({"phrases": [str(n) for n in range(31)]}, 413),
    ):
        answer = await director.request("PUT", "/api/me/phrases", data=json.dumps(bad))
        assert answer.status == status, (bad, answer.status, answer.text)
    assert (await director.json("/api/me/phrases"))["phrases"] == reordered
    # Observers and county prosecutors direct nothing: no phrases (and no CSRF, no write).
    assert (await court["obs"].get("/api/me/phrases")).status == 403
    answer = await court["pros-a"].request("PUT", "/api/me/phrases", data='{"phrases": []}')
    assert answer.status == 403
    answer = await director.request("PUT", "/api/me/phrases", data='{"phrases": []}', csrf=False)
    assert answer.status == 403


async def test_each_part_is_told_the_streams_it_may_watch_and_whether_they_are_on_air(
    node: Node, court: dict[str, Console]
) -> None:
    sid = (await _session(court))["id"]
    base = f"/api/sessions/{sid}"
    await _post(court["director"], f"{base}/start", {})

    async def listed(name: str) -> dict[str, dict[str, Any]]:
        body = await court[name].json(f"{base}/streams")
        return {s["id"]: s for s in body["streams"]}

    city = [f"{sid}-city", f"{sid}-talkback", f"{sid}-reply"]
    assert list(await listed("director")) == [*COURT_A, city[0], city[2]]
    assert list(await listed("pros-a")) == [*COURT_A, city[0], city[1]]
    assert list(await listed("obs")) == [*COURT_A, city[0]]
    assert not any(s["on_air"] or s["recording"] for s in (await listed("obs")).values())
    assert (await court["pros-b"].get(f"{base}/streams")).status == 404


async def test_forged_and_replayed_socket_messages_change_nothing(
    node: Node, court: dict[str, Console]
) -> None:
    """The event socket only tells: what a browser sends on it is ignored. A forged
    direction, or a replayed receipt, reaches no one and stores nothing."""
    sid = (await _session(court))["id"]
    base = f"/api/sessions/{sid}"
    await _post(court["director"], f"{base}/start", {})
    async with (
        court["obs"].http.ws_connect(f"{node.url}/ws/events") as forger,
        court["pros-a"].http.ws_connect(f"{node.url}/ws/events") as prosecutor,
    ):
        forged = {"topic": "direction.sent", "data": {"direction": {"id": 1, "text": "撤诉"}}}
        await forger.send_json(forged)
        await forger.send_str("{not json")
        await forger.send_bytes(b"\x00\xff")
        assert "direction.sent" not in await _topics(prosecutor, 0.5)
        assert not forger.closed  # ignored, not fatal
    full = await court["director"].json(base)
    assert full["directions"] == []
    # A receipt replayed later is the same receipt: the first read stays.
    _, sent = await _post(court["director"], f"{base}/directions", {"text": "请发问"})
    _, first = await _post(court["pros-a"], f"{base}/directions/{sent['id']}/read", {})
    _, again = await _post(court["pros-a"], f"{base}/directions/{sent['id']}/read", {})
    assert again["read_at"] == first["read_at"]
    audit = await asyncio.to_thread(node.app[ARCHIVE_KEY].catalog.audit_trail, f"session:{sid}")
    assert [r["action"] for r in audit].count("direction.read") == 1
