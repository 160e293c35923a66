"""An IP camera's recording plays in Chromium (issue 10: "the recording plays in ffprobe and
Chromium"): the H.264 the agent passed through and the Opus it made of the camera's AAC,
as the node recorded them, in Debian's Chromium."""

from __future__ import annotations

import asyncio
from pathlib import Path

from camera_agents import Station

from .conftest import Node
from .recordings import wait_for_manifest
from .rtsp_camera import RtspCamera
from .test_agent_rtsp import STATION, camera, rec_node, station_config
from .test_browser import chromium, collect_errors

__all__ = ["camera", "rec_node"]  # fixtures, used by name


async def test_an_ip_cameras_recording_plays_in_chromium(
    rec_node: Node, camera: RtspCamera, tmp_path: Path, chromium_path: str
) -> None:
    config = station_config(
        tmp_path, rec_node, [{"id": "judge", "role": "judge", "source": camera.url}]
    )
    station = Station(config, config.token_file.read_text())
    await station.start()
    recordings = tmp_path / "var" / "recordings"
    try:
        await asyncio.wait_for(station.cameras[0].agent.connected.wait(), 15)
        rec, manifest = await wait_for_manifest(
            recordings, lambda m: len(m.segments) >= 1, "a closed segment", timeout=20
        )
    finally:
        await station.stop()
    segment = rec / manifest.segments[0].file
    async with chromium(chromium_path) as browser:
        page = await browser.new_page()
        errors = collect_errors(page)
        await page.goto(segment.as_uri())
        video = page.locator("video")
        await video.wait_for(state="attached", timeout=10_000)
        played = await video.evaluate(
            """async (v) => {
                v.muted = true;
                await v.play();
                const start = performance.now();
                while (v.currentTime < 1.0 && performance.now() - start < 8000) {
                    await new Promise((r) => setTimeout(r, 50));
                }
                const q = v.getVideoPlaybackQuality();
                return {time: v.currentTime, width: v.videoWidth, height: v.videoHeight,
                        frames: q.totalVideoFrames, error: v.error && v.error.message};
            }"""
        )
    assert played["error"] is None, (played, errors)
    assert (played["width"], played["height"]) == (320, 240), played
    assert played["time"] >= 1.0 and played["frames"] > 10, (played, errors)
    assert manifest.stream == f"{STATION}-judge"
