"""The evidence-copy job on a real node (issue 9 item 5): an interrogation recorded by
real aiortc publishers, interrupted and sealed, gets one MP4 rendered in the background;
its progress is told as `session.copy`, its file hashes to what the row and the download
say, ffprobe finds the session's length, and its signed derived record verifies with the
node's key and names the seal. Who may read it, and the clear 4xx for the rest. A node
stopping mid-render leaves the copy queued with no file, and the next start renders it;
a render that cannot be made is recorded as failed with its reason, and an auditor
queues it again."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select, update

from catalog import Catalog, CatalogSettings, EvidenceCopyRow, parse_iso
from recorder import verify_signature
from signaling import (
    ARCHIVE_KEY,
    COPIES_KEY,
    HEARINGS_KEY,
    RECORDER_KEY,
    EvidenceCopies,
    EvidenceCopy,
)

from .conftest import Node
from .console import Console, add_station, add_user, logged_in
from .test_seal import CAM, _node, post, publisher
from .test_session_binding import until

RENDER_TIMEOUT = 120.0  # a few seconds of 720p on a shared, busy machine


async def _start_node(tmp_path: Path, **settings: object) -> AsyncIterator[Node]:
    async for node in _node(tmp_path, **settings):
        yield node


async def _people(node: Node) -> None:
    await add_station(node.app, "int-a", [CAM], kind="interrogation_room")
    for name, role in (
        ("director", "commander"),
        ("other", "commander"),
        ("obs", "observer"),
        ("aud", "auditor"),
        ("adm", "admin"),
    ):
        await add_user(node.app, name, role)


async def seal_interrogation(node: Node, director: Console, *, segments: int = 3) -> str:
    """Create, record (both sides), interrupt the room's camera once, and seal."""
    recorder = node.app[RECORDER_KEY]
    station = publisher(node, CAM)
    await station.start()
    city = None
    try:
        body = {
            "kind": "interrogation",
            "station": "int-a",
            "title": "李某讯问",
            "case_no": "甲检2026-7",
            "participants": [{"user": "obs", "part": "observer"}],
        }
        sid = str((await post(director, "/api/sessions", body, 201))["id"])
        city_stream = f"{sid}-city"
        media = await post(
            director, f"/api/sessions/{sid}/media", {"stream": "city", "direction": "publish"}, 201
        )
        city = publisher(node, city_stream, media["token"], node.url + media["url"])
        await city.start()
        await until(lambda: recorder.has_media(CAM), "the room camera recorded")
        await until(lambda: recorder.has_media(city_stream), "the city camera recorded")
        await post(director, f"/api/sessions/{sid}/start", {})

        def bound(stream: str) -> int:
            rec = recorder.active.get(stream)
            ok = rec is not None and rec.manifest.session == sid
            return len(rec.manifest.segments) if rec is not None and ok else 0

        await until(lambda: bound(CAM) >= 1, "bound room segments")
        # The room's publisher drops and comes back: an interruption (a slate in the copy).
        await station.stop()

        async def interruptions() -> list[dict[str, Any]]:
            return list((await director.json(f"/api/sessions/{sid}"))["interruptions"])

        deadline = time.monotonic() + 10
        while not await interruptions():
            assert time.monotonic() < deadline, "no interruption stored"
            await asyncio.sleep(0.05)
        station = publisher(node, CAM)
        await station.start()
        while (await interruptions())[0]["ended_at"] is None:
            assert time.monotonic() < deadline + 10, "the interruption did not end"
            await asyncio.sleep(0.05)
        await until(lambda: bound(CAM) >= segments - 1, "room segments again", 30)
        await until(lambda: bound(city_stream) >= segments, "city segments", 30)
        sealed = await post(director, f"/api/sessions/{sid}/end", {})
        assert sealed["state"] == "sealed", sealed
        return sid
    finally:
        await station.stop()
        if city is not None:
            await city.stop()


async def copy_of(node: Node, sid: str) -> EvidenceCopy | None:
    return await asyncio.to_thread(node.app[COPIES_KEY].get, sid)


