"""End to end: a real node and a real agent (a `file:` camera, spooling). The node is
stopped for a while (VDISPATCH_BACKFILL_OUTAGE seconds, 12 by default; 60 in the issue's
variant) while the camera goes on; once the node is back the agent republishes and
back-fills, the centre's coverage of the stream over the outage has no gap over 1 s,
marked as the station's spool, and `vdispatch verify` passes on the ingested recording
with the station's key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from camera_agents.backfill import CHUNK, TokenBucket
from catalog import coverage
from media_gateway import set_host_addresses
from recorder import manifest as mf
from signaling.keys import ARCHIVE_KEY, GATEWAY_KEY, TOKENS_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .rtsp_camera import free_port, write_h264_file
from .waiting import wait_for

ROOT = Path(__file__).parent.parent
OUTAGE = float(os.environ.get("VDISPATCH_BACKFILL_OUTAGE", "12"))
STATION = "county-e"
STREAM = f"{STATION}-judge"


class RestartableNode:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: TestServer | None = None

    async def start(self) -> None:
        settings = load_settings(
            data_dir=self.data_dir, ice_addresses="127.0.0.1", reconnect_grace=0.2
        )
        self.app = build_app(settings, demo=True)
        self.server = TestServer(self.app, host="127.0.0.1", port=self.port)
        await self.server.start_server()
        set_host_addresses(["127.0.0.1"])

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None


def vdispatch(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if data_dir is not None:
        env["VDISPATCH_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "vdispatch", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def largest_hole(spans: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> float:
    """Seconds of the longest stretch of [start, end] no span covers."""
    cursor, worst = start, 0.0
    for s, e in sorted(spans):
        worst = max(worst, (min(s, end) - cursor).total_seconds())
        cursor = max(cursor, e)
        if cursor >= end:
            break
    return max(worst, (end - cursor).total_seconds())


async def test_an_outage_is_back_filled_from_the_station_spool(tmp_path: Path) -> None:
    node = RestartableNode(tmp_path / "node")
    began_at = time.time()
    await node.start()
    clip = tmp_path / "court.mp4"
    await asyncio.to_thread(write_h264_file, clip, 2.0, 30, 30)
    token_file = tmp_path / "station.token"
    token_file.write_text(node.app[TOKENS_KEY].mint([STREAM], "station", 600) + "\n")
    key_dir = tmp_path / "keys"
    enrolled = await asyncio.to_thread(
        vdispatch,
        "station",
        "enroll",
        "--station",
        STATION,
        "--gateway",
        node.url,
        "--token-file",
        str(token_file),
        "--key-dir",
        str(key_dir),
    )
    assert enrolled.returncode == 0, enrolled.stderr
    status_port = free_port()
    config = tmp_path / "station.toml"
    config.write_text(
        f"""
station = "{STATION}"
gateways = ["{node.url}"]
token_file = "{token_file.name}"
status_port = {status_port}
key_dir = "{key_dir}"
spool_dir = "spool"
spool_segment_seconds = 2
backfill_kbps = 20000

[[cameras]]
id = "judge"
role = "judge"
source = "file:{clip}"
"""
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VDISPATCH_ICE_ADDRESSES": "127.0.0.1"}
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vdispatch",
        "agent",
        "--config",
        str(config),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )

    def streams() -> list[str]:
        return [s.stream_id for s in node.app[GATEWAY_KEY].streams()] if node.server else []

    async def station_status() -> dict[str, object]:
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{status_port}/status.json") as resp,
            ):
                return dict(await resp.json())
        except aiohttp.ClientError:
            return {}

    try:
        await wait_for(streams, lambda s: s == [STREAM], what="the camera published", timeout=30)
        await wait_for(
            station_status,
            lambda s: bool(s) and s["backfill"]["uploaded"] >= 1,  # type: ignore[index]
            what="a first spool segment back-filled",
            timeout=30,
        )
        # the county line drops: the node is gone, the camera goes on
        await node.stop()
        down = datetime.now(UTC)
        await asyncio.sleep(OUTAGE)
        up = datetime.now(UTC)
        await node.start()
        await wait_for(streams, lambda s: s == [STREAM], what="republished", timeout=30)
        catalog = node.app[ARCHIVE_KEY].catalog

        async def hole() -> float:
            """The longest stretch of the outage the station's spool does not cover (the
            node's own spans cannot cover it: the node was down)."""
            cov = await asyncio.to_thread(coverage, catalog, down, up, [STREAM])
            spans = cov[STREAM].spans if STREAM in cov else []
            spooled = [(s.start, s.end) for s in spans if s.origin == "station spool"]
            return largest_hole(spooled, down, up)

        began = time.monotonic()
        await wait_for(hole, lambda h: h <= 1.0, what="the outage back-filled", timeout=60)
        took = time.monotonic() - began
        cov = await asyncio.to_thread(coverage, catalog, down, up, [STREAM])
        everything = [(s.start, s.end) for s in cov[STREAM].spans]
        assert largest_hole(everything, down, up) <= 1.0
        (spooled,) = {s.recording_id for s in cov[STREAM].spans if s.origin == "station spool"}
        summary = await asyncio.to_thread(catalog.recording, spooled)
        assert summary is not None
        rows = await asyncio.to_thread(lambda: catalog.audit_rows(target=spooled))
        assert rows[0]["action"] == "ingest.started"
        print(f"back-fill of a {OUTAGE:.0f} s outage done {took:.1f} s after the node's return")

        token = token_file.read_text().strip()

        async def held() -> dict[str, object]:
            async with (
                aiohttp.ClientSession() as http,
                http.get(
                    f"{node.url}/api/ingest/{spooled}",
                    headers={"Authorization": f"Bearer {token}"},
                ) as resp,
            ):
                return dict(await resp.json())

        await wait_for(
            held,
            lambda h: h["listed"] == len(h["segments"]),  # type: ignore[arg-type]
            what="every listed segment held",
            timeout=30,
        )
        agent.terminate()
        assert await asyncio.wait_for(agent.wait(), 25) == 0
        data_dir = catalog.settings.data_dir
        checked = await asyncio.to_thread(vdispatch, "verify", spooled, data_dir=data_dir)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "OK" in checked.stdout
        # its spans over the outage are the station's, beside the node's own before and after
        before = down - timedelta(seconds=30)
        around = await asyncio.to_thread(coverage, catalog, before, up + timedelta(seconds=30))
        assert {"node", "station spool"} <= {s.origin for s in around[STREAM].spans}
        # Every segment, the node's own too, lies within the run: a sender report with no
        # clock (aiortc's before its first packet) once put one ending hours ahead.
        ended_at = time.time()
        for directory in (data_dir / "recordings").iterdir():
            for seg in mf.load(directory).segments:
                span = [seg.start] if seg.end is None else [seg.start, seg.end]
                walls = [datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for t in span]
                assert began_at - 1 <= min(walls) <= max(walls) <= ended_at + 1, (directory, seg)
    finally:
        if agent.returncode is None:
            agent.terminate()
            await asyncio.wait_for(agent.wait(), 25)
        await node.stop()
        set_host_addresses(None)


async def test_the_token_bucket_paces_back_fill_at_its_rate() -> None:
    bucket = TokenBucket(rate=400_000 / 8, burst=CHUNK)  # backfill_kbps = 400
    began = time.monotonic()
    for _ in range(100_000 // CHUNK + 1):
        await bucket.take(CHUNK)
    took = time.monotonic() - began
    sent = (100_000 // CHUNK + 1) * CHUNK
    assert (sent - CHUNK) / 50_000 - 0.05 <= took <= (sent - CHUNK) / 50_000 + 0.5
