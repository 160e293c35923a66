"""Back-fill throughput: a station's spool of synthetic segments uploaded to a local node.

A node (in this process, loopback) and a spool holding one closed, station-signed
recording of N segments of S bytes each; the station's Backfill uploads them (manifest,
GET held, each segment with its sha256) at `--kbps` (0: as fast as it goes). Prints the
throughput and, with a cap, how close the pacing is to it.

With `--live SECONDS`: back-fill's effect on live latency. A 720p30 testsrc camera (the
agent's own encoder) is published to the node and watched by a WHEP viewer, all in this
process on loopback; each access unit's latency is the time from the camera handing it
on (its sinks: where the spool sees it) to the viewer reassembling the same one (matched
by the sha256 of its NAL units). Measured for SECONDS without and SECONDS with a
concurrent back-fill at `--kbps` (default 2000, the station default): p50/p95 both ways.
(The node's upload handling shares this process's loop too, unlike at a real station.)

Run: .venv/bin/python bench/backfill.py [--segments 40] [--size 1000000] [--kbps 0]
     .venv/bin/python bench/backfill.py --live 20 [--kbps 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bitstream import annexb_nals
from camera_agents import Spool, WhipPublisher, use_keyframe_tap
from camera_agents.backfill import Backfill
from camera_agents.testsrc import PatternSource
from media_gateway import set_host_addresses, tap_keyframe_requests
from recorder import NodeKey, chain
from recorder import manifest as mf
from signaling.keys import ARCHIVE_KEY, TOKENS_KEY
from tests.peers import Viewer
from vdispatch.node import build_app
from vdispatch.settings import load_settings

STATION, STREAM = "bench", "bench-cam"


def make_spool(directory: Path, key: NodeKey, segments: int, size: int) -> None:
    rid = f"spool-{STREAM}-20261202t000000z"
    rec = directory / rid
    rec.mkdir(parents=True)
    m = mf.Manifest(
        rid,
        STREAM,
        STATION,
        f"station:{STATION}",
        "mp4",
        {"video": "h264"},
        "2026-12-02T00:00:00.000Z",
        state="closed",
    )
    prev = chain.GENESIS
    for i in range(1, segments + 1):
        body = os.urandom(size)
        (rec / f"seg-{i:06d}.mp4").write_bytes(body)
        digest = hashlib.sha256(body).digest()
        prev = chain.link(prev, digest)
        t0, t1 = f"2026-12-02T00:00:{i - 1:02d}.000Z", f"2026-12-02T00:00:{i:02d}.000Z"
        m.segments.append(
            mf.SegmentEntry(i, f"seg-{i:06d}.mp4", t0, t1, 1.0, size, digest.hex(), prev.hex())
        )
    mf.save(rec, m, key)


@contextlib.asynccontextmanager
async def station_spool(
    root: Path, segments: int, size: int, kbps: int
) -> AsyncIterator[tuple[Any, str, Spool, Backfill]]:
    """A node on loopback, and a station (key enrolled) whose spool holds the recording."""
    settings = load_settings(data_dir=root / "node", ice_addresses="127.0.0.1")
    app = build_app(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        key_path = root / "keys" / "station-ed25519.pem"
        key = NodeKey.load_or_create(key_path)
        catalog = app[ARCHIVE_KEY].catalog
        await asyncio.to_thread(catalog.enroll_station_key, STATION, key.public_pem, "bench")
        await asyncio.to_thread(make_spool, root / "spool", key, segments, size)
        spool = Spool(root / "spool", key_path, STATION, 1 << 40)
        await asyncio.to_thread(spool.start)
        url = f"http://127.0.0.1:{port}"
        token = app[TOKENS_KEY].mint([STREAM], "station", 600)
        try:
            yield app, url, spool, Backfill(spool, [url], token, kbps or 10**9)
        finally:
            await asyncio.to_thread(spool.stop)
    finally:
        await server.close()


async def main(segments: int, size: int, kbps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with station_spool(Path(tmp), segments, size, kbps) as (_, _, spool, backfill):
            began = time.monotonic()
            task = asyncio.create_task(backfill.run())
            while True:  # polled: the bench measures, nothing signals the end
                if not spool.pending():
                    break
                await asyncio.sleep(0.05)
            took = time.monotonic() - began
            task.cancel()
    total = segments * size
    rate = total * 8 / took / 1e6
    print(
        f"back-fill: {segments} segments x {size} bytes = {total / 1e6:.1f} MB in {took:.2f} s"
        f" = {rate:.1f} Mbit/s" + (f" (cap {kbps / 1000:.1f} Mbit/s)" if kbps else " (no cap)")
    )


def au_key(data: bytes) -> bytes:
    """An access unit's identity whatever its start codes (3 or 4 bytes)."""
    return hashlib.sha256(b"".join(annexb_nals(data))).digest()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