async def wait_state(node: Node, sid: str, *states: str) -> EvidenceCopy:
    deadline = time.monotonic() + RENDER_TIMEOUT
    while True:
        copy = await copy_of(node, sid)
        if copy is not None and copy.state in states:
            return copy
        assert time.monotonic() < deadline, f"copy of {sid} not {states}: {copy}"
        await asyncio.sleep(0.1)


async def download(
    c: Console, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    async with c.http.get(c.url + path, headers=headers or {}) as resp:
        return resp.status, await resp.read()


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout)["format"]["duration"])


async def _events(ws: aiohttp.ClientWebSocketResponse, into: list[dict[str, Any]]) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            return
        message = msg.json()
        if message["topic"] == "session.copy":
            into.append(message["data"]["copy"])


def _stored_copy(data_dir: Path, sid: str) -> tuple[str, float] | None:
    """The copy's row as a stopped node left it (its own engine)."""
    catalog = Catalog.open(CatalogSettings(data_dir=data_dir))
    try:
        with catalog.engine.connect() as conn:
            row = conn.execute(
                select(EvidenceCopyRow.state, EvidenceCopyRow.progress).where(
                    EvidenceCopyRow.hearing_id == sid
                )
            ).first()
            return None if row is None else (row[0], row[1])
    finally:
        catalog.dispose()


