"""Recordings made while a session is live are bound to it: two cameras of a courtroom
publish before, during and after a session; each is cut over to a recording of the
session when it starts and back when it ends, with nothing lost at the cuts; the catalog
and the archive's session page list the bound recordings, and an observer's comment sits
at its media time."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from camera_agents import WhipPublisher
from media_gateway import set_host_addresses
from recorder import Manifest, verify_recording
from recorder import manifest as mf
from signaling import RECORDER_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .console import Console, add_station, add_user, logged_in
from .peers import EncodedVideoTrack, encode_vp8
from .test_recorder import ffprobe

COURT = ["court-a-wide", "court-a-judge"]


@pytest.fixture
async def court_node(tmp_path: Path) -> AsyncIterator[Node]:
    settings = load_settings(
        data_dir=tmp_path / "var", ice_addresses="127.0.0.1", segment_seconds=2, reconnect_grace=0.5
    )
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    try:
        yield Node(url=str(server.make_url("")).rstrip("/"), app=app)
    finally:
        await server.close()
        set_host_addresses(None)


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


def manifests(data_dir: Path, stream: str) -> list[Manifest]:
    """The stream's recordings on disk, oldest first."""
    found = [mf.load(d) for d in (data_dir / "recordings").iterdir() if (d / mf.MANIFEST).is_file()]
    return sorted((m for m in found if m.stream == stream), key=lambda m: m.started_at)


def wall(iso_text: str) -> float:
    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


async def post(c: Console, path: str, body: object) -> dict:
    answer = await c.post(path, data=json.dumps(body))
    assert answer.status in (200, 201), (path, answer.status, answer.text)
    return json.loads(answer.text)


async def test_a_session_binds_the_recordings_of_its_streams_and_the_archive_shows_them(
    court_node: Node, tmp_path: Path
) -> None:
    app, data_dir = court_node.app, tmp_path / "var"
    recorder = app[RECORDER_KEY]
    await add_station(app, "court-a", COURT)
    for name, role in [("director", "commander"), ("obs", "observer"), ("aud", "auditor")]:
        await add_user(app, name, role)
    frames = encode_vp8(60, gop=30)
    publishers = [
        WhipPublisher(court_node.whip(s), court_node.token(s), [EncodedVideoTrack(frames)])
        for s in COURT
    ]
    for p in publishers:
        await p.start()

    def closed_segments(stream: str, session: str | None) -> int:
        rec = recorder.active.get(stream)
        if rec is None or rec.manifest.session != session:
            return 0
        return len(rec.manifest.segments)

    await until(lambda: all(closed_segments(s, None) >= 1 for s in COURT), "unbound segments")
    async with (
        logged_in(court_node.url, "director") as director,
        logged_in(court_node.url, "obs") as obs,
        logged_in(court_node.url, "aud") as aud,
    ):
        created = await post(
            director,
            "/api/sessions",
            {
                "kind": "direction",
                "station": "court-a",
                "title": "张某盗窃案",
                "case_no": "〔2026〕甲刑初12号",
                "participants": [{"user": "obs", "part": "observer"}],
            },
        )
        sid = created["id"]
        started = await post(director, f"/api/sessions/{sid}/start", {})
        started_at = wall(started["started_at"])
        await until(lambda: all(closed_segments(s, sid) >= 1 for s in COURT), "bound segments")
        # An observer watching live comments on what they see now.
        media_time = round(time.time() - started_at, 3)
        await post(
            obs, f"/api/sessions/{sid}/comments", {"text": "举证充分", "media_time": media_time}
        )
        await until(lambda: all(closed_segments(s, sid) >= 2 for s in COURT), "more bound")
        await post(director, f"/api/sessions/{sid}/end", {})
        await until(lambda: all(closed_segments(s, None) >= 1 for s in COURT), "unbound again")
        for p in publishers:
            await p.stop()

        def all_closed() -> bool:
            return all(
                len(ms) == 3 and all(m.state == "closed" for m in ms)
                for ms in (manifests(data_dir, s) for s in COURT)
            )

        await until(all_closed, "every recording closed")
        bound_ids = set()
        for stream in COURT:
            before, bound, after = manifests(data_dir, stream)
            assert [before.session, bound.session, after.session] == [None, sid, None]
            bound_ids.add(bound.recording_id)
            assert before.end_reason == f"session {sid} started"
            assert bound.end_reason == f"session {sid} ended"
            assert after.end_reason == "publisher lost"
            # The cut's reason heads the next recording's continuity log...
            assert (bound.continuity[0].kind, bound.continuity[0].reason) == (
                "session-cut",
                f"session {sid} started",
            )
            assert (after.continuity[0].kind, after.continuity[0].reason) == (
                "session-cut",
                f"session {sid} ended",
            )
            # ... and nothing is lost: each recording runs past the next one's first frame.
            assert wall(before.segments[-1].end) >= wall(bound.segments[0].start)
            assert wall(bound.segments[-1].end) >= wall(after.segments[0].start)
            for m in (before, bound, after):
                directory = data_dir / "recordings" / m.recording_id
                result = await asyncio.to_thread(verify_recording, directory)
                assert result.ok, result.problems
            for seg in bound.segments:
                probe = ffprobe(data_dir / "recordings" / bound.recording_id / seg.file)
                assert probe["streams"][0]["codec_name"] == "vp8"

        # The catalog: the session's recordings (its writes are in order, after the files).
        async def listed() -> set[str]:
            body = await aud.json(f"/api/recordings?session={sid}")
            return {r["id"] for r in body["recordings"]}

        deadline = time.monotonic() + 10
        while (found := await listed()) != bound_ids:
            if time.monotonic() > deadline:
                raise AssertionError(f"the catalog lists {found}, not {bound_ids}")
            await asyncio.sleep(0.1)

        # The archive's session page: the recordings, and the comment at its time.
        page = await aud.get(f"/archive/sessions/{sid}?lang=en")
        assert page.status == 200, page.text
        for rid in bound_ids:
            assert f'href="/archive/{rid}"' in page.text
        assert "举证充分" in page.text
        marks = re.findall(r'class="mark comment" data-at="(\d+)"', page.text)
        assert len(marks) == 1
        assert abs(int(marks[0]) / 1000 - (started_at + media_time)) <= 1.0
        # where the marker is, the bound recordings have media (a frame within 1 s)
        for stream in COURT:
            bound = manifests(data_dir, stream)[1]
            at = int(marks[0]) / 1000
            assert any(wall(s.start) - 1 <= at <= wall(s.end) + 1 for s in bound.segments)
        sync = re.search(r'href="(/archive/sync\?[^"]+)"', page.text)
        assert sync is not None
        player = await aud.get(sync.group(1).replace("&amp;", "&"))
        assert player.status == 200
        config = re.search(
            r'<script type="application/json" id="player-config">(.*?)</script>',
            player.text,
            re.S,
        )
        assert config is not None
        comments = [m for m in json.loads(config.group(1))["markers"] if m["kind"] == "comment"]
        assert [m["text"] for m in comments] == ["举证充分"]
        assert abs(comments[0]["at"] / 1000 - (started_at + media_time)) <= 1.0
