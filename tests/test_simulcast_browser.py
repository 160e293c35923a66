"""Simulcast with real Chromium: a publisher sends three rid layers (1280x720 fake camera,
scaleResolutionDownBy 4/2/1) over WHIP; a viewer asking `?layer=low` decodes the small
layer while one asking `high` decodes the 1280-wide one; a viewer whose bandwidth
estimate falls is moved down a layer while the others stay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from media_gateway.simulcast import SimulcastConsumer

from .conftest import Node
from .console import add_station, add_user
from .recordings import wait_for_manifest
from .test_browser import chromium, collect_errors, log_in, poll
from .test_recorder import ffprobe

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Publishes the fake camera in three layers, lowest first; keeps the peer on window.
PUBLISH_SIMULCAST = """async ([streamId, token]) => {
  const { iceGatheringComplete } = await import("/static/whep.js");
  const media = await navigator.mediaDevices.getUserMedia({
    video: { width: 1280, height: 720, frameRate: 30 }, audio: false,
  });
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver(media.getVideoTracks()[0], {
    direction: "sendonly", streams: [media],
    sendEncodings: [
      { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150000 },
      { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500000 },
      { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1500000 },
    ],
  });
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc, 2000);
  const resp = await fetch(`/whip/${streamId}`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
    body: pc.localDescription.sdp,
  });
  if (resp.status !== 201) throw new Error(`WHIP ${resp.status}: ${await resp.text()}`);
  const answer = await resp.text();
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  window.publisher = pc;
  return answer;
}"""

SUBSCRIBE = """async ([streamId, token, layer, name]) => {
  const { whepSubscribe } = await import("/static/whep.js");
  const video = document.createElement("video");
  Object.assign(video, { autoplay: true, muted: true, playsInline: true });
  document.body.appendChild(video);
  window.viewers = window.viewers || {};
  window.viewers[name] = await whepSubscribe(streamId, token, {
    layer, onTrack: (stream) => { video.srcObject = stream; },
  });
}"""

VIEWER_VIDEO = """async (name) => {
  const out = {};
  (await window.viewers[name].pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") Object.assign(out, {
      framesDecoded: r.framesDecoded || 0, frameWidth: r.frameWidth || 0,
    });
  });
  return out;
}"""

SENT_LAYERS = """async () => {
  const out = {};
  (await window.publisher.getStats()).forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video")
      out[r.rid] = { frameWidth: r.frameWidth || 0, active: r.active, bytes: r.bytesSent };
  });
  return out;
}"""


async def _viewer(page: Page, name: str) -> dict[str, Any]:
    return dict(await page.evaluate(VIEWER_VIDEO, name))


def _consumer(node: Node, stream: str, layer: str) -> SimulcastConsumer:
    router = node.gateway._routers[stream]
    found = [
        c
        for _, peer in router.subscribers.values()
        for c in peer.consumers
        if isinstance(c, SimulcastConsumer) and c.choice == layer
    ]
    assert len(found) == 1, found
    return found[0]


async def test_chromium_simulcast_low_and_high_viewers(
    node: Node, chromium_path: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with chromium(chromium_path) as browser:
        page = await browser.new_page()
        errors = collect_errors(page)
        await page.goto(f"{node.url}/healthz")
        answer = await page.evaluate(PUBLISH_SIMULCAST, ["cam1", node.token("cam1")])
        assert "a=simulcast:recv q;h;f" in answer, answer
        pub = node.gateway.publication("cam1")
        assert pub is not None
        layers = pub.peer.layers["video"]
        assert [p.id.rsplit("-", 1)[1] for p in layers] == ["q", "h", "f"]
        # the recorder and relays take producers["video"]: the highest layer that is on
        track = pub.producers["video"]

        async def widths() -> list[int | None]:
            return [p.width for p in [*layers, track]]

        try:
            await poll(widths, lambda w: all(w) and w[-1] >= 1280, 30, "layer widths")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; sent {await page.evaluate(SENT_LAYERS)}") from exc

        viewer = node.token("cam1", "viewer")
        await page.evaluate(SUBSCRIBE, ["cam1", viewer, "low", "wall"])
        await page.evaluate(SUBSCRIBE, ["cam1", viewer, "high", "focus"])
        await page.evaluate(SUBSCRIBE, ["cam1", viewer, "auto", "auto"])

        def decoding(width_ok: Any) -> Any:
            return lambda s: s.get("framesDecoded", 0) > 10 and width_ok(s.get("frameWidth", 0))

        wall = await poll(
            lambda: _viewer(page, "wall"), decoding(lambda w: 0 < w <= 320), 20, "wall tile"
        )
        focus = await poll(
            lambda: _viewer(page, "focus"), decoding(lambda w: w >= 1280), 20, "focus view"
        )
        await poll(lambda: _viewer(page, "auto"), decoding(lambda w: w >= 1280), 20, "auto")
        # both keep decoding
        wall2 = await poll(
            lambda: _viewer(page, "wall"),
            lambda s: s.get("framesDecoded", 0) > wall["framesDecoded"],
            10,
            "the wall tile decoding on",
        )
        focus2 = await poll(
            lambda: _viewer(page, "focus"),
            lambda s: s.get("framesDecoded", 0) > focus["framesDecoded"],
            10,
            "the focus view decoding on",
        )
        assert wall2["frameWidth"] <= 320 and focus2["frameWidth"] >= 1280, (wall2, focus2)

        # The `auto` viewer's estimate falls (its REMB, as the gateway hears it): one layer
        # down, at a keyframe, still decoding; the focus view stays on the high layer.
        auto = _consumer(node, "cam1", "auto")
        assert auto.current == 2

        async def estimate() -> int:
            return auto.estimate

        await poll(estimate, lambda e: e > 0, 10, "the auto viewer's REMB (from Chromium)")
        # Chromium's own REMB reports are capped too, as a throttled link would make them.
        cap = [int(layers[2].bitrate * 0.3)]
        hear = auto.on_bandwidth_estimate
        monkeypatch.setattr(auto, "on_bandwidth_estimate", lambda b: hear(min(b, cap[0])))

        async def throttled() -> dict[str, Any]:
            auto.on_bandwidth_estimate(cap[0])
            return await _viewer(page, "auto")

        moved = await poll(
            throttled, lambda s: 0 < s.get("frameWidth", 0) <= 640, 20, "throttled viewer"
        )
        assert auto.current == auto.target == 1
        before = moved["framesDecoded"]
        # still decoding on its new layer (a loaded machine's Chromium may pause a moment)
        await poll(
            lambda: _viewer(page, "auto"),
            lambda s: s.get("framesDecoded", 0) > before,
            10,
            "the moved viewer decoding",
        )
        focus3 = await _viewer(page, "focus")
        assert focus3["frameWidth"] >= 1280 and focus3["framesDecoded"] > focus2["framesDecoded"]
        assert _consumer(node, "cam1", "high").current == 2
        assert _consumer(node, "cam1", "low").current == 0

        # Its estimate recovers: back up to the high layer.
        cap[0] = 1 << 40

        async def recovered() -> dict[str, Any]:
            auto.on_bandwidth_estimate(int(layers[2].bitrate * 2))
            return await _viewer(page, "auto")

        await poll(recovered, lambda s: s.get("frameWidth", 0) >= 1280, 20, "recovered viewer")
        assert auto.current == 2
        assert not [e for e in errors if e.startswith("pageerror")], errors

        # The recording is the highest layer's (a segment begun since it is on).
        rec, manifest = await wait_for_manifest(
            tmp_path / "var" / "recordings", lambda m: len(m.segments) >= 2, "2 segments", 40
        )
        # On a loaded machine Chromium's CPU adaptation may turn its top layer off later on;
        # the recording then follows the highest layer still sent (by design), so the check
        # is that the segments recorded while the top layer was on are at its size.
        widths = []
        for seg in manifest.segments:
            probe = await asyncio.to_thread(ffprobe, rec / seg.file)
            widths.append(next(s for s in probe["streams"] if s["codec_type"] == "video")["width"])
        assert max(widths) >= 1280 and all(w <= 1280 for w in widths), widths


async def test_the_station_page_publishes_three_layers_when_its_link_says_so(
    node: Node, chromium_path: str
) -> None:
    async with chromium(chromium_path) as browser:
        station = await browser.new_page()
        errors = collect_errors(station)
        await station.goto(f"{node.url}/station/cam1?token={node.token('cam1')}&simulcast=1")
        await station.locator('#station[data-state="connected"]').wait_for(timeout=15000)
        pub = node.gateway.publication("cam1")
        assert pub is not None, errors
        layers = pub.peer.layers["video"]
        assert len(layers) == 3 and pub.producers["audio"] is not None

        async def widths() -> list[int | None]:
            return [p.width for p in layers]

        found = await poll(widths, lambda w: all(w), 30, "layer widths")
        assert found == [320, 640, 1280], found


async def test_the_walls_tile_takes_the_low_layer_and_the_focus_view_the_high_one(
    node: Node, chromium_path: str
) -> None:
    """Through the console's own pages: a commander's wall and focus view of a browser
    station publishing three layers."""
    await add_user(node.app, "commander", "commander")
    await add_station(node.app, "cam1", ["cam1"])
    async with chromium(chromium_path) as browser:
        station = await browser.new_page()
        await station.goto(f"{node.url}/station/cam1?token={node.token('cam1')}&simulcast=1")
        await station.locator('#station[data-state="connected"]').wait_for(timeout=15000)
        pub = node.gateway.publication("cam1")
        assert pub is not None

        async def track_width() -> int | None:
            return pub.producers["video"].width

        await poll(track_width, lambda w: w == 1280, 30, "the top layer on")

        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        errors = collect_errors(page)
        await page.goto(f"{node.url}/")
        await log_in(page, node.url, "commander")
        stats = page.locator('#wall section.tile[data-stream="cam1"] .stats')

        async def tile_stats() -> str:
            return await stats.text_content() or ""

        await poll(tile_stats, lambda s: s.startswith("320\u00d7180"), 20, f"tile {errors}")
        await page.locator('#wall section.tile[data-stream="cam1"]').click()
        await page.wait_for_url(f"{node.url}/streams/cam1")
        resolution = page.locator('[data-stat="resolution"]')

        async def focus_resolution() -> str:
            return (await resolution.text_content() or "").strip()

        await poll(focus_resolution, lambda s: s == "1280\u00d7720", 20, f"focus {errors}")
        assert await page.locator("#focus").get_attribute("data-state") == "live"