async def test_a_sealed_interrogation_gets_a_signed_evidence_copy(tmp_path: Path) -> None:
    data_dir, copies_dir = tmp_path / "var", tmp_path / "var" / "copies"
    async for node in _start_node(tmp_path):
        await _people(node)
        told: list[dict[str, Any]] = []
        async with (
            logged_in(node.url, "director") as director,
            logged_in(node.url, "aud") as aud,
            aud.http.ws_connect(f"{node.url}/ws/events") as ws,
        ):
            follower = asyncio.ensure_future(_events(ws, told))
            sid = await seal_interrogation(node, director)
            done = await wait_state(node, sid, "done", "failed")
            assert done.state == "done", done.error
            await until(lambda told=told: any(e["state"] == "done" for e in told), "done told")
            follower.cancel()
            session = await director.json(f"/api/sessions/{sid}")

            # Progress was told as it rose, from the start of the render to done.
            mine = [e for e in told if e["session"] == sid]
            states = [e["state"] for e in mine]
            assert states[0] == "queued" and states[-1] == "done", states
            rendering = [e["progress"] for e in mine if e["state"] in ("rendering", "done")]
            assert rendering[0] == 0.0 and rendering[-1] == 1.0
            assert rendering == sorted(rendering), rendering

            # The API, the file and the download agree.
            api = await aud.json(f"/api/sessions/{sid}/copy")
            assert api["state"] == "done" and api["progress"] == 1.0
            path = copies_dir / f"{sid}.mp4"
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == api["sha256"] == done.sha256
            assert api["bytes"] == len(data) == done.bytes
            status, body = await download(aud, f"/api/sessions/{sid}/copy.mp4")
            assert status == 200 and hashlib.sha256(body).hexdigest() == api["sha256"]
            status, part = await download(
                aud, f"/api/sessions/{sid}/copy.mp4", {"Range": "bytes=0-99"}
            )
            assert status == 206 and part == data[:100]
            assert not list(copies_dir.glob("*.part"))

            # As long as the session, by ffprobe.
            span = (
                parse_iso(session["ended_at"]) - parse_iso(session["started_at"])
            ).total_seconds()
            assert abs(ffprobe_duration(path) - span) <= 1.0, (ffprobe_duration(path), span)

            # The signed derived record: verifies with the node's key, names the seal.
            status, record_bytes = await download(aud, f"/api/sessions/{sid}/copy.json")
            assert status == 200
            status, signature = await download(aud, f"/api/sessions/{sid}/copy.sig")
            assert status == 200 and len(signature) == 64
            public = node.app[RECORDER_KEY].key.public_pem
            assert api["public_key"] == public.decode()
            assert verify_signature(public, record_bytes, signature)
            assert not verify_signature(public, record_bytes.replace(b"7", b"8"), signature)
            record = json.loads(record_bytes)
            assert record == api["record"]
            seal = session["seal"]
            stored_seal = await asyncio.to_thread(node.app[HEARINGS_KEY].seal_of, sid)
            assert stored_seal is not None
            assert record["format"] == "vdispatch-copy/1" and record["derived"] is True
            assert record["session"] == sid and record["case_no"] == "甲检2026-7"
            seal_hash = hashlib.sha256(stored_seal["record"].encode()).hexdigest()
            assert record["seal"]["sha256"] == seal_hash
            assert record["seal"]["signature"] == seal["signature"]
            assert record["copy"]["sha256"] == api["sha256"]
            assert record["copy"]["bytes"] == api["bytes"]
            assert "derived" in record["statement"]["en"] and "衍生" in record["statement"]["zh"]
            sealed = seal["record"]["recordings"]  # the room's: one before, one after the drop
            assert record["recordings"]["main"] == [r["id"] for r in sealed if r["stream"] == CAM]
            assert record["recordings"]["pip"] == [
                r["id"] for r in sealed if r["stream"] == f"{sid}-city"
            ]
            [gap] = record["gaps"]
            assert gap["where"] == "main" and CAM in gap["label"]
            assert "推流端断开 publisher disconnected" in gap["label"]
            assert record["renderer"]["module"] == "recorder.evidence_copy"
            assert record["renderer"]["pyav"] and record["renderer"]["ffmpeg"]

            # The archive's session page shows it, in Chinese first.
            page = await aud.get(f"/archive/sessions/{sid}")
            assert page.status == 200 and "证据副本" in page.text and done.sha256 in page.text
            assert 'id="copy" data-state="done"' in page.text and "衍生" in page.text
            page = await aud.get(f"/archive/sessions/{sid}?lang=en")
            assert "Evidence copy" in page.text and "derived" in page.text

            # Who may read it.
            assert (await director.get(f"/api/sessions/{sid}/copy")).status == 200
            assert (await director.post(f"/api/sessions/{sid}/copy")).status == 403
            async with logged_in(node.url, "obs") as obs:
                assert (await obs.get(f"/api/sessions/{sid}/copy")).status == 200
                status, _ = await download(obs, f"/api/sessions/{sid}/copy.sig")
                assert status == 200
            async with logged_in(node.url, "other") as other:
                refused = await other.get(f"/api/sessions/{sid}/copy")
                assert refused.status == 403 and "participants and auditors" in refused.text
                assert (await other.get(f"/api/sessions/{sid}/copy.mp4")).status == 403
            async with logged_in(node.url, "adm") as adm:
                assert (await adm.get(f"/api/sessions/{sid}/copy")).status == 200
                refused = await adm.get(f"/api/sessions/{sid}/copy.mp4")
                assert refused.status == 403 and "not its pictures" in refused.text
            # Unknown sessions, and one not sealed.
            for path_ in ("/api/sessions/nope/copy", "/api/sessions/nope/copy.mp4"):
                missing = await aud.get(path_)
                assert missing.status == 404 and "no session nope" in missing.text
            body = {"kind": "interrogation", "station": "int-a", "title": "t", "case_no": "c"}
            scheduled = str((await post(director, "/api/sessions", body, 201))["id"])
            refused = await aud.get(f"/api/sessions/{scheduled}/copy")
            assert refused.status == 409 and "sealed" in refused.text
            page = await aud.get(f"/archive/sessions/{scheduled}?lang=zh")
            assert page.status == 200 and "会话封存后制作证据副本" in page.text
            assert (await aud.post(f"/api/sessions/{scheduled}/copy")).status == 409

            audit = node.app[ARCHIVE_KEY].catalog
            actions = [
                r["action"]
                for r in await asyncio.to_thread(audit.audit_rows, target=f"session:{sid}/copy")
            ]
            assert actions[:2] == ["session.copy.queued", "session.copy.done"]
            assert "session.copy.download" in actions

            # Rendered again, and the node stops mid-render: queued, no file left.
            again = await aud.post(f"/api/sessions/{sid}/copy")
            assert again.status == 202 and json.loads(again.text)["state"] == "queued"
            await wait_state(node, sid, "rendering")
    assert await asyncio.to_thread(_stored_copy, data_dir, sid) == ("queued", 0.0)
    assert not (copies_dir / f"{sid}.mp4").exists()
    assert not list(copies_dir.glob("*.part"))

    # The next start renders it.
    async for node in _start_node(tmp_path):
        done = await wait_state(node, sid, "done", "failed")
        assert done.state == "done", done.error
        path = copies_dir / f"{sid}.mp4"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == done.sha256


