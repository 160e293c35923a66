"""An interrogation on a real node (issue 9 items 2 and 4): it goes live only once both
sides (the station's camera and the director's city camera, real aiortc publishers) are
recorded; the station's publisher dropping mid-session is an interruption both sides
hear of at once, ended when it is back; ending seals it (signed, every recording on
legal hold, retention keeps them); `vdispatch verify --session` checks it offline and
names a flipped byte; `vdispatch export --session` checks out with sha256sum and openssl."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import text

from camera_agents import WhipPublisher
from catalog import run_retention
from cluster import Event
from media_gateway import set_host_addresses
from signaling import ARCHIVE_KEY, BUS_KEY, NODE_KEY, RECORDER_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .console import Console, add_station, add_user, logged_in
from .peers import EncodedVideoTrack, encode_vp8
from .test_session_binding import until
from .test_verify import cli

CAM = "int-a-cam"
OPENSSL_VERIFY = ["openssl", "pkeyutl", "-verify", "-pubin", "-rawin"]


async def _node(tmp_path: Path, **settings: object) -> AsyncIterator[Node]:
    loaded = load_settings(
        data_dir=tmp_path / "var",
        ice_addresses="127.0.0.1",
        segment_seconds=2,
        reconnect_grace=0.5,
        **settings,
    )
    app = build_app(loaded)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    try:
        yield Node(url=str(server.make_url("")).rstrip("/"), app=app)
    finally:
        await server.close()
        set_host_addresses(None)


@pytest.fixture
async def int_node(tmp_path: Path) -> AsyncIterator[Node]:
    async for node in _node(tmp_path):
        yield node


@pytest.fixture
async def unrecorded_node(tmp_path: Path) -> AsyncIterator[Node]:
    async for node in _node(tmp_path, record=False):
        yield node


async def post(c: Console, path: str, body: object, status: int = 200) -> dict:
    answer = await c.post(path, data=json.dumps(body))
    assert answer.status == status, (path, answer.status, answer.text)
    return json.loads(answer.text) if answer.text.startswith("{") else {"text": answer.text}


async def create(director: Console) -> str:
    created = await post(
        director,
        "/api/sessions",
        {"kind": "interrogation", "station": "int-a", "title": "李某讯问", "case_no": "甲检2026-7"},
        201,
    )
    return str(created["id"])


async def _next(ws: aiohttp.ClientWebSocketResponse, topic: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        message = msg.json()
        if message["topic"] == topic:
            return dict(message)


def publisher(node: Node, stream: str, token: str | None = None, url: str | None = None) -> Any:
    frames = encode_vp8(60, gop=30)
    return WhipPublisher(
        url or node.whip(stream), token or node.token(stream), [EncodedVideoTrack(frames)]
    )


async def test_an_interrogation_is_recorded_interrupted_sealed_and_verified(
    int_node: Node, tmp_path: Path
) -> None:
    node, app, data_dir = int_node, int_node.app, tmp_path / "var"
    recorder = app[RECORDER_KEY]
    await add_station(app, "int-a", [CAM], kind="interrogation_room")
    await add_user(app, "director", "commander")
    await add_user(app, "aud", "auditor")
    station = publisher(node, CAM)
    await station.start()
    city = None
    try:
        async with (
            logged_in(node.url, "director") as director,
            director.http.ws_connect(f"{node.url}/ws/events") as ws,
        ):
            sid = await create(director)
            city_stream = f"{sid}-city"
            await until(lambda: recorder.has_media(CAM), "the station camera recorded")
            # The city camera is not on air: the start is refused, naming it.
            refused = await post(director, f"/api/sessions/{sid}/start", {}, 409)
            assert city_stream in refused["text"]
            # The director connects the city camera before the start.
            media = await post(
                director,
                f"/api/sessions/{sid}/media",
                {"stream": "city", "direction": "publish"},
                201,
            )
            city = publisher(node, city_stream, media["token"], node.url + media["url"])
            await city.start()
            await until(lambda: recorder.has_media(city_stream), "the city camera recorded")
            started = await post(director, f"/api/sessions/{sid}/start", {})
            assert started["state"] == "live"

            def bound_segments(stream: str) -> int:
                rec = recorder.active.get(stream)
                ok = rec is not None and rec.manifest.session == sid
                return len(rec.manifest.segments) if rec is not None and ok else 0

            await until(lambda: bound_segments(CAM) >= 1, "bound station segments")
            # The station's publisher drops: an interruption, told at once.
            dropped = time.monotonic()
            await station.stop()
            told = await _next(ws, "session.interruption", timeout=2.0)
            assert time.monotonic() - dropped <= 2.0
            assert told["data"]["interruption"]["stream"] == CAM
            body = await director.json(f"/api/sessions/{sid}")
            [interruption] = body["interruptions"]
            assert interruption["stream"] == CAM and interruption["kind"] == "stream-lost"
            assert interruption["reason"] == "publisher disconnected"
            assert interruption["ended_at"] is None
            # Back (within the recorder's grace period): the interruption ends, once.
            station = publisher(node, CAM)
            await station.start()
            await _next(ws, "session.interruption-ended", timeout=5.0)
            body = await director.json(f"/api/sessions/{sid}")
            [interruption] = body["interruptions"]
            assert interruption["ended_at"] is not None
            ended_at = interruption["ended_at"]
            await until(lambda: bound_segments(CAM) >= 1, "bound station segments again")
            # A recording's alarm is an interruption too, ended by its next segment.
            alarm = {"recording_id": "x", "stream": CAM, "kind": "disk-full", "message": "full"}
            # (this node's recorder: another node's alarms are that node's to tell)
            await app[BUS_KEY].publish(Event("recording.alarm", alarm, app[NODE_KEY].node_id))
            told = await _next(ws, "session.interruption", timeout=2.0)
            assert told["data"]["interruption"]["kind"] == "recording-failed"
            await _next(ws, "session.interruption-ended", timeout=5.0)
            await until(lambda: bound_segments(city_stream) >= 1, "bound city segments")

            # Ending seals it.
            sealed = await post(director, f"/api/sessions/{sid}/end", {})
            assert sealed["state"] == "sealed", sealed
            await post(director, f"/api/sessions/{sid}/end", {}, 409)
            await post(director, f"/api/sessions/{sid}/seal", {}, 409)
            body = await director.json(f"/api/sessions/{sid}")
            seal = body["seal"]
            record = seal["record"]
            assert record["session"] == sid and record["case_no"] == "甲检2026-7"
            assert record["interruptions"] == body["interruptions"]
            lost, failed = body["interruptions"]
            assert lost["ended_at"] == ended_at  # set once, never changed
            assert (failed["kind"], failed["reason"]) == ("recording-failed", "full")
            assert failed["ended_at"] is not None
            assert record["record"] is None
            streams = {r["stream"] for r in record["recordings"]}
            assert streams == {CAM, city_stream}
            assert all(r["segments"] >= 1 for r in record["recordings"])
            # The room was recorded before the start: the recording it was cut over from
            # (at the next keyframe) is sealed too, so the seal covers the session from
            # its first second.
            room = [r for r in record["recordings"] if r["stream"] == CAM]
            first = min(datetime.fromisoformat(r["started_at"]) for r in room)
            assert first <= datetime.fromisoformat(record["started_at"]), room
            assert any(r["bound_to"] is None for r in room), room
            sealed_ids = [r["id"] for r in record["recordings"]]
        # The interruption is on the session's timeline in the archive, both ends.
        async with logged_in(node.url, "aud") as aud:
            page = await aud.get(f"/archive/sessions/{sid}?lang=en")
            assert page.status == 200, page.text
            assert 'class="mark interruption"' in page.text
            assert 'class="mark resumed"' in page.text
            assert f"Interrupted {CAM}: publisher disconnected" in page.text
    finally:
        await station.stop()
        if city is not None:
            await city.stop()

    # Retention never deletes a sealed recording: each carries a legal hold.
    catalog = app[ARCHIVE_KEY].catalog
    for rid in sealed_ids:
        assert catalog.hold_file(rid).exists()
    decisions = await asyncio.to_thread(
        run_retention, catalog, "test", datetime.now(UTC) + timedelta(days=36500)
    )
    kept = {d.recording_id for d in decisions if d.action == "keep"}
    assert set(sealed_ids) <= kept
    for rid in sealed_ids:
        assert (data_dir / "recordings" / rid).is_dir()

    # Offline checks, by the CLI.
    result = await asyncio.to_thread(cli, data_dir, "verify", "--session", sid)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sealed, seal signature OK" in result.stdout

    out = tmp_path / "session.zip"
    result = await asyncio.to_thread(cli, data_dir, "export", "--session", sid, "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(out) as z:
        z.extractall(unpacked)
    assert {"seal.json", "seal.sig", "node.pub", "SHA256SUMS", "README.txt"} <= set(
        os.listdir(unpacked)
    )
    sums = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=unpacked, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    for key, data, sig in [("node.pub", "seal.json", "seal.sig")] + [
        (f"{rid}/node.pub", f"{rid}/manifest.json", f"{rid}/manifest.sig") for rid in sealed_ids
    ]:
        ossl = subprocess.run(
            [*OPENSSL_VERIFY, "-inkey", key, "-in", data, "-sigfile", sig],
            cwd=unpacked,
            capture_output=True,
            text=True,
        )
        assert "Signature Verified Successfully" in ossl.stdout, ossl.stdout + ossl.stderr
    readme = (unpacked / "README.txt").read_text()
    assert "Evidence package: session" in readme
    one_liner = next(
        line.strip() for line in readme.splitlines() if line.strip().startswith("python3 -c")
    )
    chain = subprocess.run(["bash", "-c", one_liner], cwd=unpacked, capture_output=True, text=True)
    assert chain.returncode == 0 and "MISMATCH" not in chain.stdout, chain.stdout + chain.stderr
    assert chain.stdout.count("OK") == len(sealed_ids)

    # Any change is detected: one byte of one sealed segment.
    target = sorted((data_dir / "recordings" / sealed_ids[0]).glob("seg-*"))[0]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    result = await asyncio.to_thread(cli, data_dir, "verify", "--session", sid)
    assert result.returncode == 1, result.stdout + result.stderr
    assert target.name in result.stdout and sealed_ids[0] in result.stdout
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    assert (await asyncio.to_thread(cli, data_dir, "verify", "--session", sid)).returncode == 0

    # ... and so is a change to the seal record in the catalog.
    def tamper() -> None:
        with catalog.engine.begin() as conn:
            conn.execute(
                text("UPDATE hearing_seals SET record = replace(record, :a, :b)"),
                {"a": "甲检2026-7", "b": "甲检2026-8"},
            )

    await asyncio.to_thread(tamper)
    result = await asyncio.to_thread(cli, data_dir, "verify", "--session", sid)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the seal's signature does not match its record" in result.stdout


async def test_an_interrogation_does_not_start_without_recording(unrecorded_node: Node) -> None:
    node = unrecorded_node
    await add_station(node.app, "int-a", [CAM], kind="interrogation_room")
    await add_user(node.app, "director", "commander")
    async with logged_in(node.url, "director") as director:
        sid = await create(director)
        refused = await post(director, f"/api/sessions/{sid}/start", {}, 409)
        assert "recording is off on this node" in refused["text"]
        body = await director.json(f"/api/sessions/{sid}")
        assert body["state"] == "scheduled" and body["seal"] is None


async def test_the_director_connects_before_the_start_and_the_city_picture_stays_up(
    int_node: Node, chromium_path: str
) -> None:
    """In real Chromium: the director's page of a scheduled interrogation publishes the
    city picture first; the start goes live without a reload (no interruption of the
    city picture); the end seals it."""
    from .test_browser import chromium, collect_errors, log_in

    node, app = int_node, int_node.app
    recorder = app[RECORDER_KEY]
    await add_station(app, "int-a", [CAM], kind="interrogation_room")
    await add_user(app, "director", "commander")
    station = publisher(node, CAM)
    await station.start()
    try:
        async with logged_in(node.url, "director") as api:
            sid = await create(api)
        async with chromium(chromium_path) as browser:
            page = await (await browser.new_context()).new_page()
            errors = collect_errors(page)
            await page.goto(f"{node.url}/sessions/{sid}")
            await log_in(page, node.url, "director")
            await page.locator('#events-state[data-state="open"]').wait_for(timeout=5000)
            await page.locator("#city-toggle").click()
            await page.locator('#city[data-state="connected"]').wait_for(timeout=15000)
            await until(lambda: recorder.has_media(f"{sid}-city"), f"city recorded {errors}")
            await until(lambda: recorder.has_media(CAM), "the station camera recorded")
            await page.evaluate("window.notReloaded = true")
            await page.locator("#start").click()
            await page.locator('#hearing[data-state="live"]').wait_for(timeout=5000)
            assert await page.evaluate("window.notReloaded") is True
            await page.locator("#end:not([hidden])").wait_for(timeout=5000)
            async with logged_in(node.url, "director") as api:
                body = await api.json(f"/api/sessions/{sid}")
            assert body["state"] == "live" and body["interruptions"] == [], body
            await page.locator("#end").click()
            await page.locator("#end").click()
            try:
                await page.locator('#hearing[data-state="sealed"]').wait_for(timeout=30000)
            except Exception:
                async with logged_in(node.url, "director") as api:
                    body = await api.json(f"/api/sessions/{sid}")
                raise AssertionError(f"{body['state']} {errors}") from None
            assert not [e for e in errors if "pageerror" in e], errors
    finally:
        await station.stop()
