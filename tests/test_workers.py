"""Viewer workers (media.workers): one `vdispatch serve` node with workers=2, that is
the main process and one worker process. Real aiortc viewers on loopback: a stream's
viewers spread over both processes, each decodes frames; the publisher is ingested
and recorded once; the worker opens one upstream from the main process for all its
viewers; DELETE reaches the worker; a worker killed -9 is restarted and serves again;
the node stopped leaves no child process behind.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from camera_agents import WhipPublisher
from media_gateway import set_host_addresses

from .catalogs import fresh_postgres_database, postgres_reachable
from .cluster_nodes import Cluster, ClusterNode, start_cluster
from .conftest import require_or_skip
from .peers import EncodedVideoTrack, Viewer, encode_vp8
from .redis_service import require_redis
from .waiting import wait_for

CAMERA = "court-w-wide"
METRICS_TOKEN = "workers-test-metrics-token"


@pytest.fixture
def database() -> Iterator[str]:
    require_or_skip(
        postgres_reachable(),
        "PostgreSQL is not reachable at 127.0.0.1:5432 (the cluster tests need it)",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def cluster(tmp_path: Path, database: str) -> AsyncIterator[Cluster]:
    set_host_addresses(["127.0.0.1"])
    env = {
        "VDISPATCH_MEDIA__WORKERS": "2",
        "VDISPATCH_MEDIA__RELAY_LINGER": "1",
        "VDISPATCH_METRICS_TOKEN": METRICS_TOKEN,
        "VDISPATCH_METRICS_LISTEN": "",
    }
    try:
        async with start_cluster(tmp_path, database, require_redis(), nodes=1, **env) as c:
            yield c
    finally:
        set_host_addresses(None)


def _workers(node: ClusterNode) -> list[psutil.Process]:
    assert node.proc is not None
    children = psutil.Process(node.proc.pid).children(recursive=True)
    return [p for p in children if "vdispatch.worker" in " ".join(p.cmdline())]


async def _viewers(node: ClusterNode) -> int:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    url = f"{node.url}/metrics"
    async with aiohttp.ClientSession(headers=headers) as http, http.get(url) as r:
        text = await r.text()
    found = re.search(rf'vdispatch_stream_viewers{{stream="{CAMERA}"}} (\d+)', text)
    return int(found[1]) if found else 0


async def _start(viewers: list[Viewer]) -> None:
    for v in viewers:  # one by one: each choice sees the one before
        await v.start()
    await asyncio.gather(*(v.wait_frames(20, timeout=20) for v in viewers))
    await wait_for(lambda: min(v.decoded for v in viewers), lambda n: n > 0, what="frames decoded")


async def test_viewers_spread_over_workers_one_upstream_each(cluster: Cluster) -> None:
    (node,) = cluster.nodes
    await wait_for(
        lambda: cluster.log(node).count("viewer worker 1 up at"),
        lambda n: n == 1,
        what="the worker up",
        timeout=30,
    )
    workers = _workers(node)
    assert len(workers) == 1
    track = EncodedVideoTrack(encode_vp8(90, gop=30))
    station = cluster.token([CAMERA], "station")
    publisher = WhipPublisher(f"{node.url}/whip/{CAMERA}", station, [track])
    token = cluster.token([CAMERA], "viewer")
    viewers = [Viewer(f"{node.url}/whep/{CAMERA}", token) for _ in range(4)]
    later: list[Viewer] = []
    await publisher.start()
    try:
        await _start(viewers)
        resources = [v.resource or "" for v in viewers]
        at_worker = [v for v, r in zip(viewers, resources, strict=True) if "/w1-" in r]
        assert len(at_worker) == 2, resources  # two here, two at the worker
        await wait_for(lambda: _viewers(node), lambda n: n == 4, what="4 viewers counted")
        # One upstream from the main process for both of the worker's viewers.
        log = cluster.log(node)
        assert log.count(f"stream {CAMERA}: relay request from node node-a/worker-1") == 1, log

        # DELETE of a worker's viewer reaches the worker.
        gone = at_worker[0]
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.delete(gone.resource or "", headers=headers) as r:
                assert r.status == 200, await r.text()
            async with http.delete(gone.resource or "", headers=headers) as r:
                assert r.status == 404
        await wait_for(lambda: _viewers(node), lambda n: n == 3, what="3 viewers counted")

        # A worker killed -9 is restarted; the main process's viewers carry on, and new
        # viewers are served (there too).
        at_main = [v for v in viewers if v not in at_worker]
        old = workers[0]
        old.kill()
        await asyncio.to_thread(old.wait, 10)
        for v in at_main:
            await v.wait_frames(len(v.frames) + 15)
        workers = await wait_for(
            lambda: [p for p in _workers(node) if p.pid != old.pid],
            bool,
            what="a new worker process",
            timeout=30,
        )
        await wait_for(
            lambda: cluster.log(node).count("viewer worker 1 up at"),
            lambda n: n == 2,
            what="the new worker up",
        )
        later = [Viewer(f"{node.url}/whep/{CAMERA}", token) for _ in range(2)]
        await _start(later)
        assert any("/w1-" in (v.resource or "") for v in later), [v.resource for v in later]
    finally:
        for v in [*viewers, *later]:
            await v.close()
        await publisher.stop()
    child = workers[0]
    await cluster.stop(node)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert "Traceback" not in cluster.log(node)
    # Ingested and recorded once: the main process holds the one recording.
    manifests = list((node.data_dir / "recordings").rglob("manifest.json"))
    assert len(manifests) == 1, manifests
