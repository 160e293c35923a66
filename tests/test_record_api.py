"""The interrogation record (笔录) on a real node: the clerk's saves become versions with
their sha256 and an audit row each; a stale base is a 409 carrying the current version;
the same text is no new version; bounds and control characters are refused; the record
changes while live or ended and never once sealed; the director and the prosecutor read
it, an observer and another county do not; the event names the version, not the text."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from signaling import ARCHIVE_KEY, HEARINGS_KEY, MAX_RECORD, USERS_KEY

from .conftest import Node
from .console import PASSWORD, Console, add_station, add_user, logged_in


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def _call(c: Console, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    kwargs = {} if body is None else {"data": json.dumps(body, ensure_ascii=False)}
    answer = await c.request(method, path, **kwargs)
    try:
        return answer.status, json.loads(answer.text)
    except json.JSONDecodeError:
        return answer.status, answer.text


async def _topics(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[Any]:
    seen = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        assert msg.type == WSMsgType.TEXT, msg
        seen.append(msg.json())
    return seen


@pytest.fixture
async def people(node: Node) -> AsyncIterator[dict[str, Console]]:
    await add_station(
        node.app, "room-a", ["room-a-wide"], "甲县", "看守所 提讯室", "interrogation_room"
    )
    await add_user(node.app, "director", "commander")
    await add_user(node.app, "obs", "observer")
    await add_user(node.app, "clerk", "clerk")
    for name, county in [("pros-a", "甲县"), ("pros-b", "乙县")]:
        await asyncio.to_thread(
            node.app[USERS_KEY].add, name, "prosecutor", PASSWORD, county=county
        )
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(logged_in(node.url, name))
            for name in ("director", "obs", "clerk", "pros-a", "pros-b")
        }


async def _go_live(node: Node, sid: str) -> None:
    """Live through the store: these tests are about the record; the start gate (every
    stream recording first) has its own, in tests/test_seal.py."""
    await asyncio.to_thread(node.app[HEARINGS_KEY].transition, sid, "live", "user:director")


async def _interrogation(node: Node, c: dict[str, Console], *, start: bool = True) -> str:
    status, body = await _call(
        c["director"],
        "POST",
        "/api/sessions",
        {
            "kind": "interrogation",
            "station": "room-a",
            "title": "李某盗窃案提讯",
            "case_no": "甲检刑捕〔2026〕7号",
            "participants": [
                {"user": "pros-a", "part": "prosecutor"},
                {"user": "obs", "part": "observer"},
                {"user": "clerk", "part": "clerk"},
            ],
        },
    )
    assert status == 201, body
    sid: str = body["id"]
    if start:
        await _go_live(node, sid)
    return sid


async def test_each_save_is_a_version_with_its_sha256_told_to_the_readers_without_text(
    node: Node, people: dict[str, Console]
) -> None:
    sid = await _interrogation(node, people)
    record = f"/api/sessions/{sid}/record"
    status, empty = await _call(people["clerk"], "GET", record)
    assert status == 200 and empty["version"] == 0 and empty["text"] == ""

    async with AsyncExitStack() as stack:
        ws = {
            name: await stack.enter_async_context(
                people[name].http.ws_connect(f"{node.url}/ws/events")
            )
            for name in ("director", "obs", "pros-b")
        }
        first = "问 你叫什么名字\n答 李某。\t"
        status, saved = await _call(
            people["clerk"], "PUT", record, {"text": first, "base_version": 0}
        )
        assert status == 201, saved
        assert saved["version"] == 1 and saved["sha256"] == sha(first)
        assert saved["saved_by"] == "clerk" and "text" not in saved
        told = {name: await _topics(w, 0.5) for name, w in ws.items()}
    events = [m for m in told["director"] if m["topic"] == "session.record"]
    assert len(events) == 1 and "audience" not in events[0]["data"]
    assert events[0]["data"]["record"]["version"] == 1
    assert first not in json.dumps(events[0], ensure_ascii=False)
    assert not [m for m in told["obs"] + told["pros-b"] if m["topic"] == "session.record"]

    # The same text again: no new version, whatever the base says.
    status, same = await _call(people["clerk"], "PUT", record, {"text": first, "base_version": 0})
    assert status == 200 and same["version"] == 1
    second = first + "\n问 案发当天你在哪里"
    status, saved = await _call(people["clerk"], "PUT", record, {"text": second, "base_version": 1})
    assert status == 201 and saved["version"] == 2

    for reader in ("director", "pros-a", "clerk"):
        status, latest = await _call(people[reader], "GET", record)
        assert status == 200 and latest["text"] == second and latest["version"] == 2, reader
    status, listed = await _call(people["director"], "GET", f"{record}/versions")
    assert status == 200
    assert [(v["version"], v["sha256"]) for v in listed["versions"]] == [
        (1, sha(first)),
        (2, sha(second)),
    ]
    assert all("text" not in v for v in listed["versions"])
    status, old = await _call(people["pros-a"], "GET", f"{record}/versions/1")
    assert status == 200 and old["text"] == first and old["sha256"] == sha(first)
    assert (await _call(people["pros-a"], "GET", f"{record}/versions/3"))[0] == 404
    assert (await _call(people["pros-a"], "GET", f"{record}/versions/x"))[0] == 404

    audit = await asyncio.to_thread(node.app[ARCHIVE_KEY].catalog.audit_trail, f"session:{sid}")
    saves = [r for r in audit if r["action"] == "record.save"]
    assert [r["detail"] for r in saves] == [
        {"version": 1, "sha256": sha(first)},
        {"version": 2, "sha256": sha(second)},
    ]
    assert all(r["target"] == f"session:{sid}/record" for r in saves)


async def test_a_stale_base_is_a_409_with_the_current_version_to_merge_with(
    node: Node,
    people: dict[str, Console],
) -> None:
    sid = await _interrogation(node, people)
    record = f"/api/sessions/{sid}/record"
    clerk = people["clerk"]
    assert (await _call(clerk, "PUT", record, {"text": "甲", "base_version": 0}))[0] == 201
    assert (await _call(clerk, "PUT", record, {"text": "甲乙", "base_version": 1}))[0] == 201
    status, conflict = await _call(clerk, "PUT", record, {"text": "甲丙", "base_version": 1})
    assert status == 409
    assert "version 2" in conflict["reason"]
    assert conflict["current"]["version"] == 2 and conflict["current"]["text"] == "甲乙"
    status, latest = await _call(clerk, "GET", record)
    assert latest["version"] == 2 and latest["text"] == "甲乙"


async def test_bounds_control_characters_and_who_may_do_what(
    node: Node,
    people: dict[str, Console],
) -> None:
    sid = await _interrogation(node, people, start=False)
    record = f"/api/sessions/{sid}/record"
    clerk = people["clerk"]
    status, reason = await _call(clerk, "PUT", record, {"text": "早", "base_version": 0})
    assert status == 409 and "scheduled" in reason
    await _go_live(node, sid)

    too_long = "字" * (MAX_RECORD + 1)
    status, reason = await _call(clerk, "PUT", record, {"text": too_long, "base_version": 0})
    assert status == 413 and str(MAX_RECORD) in reason
    longest = "字" * MAX_RECORD
    assert (await _call(clerk, "PUT", record, {"text": longest, "base_version": 0}))[0] == 201
    for bad in ("a\x00b", "a\rb", "a\x1bb", "a\x7fb"):
        status, reason = await _call(clerk, "PUT", record, {"text": bad, "base_version": 1})
        assert status == 400 and "control characters" in reason, bad
    for body in ({"text": "x"}, {"text": "x", "base_version": "1"}, {"text": 3, "base_version": 1}):
        assert (await _call(clerk, "PUT", record, body))[0] == 400, body

    # The clerk writes; the director and the prosecutor in court read; an observer
    # neither; another county sees no such session.
    assert (await _call(people["director"], "PUT", record, {"text": "y", "base_version": 1}))[
        0
    ] == 403
    assert (await _call(people["pros-a"], "PUT", record, {"text": "y", "base_version": 1}))[
        0
    ] == 403
    for path in (record, f"{record}/versions", f"{record}/versions/1"):
        assert (await _call(people["obs"], "GET", path))[0] == 403, path
        assert (await _call(people["pros-b"], "GET", path))[0] == 404, path
    assert (await _call(people["obs"], "PUT", record, {"text": "y", "base_version": 1}))[0] == 403
    assert (await _call(people["pros-b"], "PUT", record, {"text": "y", "base_version": 1}))[
        0
    ] == 404


async def test_the_record_changes_until_the_seal_and_never_after(
    node: Node, people: dict[str, Console]
) -> None:
    sid = await _interrogation(node, people)
    record = f"/api/sessions/{sid}/record"
    clerk = people["clerk"]
    assert (await _call(clerk, "PUT", record, {"text": "问答", "base_version": 0}))[0] == 201
    # Ended (and not yet sealed): the clerk may still finish the record.
    await asyncio.to_thread(node.app[HEARINGS_KEY].transition, sid, "ended", "user:director")
    status, saved = await _call(clerk, "PUT", record, {"text": "问答完毕", "base_version": 1})
    assert status == 201 and saved["version"] == 2
    await asyncio.to_thread(node.app[HEARINGS_KEY].transition, sid, "sealed", "user:director")

    status, reason = await _call(clerk, "PUT", record, {"text": "改动", "base_version": 2})
    assert status == 409 and reason.strip() == "sealed: the record can no longer change"
    status, listed = await _call(clerk, "GET", f"{record}/versions")
    assert [v["version"] for v in listed["versions"]] == [1, 2]
    status, latest = await _call(people["director"], "GET", record)
    assert latest["text"] == "问答完毕"
