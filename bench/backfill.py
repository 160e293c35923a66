"""Back-fill throughput: a station's spool of synthetic segments uploaded to a local node.

A node (in this process, loopback) and a spool holding one closed, station-signed
recording of N segments of S bytes each; the station's Backfill uploads them (manifest,
GET held, each segment with its sha256) at `--kbps` (0: as fast as it goes). Prints the
throughput and, with a cap, how close the pacing is to it.

Run: .venv/bin/python bench/backfill.py [--segments 40] [--size 1000000] [--kbps 0]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from camera_agents import Spool
from camera_agents.backfill import Backfill
from recorder import NodeKey, chain
from recorder import manifest as mf
from signaling.keys import ARCHIVE_KEY, TOKENS_KEY
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


async def main(segments: int, size: int, kbps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
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
            token = app[TOKENS_KEY].mint([STREAM], "station", 600)
            backfill = Backfill(spool, [f"http://127.0.0.1:{port}"], token, kbps or 10**9)
            began = time.monotonic()
            task = asyncio.create_task(backfill.run())
            while True:  # polled: the bench measures, nothing signals the end
                if not spool.pending():
                    break
                await asyncio.sleep(0.05)
            took = time.monotonic() - began
            task.cancel()
            await asyncio.to_thread(spool.stop)
        finally:
            await server.close()
    total = segments * size
    rate = total * 8 / took / 1e6
    print(
        f"back-fill: {segments} segments x {size} bytes = {total / 1e6:.1f} MB in {took:.2f} s"
        f" = {rate:.1f} Mbit/s" + (f" (cap {kbps / 1000:.1f} Mbit/s)" if kbps else " (no cap)")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--kbps", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.segments, args.size, args.kbps))
