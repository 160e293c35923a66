"""Published streams are recorded as closed, chained, signed, playable segments."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from camera_agents import WhipPublisher
from camera_agents.testsrc import ToneTrack
from media_gateway import set_host_addresses
from recorder import Manifest, chain
from recorder.verify import verify_recording
from signaling import TOKENS_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .peers import EncodedVideoTrack, encode_vp8
from .recordings import wait_for_manifest


def _closed(manifest: Manifest) -> bool:
    return manifest.state == "closed"


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,codec_type,width,height:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture
async def rec_node(tmp_path: Path) -> AsyncIterator[Node]:
    settings = load_settings(
        data_dir=tmp_path / "var", ice_addresses="127.0.0.1", segment_seconds=3, reconnect_grace=2
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


async def test_a_published_stream_becomes_closed_verified_segments(
    rec_node: Node, tmp_path: Path
) -> None:
    frames = encode_vp8(60, width=640, height=360, gop=30)
    publisher = WhipPublisher(
        rec_node.whip("cam"), rec_node.token("cam"), [EncodedVideoTrack(frames), ToneTrack()]
    )
    recordings = tmp_path / "var" / "recordings"
    await publisher.start()
    await wait_for_manifest(
        recordings, lambda m: len(m.segments) >= 3, "three closed segments", timeout=20
    )
    await publisher.stop()
    # the recording stays open for the reconnect grace, then closes
    rec, manifest = await wait_for_manifest(recordings, _closed, "the recording closed")
    assert len(manifest.segments) >= 3
    prev = chain.GENESIS
    for seg in manifest.segments:
        path = rec / seg.file
        digest = chain.sha256_file(path)
        assert digest.hex() == seg.sha256
        prev = chain.link(prev, digest)
        assert prev.hex() == seg.chain
        probe = ffprobe(path)
        kinds = {s["codec_type"]: s for s in probe["streams"]}
        assert kinds["video"]["codec_name"] == "vp8" and kinds["video"]["width"] == 640
        assert kinds["audio"]["codec_name"] == "opus"
        assert abs(float(probe["format"]["duration"]) - seg.duration) < 0.5, (seg, probe)
    print(json.dumps([s.duration for s in manifest.segments]), manifest.continuity)


async def test_a_half_minute_publish_is_recorded_whole_in_sync_and_plays(
    tmp_path: Path, chromium_path: str
) -> None:
    from .av_sync import (
        BeepTrack,
        Clock,
        FlashTrack,
        av_offsets,
        encode_flashes,
        flash_and_beep_times,
    )

    settings = load_settings(
        data_dir=tmp_path / "var", ice_addresses="127.0.0.1", reconnect_grace=0.5
    )
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    url = str(server.make_url("")).rstrip("/")
    clock = Clock()
    token = app[TOKENS_KEY].mint(["court"], "station", 600)
    publisher = WhipPublisher(
        f"{url}/whip/court", token, [FlashTrack(encode_flashes(90), clock), BeepTrack(clock)]
    )
    recordings = tmp_path / "var" / "recordings"
    try:
        await publisher.start()
        started = asyncio.get_running_loop().time()
        # Three whole 10 s segments: enough flashes and beeps, and cuts to cross.
        await wait_for_manifest(
            recordings, lambda m: len(m.segments) >= 3, "three closed segments", timeout=50
        )
        await publisher.stop()
        published = asyncio.get_running_loop().time() - started
        # the reconnect grace, then the recording closes
        rec, manifest = await wait_for_manifest(recordings, _closed, "the recording closed")
        assert len(manifest.segments) >= 3
        total = 0.0
        flashes: list[float] = []
        beeps: list[float] = []
        for seg in manifest.segments:
            probe = ffprobe(rec / seg.file)
            codecs = {s["codec_type"]: s["codec_name"] for s in probe["streams"]}
            assert codecs == {"video": "vp8", "audio": "opus"}
            duration = float(probe["format"]["duration"])
            assert abs(duration - seg.duration) < 0.5, (seg.file, duration, seg.duration)
            total += duration
            # on one wall-clock timeline, so a beep just across a segment cut still counts
            base = _wall(seg.start)
            f, b = flash_and_beep_times(rec / seg.file)
            flashes += [base + t for t in f]
            beeps += [base + t for t in b]
        assert abs(total - published) < 1.0, (total, published)
        offsets = av_offsets(flashes, beeps)
        assert len(offsets) >= 25
        worst = max(abs(o) for o in offsets)
        print(
            f"A/V offsets: median {sorted(offsets)[len(offsets) // 2] * 1000:.1f} ms, "
            f"worst {worst * 1000:.1f} ms over {len(offsets)} flashes; segments "
            f"{[s.duration for s in manifest.segments]}, total {total:.2f} s of {published:.2f} s"
        )
        assert worst < 0.1, f"A/V offset up to {worst * 1000:.0f} ms"
        await _chromium_plays(chromium_path, rec / manifest.segments[1].file)
    finally:
        await publisher.stop()
        await server.close()
        set_host_addresses(None)


async def _chromium_plays(chromium_path: str, segment: Path) -> None:
    """Chromium plays a segment on its own: currentTime advances."""
    from aiohttp import web
    from playwright.async_api import async_playwright

    async def page(request: web.Request) -> web.Response:
        html = f'<video id=v src="/{segment.name}" muted autoplay></video>'
        return web.Response(text=html, content_type="text/html")

    async def media(request: web.Request) -> web.FileResponse:
        kind = "video/mp4" if segment.suffix == ".mp4" else "video/webm"
        return web.FileResponse(segment, headers={"Content-Type": kind})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get(f"/{segment.name}", media)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=chromium_path,
                args=[
                    "--no-sandbox",
                    "--autoplay-policy=no-user-gesture-required",
                    "--disable-gpu",
                ],
            )
            page = await browser.new_page()
            await page.goto(str(server.make_url("/")))
            await page.wait_for_function(
                "document.getElementById('v').currentTime > 1.0", timeout=10000
            )
            await browser.close()
    finally:
        await server.close()


async def test_h264_is_recorded_to_mp4_segments_that_ffprobe_and_chromium_read(
    rec_node: Node, tmp_path: Path, chromium_path: str
) -> None:
    from .peers import encode_h264, prefer_codecs

    publisher = WhipPublisher(rec_node.whip("h264cam"), rec_node.token("h264cam"), [ToneTrack()])
    video = EncodedVideoTrack(encode_h264(90, width=320, height=240, gop=30))
    prefer_codecs(publisher.pc.addTransceiver(video, direction="sendonly"), ["video/H264"])
    recordings = tmp_path / "var" / "recordings"
    await publisher.start()
    await wait_for_manifest(
        recordings, lambda m: len(m.segments) >= 2, "two closed segments", timeout=20
    )
    await publisher.stop()
    # the reconnect grace, then closed
    rec, manifest = await wait_for_manifest(recordings, _closed, "the recording closed")
    assert manifest.container == "mp4"
    assert len(manifest.segments) >= 2
    for seg in manifest.segments:
        assert seg.file.endswith(".mp4")
        probe = ffprobe(rec / seg.file)
        kinds = {s["codec_type"]: s for s in probe["streams"]}
        assert kinds["video"]["codec_name"] == "h264"
        assert (kinds["video"]["width"], kinds["video"]["height"]) == (320, 240)
        assert kinds["audio"]["codec_name"] == "opus"
        assert abs(float(probe["format"]["duration"]) - seg.duration) < 0.5
    await _chromium_plays(chromium_path, rec / manifest.segments[0].file)


async def test_a_publisher_back_within_the_grace_period_continues_the_same_recording(
    rec_node: Node, tmp_path: Path
) -> None:
    frames = encode_vp8(60, width=320, height=240, gop=30)
    recordings = tmp_path / "var" / "recordings"
    for n in range(2):
        if n:
            # Away for 0.7 s (the scenario itself, not a wait on the node): within the grace.
            await asyncio.sleep(0.7)
        publisher = WhipPublisher(
            rec_node.whip("cam"), rec_node.token("cam"), [EncodedVideoTrack(frames), ToneTrack()]
        )
        since = time.time()
        await publisher.start()
        # a whole segment of this publication on disk, then the publisher leaves
        await wait_for_manifest(
            recordings,
            lambda m, since=since: any(_wall(s.start) >= since for s in m.segments),
            f"a closed segment of publication {n + 1}",
            timeout=15,
        )
        await publisher.stop()
    rec, manifest = await wait_for_manifest(recordings, _closed, "the recording closed")
    gaps = [c for c in manifest.continuity if c.kind == "publisher-disconnect"]
    assert len(gaps) == 1 and gaps[0].end is not None
    gap_start, gap_end = _wall(gaps[0].start), _wall(gaps[0].end)
    assert 0.5 < gap_end - gap_start < 3.0
    assert any(s.end <= gaps[0].start for s in manifest.segments)  # before the disconnect
    assert any(s.start >= gaps[0].end for s in manifest.segments)  # after the return
    assert verify_recording(rec).ok
