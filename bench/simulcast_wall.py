"""A 16-tile wall of one simulcast stream: what the browser pays with each layer.

One run: `vdispatch demo --stations 0` in a temporary data directory; a headless Chromium
publishes its fake camera (1280x720, 30 fps) over WHIP in three layers
(scaleResolutionDownBy 4/2/1, max 150/500/1500 kb/s); a second headless Chromium opens
one page with `--tiles` small <video> tiles (320x180, as the wall's 16-tile layout), each
its own WHEP viewer of that stream with `?layer=high`, then the same with `?layer=low`
(the wall's choice). For each, over `--seconds` once every tile decodes:

- the viewer Chromium's CPU (all its processes, psutil) and the node's;
- per tile, frames decoded per second and the width decoded (getStats inbound-rtp);
- the bit rate the tiles receive together.

The machine's other load counts too: compare the two rows of one run. On this 2-core
machine (shared with other benchmarks), --tiles 16 --seconds 20: high 1280 wide, 20 fps,
11.1 Mb/s, viewer Chromium 101% of a core, node 10%; low 320 wide, 20 fps, 2.4 Mb/s,
viewer Chromium 26%, node 9% (the publisher's fake camera gave 20 fps in both rows; an
earlier 10 s run: 57% / 6%).
Run: flock /tmp/vdispatch-bench.lock .venv/bin/python bench/simulcast_wall.py [--tiles 16]
[--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from playwright.async_api import Browser, Playwright, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_fps import CHROMIUM_ARGS, VDISPATCH, cpu_seconds, free_port, wait_http

ROOT = Path(__file__).resolve().parent.parent
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

PUBLISH = """async ([streamId, token]) => {
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
  await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
  window.publisher = pc;
}"""

SENT = """async () => {
  const out = {};
  (await window.publisher.getStats()).forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video") out[r.rid] = r.frameWidth || 0;
  });
  return out;
}"""

WALL = """async ([streamId, token, tiles, layer]) => {
  const { whepSubscribe } = await import("/static/whep.js");
  document.body.style.cssText = "margin:0;display:grid;grid-template-columns:repeat(4,320px)";
  window.tiles = [];
  for (let i = 0; i < tiles; i++) {
    const video = document.createElement("video");
    Object.assign(video, { autoplay: true, muted: true, playsInline: true });
    Object.assign(video, { width: 320, height: 180 });
    document.body.appendChild(video);
    window.tiles.push(await whepSubscribe(streamId, token, {
      layer, onTrack: (stream) => { video.srcObject = stream; },
    }));
  }
}"""

TILE_STATS = """async () => Promise.all(window.tiles.map(async (t) => {
  const out = { frames: 0, width: 0, bytes: 0 };
  (await t.pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      out.frames = r.framesDecoded || 0; out.width = r.frameWidth || 0;
      out.bytes = r.bytesReceived || 0;
    }
  });
  return out;
}))"""


def mint(data_dir: Path, role: str, stream: str) -> str:
    env = {**os.environ, "VDISPATCH_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [str(VDISPATCH), "token", "--role", role, "--stream", stream, "--ttl", "1h"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def chromium_pids() -> set[int]:
    return {q.pid for q in psutil.process_iter(["name"]) if "chrom" in (q.info["name"] or "")}


async def launch(p: Playwright, extra: list[str]) -> Browser:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    return await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS + extra)


async def measure_wall(
    p: Playwright,
    url: str,
    token: str,
    tiles: int,
    layer: str,
    seconds: float,
    node: psutil.Process,
    publisher_pids: set[int],
) -> dict[str, Any]:
    browser = await launch(p, [])
    try:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        await page.goto(f"{url}/healthz")
        await page.evaluate(WALL, ["simul", token, tiles, layer])
        deadline = time.monotonic() + 40
        while True:
            stats: list[dict[str, int]] = await page.evaluate(TILE_STATS)
            if all(s["frames"] > 0 for s in stats):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"tiles not decoding ({layer}): {stats}")
            await asyncio.sleep(0.5)
        await asyncio.sleep(5)  # decoders settle
        viewer_procs = [psutil.Process(pid) for pid in chromium_pids() - publisher_pids]
        first: list[dict[str, int]] = await page.evaluate(TILE_STATS)
        t0 = time.monotonic()
        node0, view0 = cpu_seconds([node]), cpu_seconds(viewer_procs)
        await asyncio.sleep(seconds)
        last: list[dict[str, int]] = await page.evaluate(TILE_STATS)
        elapsed = time.monotonic() - t0
        node_cpu = (cpu_seconds([node]) - node0) / elapsed
        viewer_cpu = (cpu_seconds(viewer_procs) - view0) / elapsed
    finally:
        await browser.close()
    fps = [(b["frames"] - a["frames"]) / elapsed for a, b in zip(first, last, strict=True)]
    kbps = sum(b["bytes"] - a["bytes"] for a, b in zip(first, last, strict=True)) * 8 / elapsed
    return {
        "layer": layer,
        "widths": sorted({s["width"] for s in last}),
        "fps_min": min(fps),
        "fps_mean": sum(fps) / len(fps),
        "kbps": kbps / 1000,
        "viewer_cpu": viewer_cpu,
        "node_cpu": node_cpu,
    }


async def run(url: str, data_dir: Path, tiles: int, seconds: float, node: psutil.Process) -> None:
    station, viewer = mint(data_dir, "station", "simul"), mint(data_dir, "viewer", "simul")
    async with async_playwright() as p:
        before = chromium_pids()
        publisher = await launch(p, FAKE_CAMERA)
        try:
            page = await publisher.new_page()
            await page.goto(f"{url}/healthz")
            await page.evaluate(PUBLISH, ["simul", station])
            deadline = time.monotonic() + 40
            while True:  # every layer on (the top one once the estimate allows it)
                sent: dict[str, int] = await page.evaluate(SENT)
                if len(sent) == 3 and all(sent.values()):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the publisher does not send three layers: {sent}")
                await asyncio.sleep(0.5)
            print(f"publisher sends layers {sent}")
            publisher_pids = chromium_pids() - before
            rows = [
                await measure_wall(p, url, viewer, tiles, layer, seconds, node, publisher_pids)
                for layer in ("high", "low")
            ]
        finally:
            await publisher.close()
    print(f"{tiles} tiles of one stream, {seconds:.0f} s each, {os.cpu_count()} cores:")
    print(
        "| layer | width decoded | fps per tile (min / mean) | kb/s received (all tiles) |"
        " viewer Chromium CPU | node CPU |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['layer']} | {', '.join(map(str, r['widths']))} |"
            f" {r['fps_min']:.1f} / {r['fps_mean']:.1f} | {r['kbps']:.0f} |"
            f" {r['viewer_cpu'] * 100:.0f}% | {r['node_cpu'] * 100:.0f}% |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="simulcast-wall-") as tmp:
        data_dir = Path(tmp)
        env = {**os.environ, "VDISPATCH_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [str(VDISPATCH), "demo", "--port", str(port), "--stations", "0"],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(data_dir / "demo.log", "w"),  # noqa: SIM115 (closed with the process)
        )
        try:
            wait_http(f"{url}/login")
            asyncio.run(run(url, data_dir, args.tiles, args.seconds, psutil.Process(proc.pid)))
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
