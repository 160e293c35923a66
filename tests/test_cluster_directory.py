"""The Redis stream directory: claim, lookup, release; entries and heartbeats expire with
their TTL; an entry whose node stopped beating, or that is not genuine, routes nobody."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from cluster import ClusterSettings, Node, RedisDirectory, Signer, connect_redis

from .redis_service import require_redis, unique_prefix
from .waiting import wait_for

SECRET = b"a shared cluster secret"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = connect_redis(require_redis())
    yield client
    await client.aclose()


@pytest.fixture
def settings() -> ClusterSettings:
    return ClusterSettings(
        redis_url=require_redis(),
        key_prefix=unique_prefix("dir"),
        heartbeat_seconds=0.2,
        entry_ttl_seconds=1.0,
    )


def directory(redis: Redis, settings: ClusterSettings, name: str) -> RedisDirectory:
    node = Node(name, f"http://{name}.example:8080")
    return RedisDirectory(redis, Signer(SECRET, name), node, settings, lambda: {"viewers": 3})


async def test_a_claimed_stream_is_found_by_every_node_until_released(
    redis: Redis, settings: ClusterSettings
) -> None:
    a, b = directory(redis, settings, "node-a"), directory(redis, settings, "node-b")
    await a.start()
    await b.start()
    await a.claim("cam1", since=1000.0)
    entry = await b.lookup("cam1")
    assert entry is not None
    assert (entry.stream_id, entry.node_id, entry.url, entry.since) == (
        "cam1",
        "node-a",
        "http://node-a.example:8080",
        1000.0,
    )
    assert [e.stream_id for e in await b.streams()] == ["cam1"]
    nodes = {n.node_id: n for n in await b.nodes()}
    assert set(nodes) == {"node-a", "node-b"}
    assert nodes["node-a"].streams == ["cam1"]
    assert nodes["node-a"].load == {"viewers": 3}
    # B cannot release what A holds; A can.
    await b.release("cam1")
    assert await b.lookup("cam1") is not None
    await a.release("cam1")
    assert await b.lookup("cam1") is None
    await a.close()
    await b.close()
    assert await b.nodes() == []


async def test_a_node_that_stops_beating_leaves_the_directory(
    redis: Redis, settings: ClusterSettings
) -> None:
    a, b = directory(redis, settings, "node-a"), directory(redis, settings, "node-b")
    await a.start()
    await a.claim("cam1")
    assert a._runner is not None
    a._runner.cancel()  # as if killed: no more heartbeats, nothing released
    # Its heartbeat goes first: the entry, if still there, no longer routes anyone.
    await redis.delete(f"{settings.key_prefix}:node:node-a")
    assert await redis.exists(f"{settings.key_prefix}:stream:cam1")
    assert await b.lookup("cam1") is None
    assert await b.streams() == []
    # And within the TTL the entry itself is gone.
    await wait_for(
        lambda: redis.exists(f"{settings.key_prefix}:stream:cam1"),
        lambda n: n == 0,
        what="the dead node's entry expired",
        timeout=3,
    )


async def test_a_forged_entry_or_heartbeat_routes_nobody(
    redis: Redis, settings: ClusterSettings
) -> None:
    intruder = Signer(b"not the secret", "evil")
    p = settings.key_prefix
    beat = {"node_id": "evil", "url": "http://evil", "seen": 1e12, "streams": ["cam1"], "load": {}}
    entry = {"stream_id": "cam1", "node_id": "evil", "url": "http://evil", "since": 1.0}
    await redis.set(f"{p}:node:evil", intruder.sign(beat), px=5000)
    await redis.set(f"{p}:stream:cam1", "evil\n" + intruder.sign(entry), px=5000)
    b = directory(redis, settings, "node-b")
    assert await b.lookup("cam1") is None
    assert await b.nodes() == []
    # A genuine entry whose node's heartbeat is forged: refused all the same.
    genuine = Signer(SECRET, "evil")
    await redis.set(f"{p}:stream:cam1", "evil\n" + genuine.sign(entry), px=5000)
    assert await b.lookup("cam1") is None


async def test_a_restarted_node_drops_what_it_no_longer_holds(
    redis: Redis, settings: ClusterSettings
) -> None:
    first = directory(redis, settings, "node-a")
    await first.start()
    await first.claim("cam1")
    await first.claim("cam2")
    assert first._runner is not None
    first._runner.cancel()  # killed -9 ...
    again = directory(redis, settings, "node-a")
    await again.start()  # ... and back, holding nothing yet
    assert await redis.exists(f"{settings.key_prefix}:stream:cam1") == 0
    await again.claim("cam2")
    assert [e.stream_id for e in await again.streams()] == ["cam2"]
    await again.close()


async def test_a_stream_republished_elsewhere_is_not_taken_back_by_the_old_holder(
    redis: Redis, settings: ClusterSettings
) -> None:
    a, b = directory(redis, settings, "node-a"), directory(redis, settings, "node-b")
    await a.start()
    await b.start()
    await a.claim("cam1")
    await b.claim("cam1")  # the station failed over to B
    await wait_for(lambda: a.streams(), what="A's heartbeat refreshed at least once", timeout=2)
    entry = await a.lookup("cam1")
    assert entry is not None and entry.node_id == "node-b"
    await a.release("cam1")  # A learns it lost the publisher: B's entry stays
    entry = await a.lookup("cam1")
    assert entry is not None and entry.node_id == "node-b"
    await a.close()
    await b.close()


async def test_reconcile_writes_back_what_a_redis_outage_lost(
    redis: Redis, settings: ClusterSettings
) -> None:
    a = directory(redis, settings, "node-a")
    await a.start()
    await a.claim("cam1")
    assert a._runner is not None
    a._runner.cancel()
    keys = [k async for k in redis.scan_iter(match=f"{settings.key_prefix}:*")]
    await redis.delete(*keys)  # a Redis restarted without persistence
    assert await a.lookup("cam1") is None
    await a.reconcile()
    entry = await a.lookup("cam1")
    assert entry is not None and entry.node_id == "node-a"
    await a.close()