async def test_a_copy_that_cannot_be_made_fails_with_its_reason_and_is_queued_again(
    tmp_path: Path,
) -> None:
    data_dir, copies_dir = tmp_path / "var", tmp_path / "var" / "copies"
    # Sealed on a node that renders no copies.
    async for node in _start_node(tmp_path, recorder={"evidence_copies": False}):
        await _people(node)
        async with logged_in(node.url, "director") as director:
            sid = await seal_interrogation(node, director, segments=2)
            body = await director.json(f"/api/sessions/{sid}")
        assert await copy_of(node, sid) is None
        async with logged_in(node.url, "aud") as aud:
            refused = await aud.post(f"/api/sessions/{sid}/copy")
            assert refused.status == 409 and "evidence copies are off" in refused.text
    # Every picture gone (moved aside): nothing to decode.
    aside = tmp_path / "aside"
    for entry in body["seal"]["record"]["recordings"]:
        for seg in (data_dir / "recordings" / entry["id"]).glob("seg-*"):
            target = aside / entry["id"] / seg.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(seg, target)

    # A node that renders copies queues the sealed session at start; the render fails.
    async for node in _start_node(tmp_path):
        failed = await wait_state(node, sid, "failed", "done")
        assert failed.state == "failed" and failed.error, failed
        assert "decodable" in failed.error, failed.error
        assert not (copies_dir / f"{sid}.mp4").exists()
        assert not list(copies_dir.glob("*.part"))
        async with logged_in(node.url, "aud") as aud:
            api = await aud.json(f"/api/sessions/{sid}/copy")
            assert api["state"] == "failed" and api["error"] == failed.error
            missing = await aud.get(f"/api/sessions/{sid}/copy.mp4")
            assert missing.status == 404 and "failed" in missing.text
            audit = node.app[ARCHIVE_KEY].catalog
            rows = await asyncio.to_thread(audit.audit_rows, target=f"session:{sid}/copy")
            assert [r["action"] for r in rows] == ["session.copy.queued", "session.copy.failed"]
            assert rows[1]["detail"]["reason"] == failed.error
            # The pictures are back: an auditor queues it again, and it is made.
            for seg in aside.glob("*/seg-*"):
                shutil.move(seg, data_dir / "recordings" / seg.parent.name / seg.name)
            again = await aud.post(f"/api/sessions/{sid}/copy")
            assert again.status == 202, again.text
            done = await wait_state(node, sid, "done", "failed")
            assert done.state == "done", done.error
            status, data = await download(aud, f"/api/sessions/{sid}/copy.mp4")
            assert status == 200 and hashlib.sha256(data).hexdigest() == done.sha256

    # A crash mid-render: the row says rendering, a partial file lies there. The next
    # start removes the partial file and renders it again.
    def crashed() -> None:
        catalog = Catalog.open(CatalogSettings(data_dir=data_dir))
        try:
            with catalog.engine.begin() as conn:
                conn.execute(
                    update(EvidenceCopyRow)
                    .where(EvidenceCopyRow.hearing_id == sid)
                    .values(state="rendering", progress=0.4, node="node-x")
                )
            # In a cluster where node-x is alive, another node starting leaves its render
            # alone, and cannot begin it a second time.
            copies = EvidenceCopies(catalog.engine)
            assert copies.requeue_unfinished(busy={"node-x"}) == []
            assert copies.begin(sid, "node-y") is None
            copy = copies.get(sid)
            assert copy is not None and copy.state == "rendering"
        finally:
            catalog.dispose()

    await asyncio.to_thread(crashed)
    (copies_dir / f"{sid}.mp4").unlink()
    (copies_dir / f"{sid}.mp4.part").write_bytes(b"half a copy")
    async for node in _start_node(tmp_path):
        done = await wait_state(node, sid, "done", "failed")
        assert done.state == "done", done.error
        assert hashlib.sha256((copies_dir / f"{sid}.mp4").read_bytes()).hexdigest() == done.sha256
        assert not list(copies_dir.glob("*.part"))
