"""The recordings and audit API on a real node: listing and filters, manifest with
verification state, segments served with Range and every access audited, auditor-only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from media_gateway import set_host_addresses
from signaling import ARCHIVE_KEY, TOKENS_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .catalogs import copy_recording
from .waiting import wait_for


@dataclass
class Archive:
    url: str
    app: web.Application
    data_dir: Path
    cam: str  # recording ids
    court: str

    def token(self, role: str = "auditor", name: str | None = None) -> str:
        streams = [] if role == "auditor" else ["cam"]
        return self.app[TOKENS_KEY].mint(streams, role, 600, name=name)  # type: ignore[arg-type]

    def headers(self, role: str = "auditor", name: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, name)}"}


@pytest.fixture
async def archive(tmp_path: Path, recording_template: Path) -> AsyncIterator[Archive]:
    data = tmp_path / "var"
    cam = copy_recording(recording_template, data)
    court = copy_recording(
        recording_template, data, "court-rec", stream="court", session="s-1", age=timedelta(days=3)
    )
    # The node catalogs at start the recordings it finds on disk.
    settings = load_settings(data_dir=data, ice_addresses="127.0.0.1")
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    try:
        url = str(server.make_url("")).rstrip("/")
        yield Archive(url, app, data, cam.name, court.name)
    finally:
        await server.close()
        set_host_addresses(None)


async def _get(
    url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers or {}) as r:
        return r.status, dict(r.headers), await r.read()


async def _json(url: str, headers: dict[str, str]) -> dict:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_recordings_are_listed_and_filtered(archive: Archive) -> None:
    h = archive.headers()
    api = f"{archive.url}/api/recordings"
    listed = (await _json(api, h))["recordings"]
    assert [r["id"] for r in listed] == [archive.cam, archive.court]  # newest first
    assert listed[0]["segments"] == 5 and listed[0]["container"] == "webm"
    assert listed[0]["codecs"] == {"video": "VP8"} and listed[0]["state"] == "closed"
    assert [r["id"] for r in (await _json(f"{api}?stream=court", h))["recordings"]] == [
        archive.court
    ]
    assert [r["id"] for r in (await _json(f"{api}?session=s-1", h))["recordings"]] == [
        archive.court
    ]
    started = listed[0]["started_at"]
    recent = (await _json(f"{api}?from={started}", h))["recordings"]
    assert [r["id"] for r in recent] == [archive.cam]
    older = (await _json(f"{api}?to=2000-01-01", h))["recordings"]
    assert older == []


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("from=yesterday", "from: not an ISO 8601 time"),
        ("to=2024-13-40", "to: not an ISO 8601 time"),
        ("from=2025-01-02&to=2025-01-01", "from is after to"),
        ("limit=abc", "limit: not an integer"),
        ("limit=0", "limit: must be between"),
    ],
)
async def test_bad_query_parameters_are_a_400_with_a_reason(
    archive: Archive, query: str, reason: str
) -> None:
    for path in ("/api/recordings", "/api/audit"):
        status, headers, body = await _get(f"{archive.url}{path}?{query}", archive.headers())
        assert status == 400 and reason in body.decode(), (path, body)
        assert headers["Content-Type"].startswith("text/plain")


async def test_a_recording_comes_with_its_manifest_and_verification_state(
    archive: Archive,
) -> None:
    h = archive.headers()
    detail = await _json(f"{archive.url}/api/recordings/{archive.cam}", h)
    assert detail["manifest"]["recording_id"] == archive.cam
    assert len(detail["manifest"]["segments"]) == 5
    verification = detail["verification"]
    assert verification["state"] == "ok" and verification["problems"] == []
    assert verification["signer_trusted"] is True
    assert detail["recording"]["verified_state"] == "ok"
    assert detail["segment_urls"][0] == f"/api/recordings/{archive.cam}/segments/1"
    again = await _json(f"{archive.url}/api/recordings/{archive.cam}", h)
    assert again["verification"]["checked_at"] == verification["checked_at"]  # cached

    seg = archive.data_dir / "recordings" / archive.cam / "seg-000003.webm"
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0x01
    await asyncio.to_thread(seg.write_bytes, bytes(data))
    tampered = await _json(f"{archive.url}/api/recordings/{archive.cam}", h)
    assert tampered["verification"]["state"] == "failed"
    assert "seg-000003.webm (#3) content changed" in tampered["verification"]["problems"][0]
    listed = (await _json(f"{archive.url}/api/recordings?stream=cam", h))["recordings"]
    assert listed[0]["verified_state"] == "failed"  # stored in the catalog


async def test_a_segment_is_served_with_range_and_every_access_is_audited(
    archive: Archive,
) -> None:
    h = archive.headers(name="Auditor Li")
    grant = archive.app[TOKENS_KEY].verify(h["Authorization"].split()[1])
    url = f"{archive.url}/api/recordings/{archive.cam}/segments/2"
    path = archive.data_dir / "recordings" / archive.cam / "seg-000002.webm"
    whole = path.read_bytes()

    status, headers, body = await _get(url, {**h, "Range": "bytes=0-99"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 0-99/{len(whole)}"
    assert headers["Content-Type"] == "video/webm"
    assert body == whole[:100]
    status, headers, body = await _get(url, {**h, "Range": "bytes=100-"})
    assert status == 206 and body == whole[100:]
    status, headers, body = await _get(url, h)
    assert status == 200 and body == whole and headers["Accept-Ranges"] == "bytes"

    catalog = archive.app[ARCHIVE_KEY].catalog
    rows = await asyncio.to_thread(catalog.audit_rows, action="segment.view")
    assert [r["detail"]["range"] for r in rows] == ["bytes=0-99", "bytes=100-", None]
    for row in rows:
        assert row["target"] == f"{archive.cam}/segments/2"
        assert row["actor"] == f"token:{grant.token_id} (Auditor Li)"
        assert row["detail"]["file"] == "seg-000002.webm"

    audit = await _json(f"{archive.url}/api/audit?actor=Auditor%20Li&action=segment.view", h)
    assert [r["id"] for r in audit["audit"]] == [r["id"] for r in rows]
    by_target = await _json(f"{archive.url}/api/audit?target={archive.cam}", h)
    assert len(by_target["audit"]) == 3
    assert (await _json(f"{archive.url}/api/audit?actor=nobody", h))["audit"] == []
    assert (await asyncio.to_thread(catalog.check_audit)).ok


async def test_unknown_recordings_and_segments_are_404(archive: Archive) -> None:
    h = archive.headers()
    base = f"{archive.url}/api/recordings"
    for url in (
        f"{base}/no-such-recording",
        f"{base}/no-such-recording/segments/1",
        f"{base}/{archive.cam}/segments/6",
        f"{base}/{archive.cam}/segments/0",
        f"{base}/{archive.cam}/segments/x",
        f"{base}/..%2F..%2Fsecret/segments/1",
    ):
        status, _, _ = await _get(url, h)
        assert status == 404, url
    catalog = archive.app[ARCHIVE_KEY].catalog
    assert await asyncio.to_thread(catalog.audit_rows) == []  # nothing was served


async def test_only_auditor_tokens_may_read_recordings_and_the_audit_log(
    archive: Archive,
) -> None:
    urls = [
        f"{archive.url}/api/recordings",
        f"{archive.url}/api/recordings/{archive.cam}",
        f"{archive.url}/api/recordings/{archive.cam}/segments/1",
        f"{archive.url}/api/audit",
    ]
    for url in urls:
        status, headers, _ = await _get(url)
        assert status == 401 and "Bearer" in headers["WWW-Authenticate"], url
        status, _, _ = await _get(url, {"Authorization": "Bearer not-a-token"})
        assert status == 401, url
        for role in ("station", "viewer"):
            status, _, body = await _get(url, archive.headers(role))
            assert status == 403 and b"auditor role needed" in body, (url, role)
    # An auditor sees no live video.
    status, _, _ = await _get(f"{archive.url}/api/streams", archive.headers())
    assert status == 403
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{archive.url}/whep/cam",
            data="v=0\r\n",
            headers={**archive.headers(), "Content-Type": "application/sdp"},
        ) as r,
    ):
        assert r.status == 403
    catalog = archive.app[ARCHIVE_KEY].catalog
    assert await asyncio.to_thread(catalog.audit_rows) == []


async def test_a_live_publication_is_cataloged_and_announced_while_it_records(
    tmp_path: Path,
) -> None:
    from camera_agents import WhipPublisher
    from camera_agents.testsrc import ToneTrack
    from cluster import Event
    from recorder import manifest as mf
    from signaling import BUS_KEY

    from .peers import EncodedVideoTrack, encode_vp8

    data = tmp_path / "var"
    settings = load_settings(
        data_dir=data, ice_addresses="127.0.0.1", segment_seconds=1, reconnect_grace=0.2
    )
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    events: list[Event] = []

    async def listen() -> None:
        async for event in app[BUS_KEY].subscribe("recording."):
            events.append(event)

    listener = asyncio.create_task(listen())
    try:
        url = str(server.make_url("")).rstrip("/")
        tokens = app[TOKENS_KEY]
        auditor = {"Authorization": f"Bearer {tokens.mint([], 'auditor', 600)}"}
        publisher = WhipPublisher(
            f"{url}/whip/cam",
            tokens.mint(["cam"], "station", 600),
            [EncodedVideoTrack(encode_vp8(30, gop=15)), ToneTrack()],
        )
        await publisher.start()

        async def listed() -> list[dict[str, Any]]:
            return (await _json(f"{url}/api/recordings?stream=cam", auditor))["recordings"]

        # Closed segments are in the catalog as they close, while the recording goes on.
        live = await wait_for(
            listed,
            lambda rs: len(rs) == 1 and rs[0]["segments"] >= 1,
            what="the live recording listed with a closed segment",
        )
        assert live[0]["state"] == "recording"
        await publisher.stop()
        await wait_for(
            lambda: [e.topic for e in events],
            lambda topics: "recording.closed" in topics,
            what="recording.closed announced",
        )
        rid = live[0]["id"]
        closed = await _json(f"{url}/api/recordings/{rid}", auditor)
        manifest = mf.load(data / "recordings" / rid)
        assert closed["recording"]["state"] == "closed"
        assert closed["recording"]["segments"] == len(manifest.segments) >= 2
        assert closed["verification"]["state"] == "ok"
        topics = [e.topic for e in events]
        assert topics.count("recording.segment") == len(manifest.segments)
        assert topics[-1] == "recording.closed" and events[-1].data["recording_id"] == rid
    finally:
        await server.close()
        set_host_addresses(None)
        await listener