async def live(seconds: float, kbps: int, size: int) -> None:
    rate = kbps or 100_000  # (no cap: loopback goes far faster; enough to outlast it)
    segments = math.ceil(1.5 * rate * 1000 / 8 * seconds / size) + 2  # outlasts the phase
    set_host_addresses(["127.0.0.1"])
    use_keyframe_tap(tap_keyframe_requests)
    with tempfile.TemporaryDirectory() as tmp:
        async with station_spool(Path(tmp), segments, size, kbps) as (app, url, _, backfill):
            handed: dict[bytes, float] = {}

            def sink(kind: str, payload: Any, _keyframe: bool) -> None:
                if kind == "video":
                    handed[au_key(bytes(payload))] = time.monotonic()

            source = PatternSource("live", "bench live", width=1280, height=720, fps=30)
            source.sinks.append(sink)
            await source.start()
            tokens = app[TOKENS_KEY]
            publisher = WhipPublisher(
                f"{url}/whip/bench-live",
                tokens.mint(["bench-live"], "station", 600),
                source.tracks(),
            )
            await publisher.start()
            viewer = Viewer(f"{url}/whep/bench-live", tokens.mint(["bench-live"], "viewer", 600))
            await viewer.start()
            await viewer.wait_frames(30, timeout=20)

            async def phase() -> list[float]:
                first = len(viewer.frames)
                await asyncio.sleep(seconds)
                got = zip(viewer.frames[first:], viewer.frame_times[first:], strict=False)
                return [
                    1000 * (at - handed[k]) for frame, at in got if (k := au_key(frame)) in handed
                ]

            try:
                quiet = await phase()
                task = asyncio.create_task(backfill.run())
                busy = await phase()
                sent = backfill.status.bytes
                task.cancel()
            finally:
                await viewer.close()
                await publisher.stop()
                await source.stop()
    print(f"live 720p30 testsrc, {seconds:g} s each; back-fill cap {kbps or 'no'} kbit/s")
    for what, lat in (("without back-fill", quiet), ("with back-fill", busy)):
        print(
            f"  {what:18s} {len(lat):5d} AUs  p50 {statistics.median(lat):6.1f} ms"
            f"  p95 {percentile(lat, 0.95):6.1f} ms  max {max(lat):6.1f} ms"
        )
    print(
        f"  ratio with/without: p50 {statistics.median(busy) / statistics.median(quiet):.2f}"
        f"  p95 {percentile(busy, 0.95) / percentile(quiet, 0.95):.2f}"
        f"; back-fill uploaded {sent / 1e6:.1f} MB ({sent * 8 / seconds / 1000:.0f} kbit/s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--kbps", type=int, default=None)
    parser.add_argument("--live", type=float, default=0, help="seconds per latency phase")
    args = parser.parse_args()
    if args.live:
        asyncio.run(live(args.live, args.kbps if args.kbps is not None else 2000, 500_000))
    else:
        asyncio.run(main(args.segments, args.size, args.kbps or 0))
