"""The Redis event bus between two nodes, in-process: remote delivery, durable topics
through the Redis Stream, own events not duplicated, forged and replayed messages
ignored and counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from cluster import Event, RedisBus, Signer, connect_redis

from .conftest import require_or_skip
from .redis_service import RedisServer, redis_server_path, require_redis, unique_prefix
from .waiting import wait_for

SECRET = b"a shared cluster secret"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = connect_redis(require_redis())
    yield client
    await client.aclose()


class Collector:
    def __init__(self, bus: RedisBus, prefix: str = "") -> None:
        self.events: list[Event] = []
        self._task = asyncio.ensure_future(self._collect(bus, prefix))

    async def _collect(self, bus: RedisBus, prefix: str) -> None:
        async for event in bus.subscribe(prefix):
            self.events.append(event)

    def topics(self) -> list[str]:
        return [e.topic for e in self.events]

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def two_buses(redis: Redis) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    prefix = unique_prefix("bus")
    a = RedisBus(redis, Signer(SECRET, "node-a"), "node-a", prefix)
    b = RedisBus(redis, Signer(SECRET, "node-b"), "node-b", prefix)
    await a.start()
    await b.start()
    assert a.healthy and b.healthy
    yield a, b
    await a.close()
    await b.close()
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


async def test_an_event_published_on_one_node_reaches_the_other_once(
    two_buses: tuple[RedisBus, RedisBus],
) -> None:
    a, b = two_buses
    at_a, at_b = Collector(a), Collector(b)
    await asyncio.sleep(0)
    await a.publish(Event("direction.sent", {"text": "ask about the alibi"}, "node-a"))
    await a.publish(Event("stream.up", {"stream": "cam1"}, "node-a"))
    await wait_for(at_b.topics, lambda t: len(t) == 2, what="both events at node B")
    assert sorted(at_b.topics()) == ["direction.sent", "stream.up"]
    assert {e.node_id for e in at_b.events} == {"node-a"}
    assert at_b.events[at_b.topics().index("direction.sent")].data == {
        "text": "ask about the alibi"
    }
    # Node A heard its own events once (locally at publish), not again from Redis.
    await b.publish(Event("comment.added", {"text": "noted"}, "node-b"))
    await wait_for(at_a.topics, lambda t: "comment.added" in t, what="B's comment at A")
    assert at_a.topics() == ["direction.sent", "stream.up", "comment.added"]
    await at_a.stop()
    await at_b.stop()


async def test_durable_topics_go_through_the_stream_and_volatile_ones_do_not(
    redis: Redis, two_buses: tuple[RedisBus, RedisBus]
) -> None:
    a, _ = two_buses
    await a.publish(Event("session.started", {"id": "s1"}, "node-a"))
    await a.publish(Event("stream.up", {"stream": "cam1"}, "node-a"))
    entries = await redis.xrange(a.stream_key)
    assert len(entries) == 1
    assert b"session.started" in entries[0][1][b"m"]


async def test_a_durable_event_written_while_a_reader_was_away_is_read_on_resume(
    redis: Redis,
) -> None:
    """The stream is read from where the reader stopped, not from "now": a node whose
    reader restarts gets the durable events written meanwhile."""
    prefix = unique_prefix("resume")
    a = RedisBus(redis, Signer(SECRET, "node-a"), "node-a", prefix)
    b = RedisBus(redis, Signer(SECRET, "node-b"), "node-b", prefix)
    await a.start()
    await b.start()
    at_b = Collector(b)
    await asyncio.sleep(0)
    assert b._runner is not None
    b._runner.cancel()  # B's reader stops (as in an outage) ...
    await asyncio.gather(b._runner, return_exceptions=True)
    await a.publish(Event("direction.sent", {"n": 1}, "node-a"))
    b._runner = asyncio.ensure_future(b._supervise())  # ... and comes back
    await wait_for(at_b.topics, lambda t: t == ["direction.sent"], what="the missed direction")
    await at_b.stop()
    await a.close()
    await b.close()


async def test_forged_and_replayed_messages_are_ignored_and_counted(
    redis: Redis, two_buses: tuple[RedisBus, RedisBus]
) -> None:
    a, b = two_buses
    at_b = Collector(b)
    await asyncio.sleep(0)
    # Someone with access to Redis but not the SECRET.
    intruder = Signer(b"not the secret", "node-a")
    forged = intruder.sign({"topic": "direction.sent", "data": {"text": "release him"}})
    await redis.xadd(a.stream_key, {"m": forged})
    await redis.publish(a.channel, forged)
    # A genuine message of node A, written again.
    await a.publish(Event("comment.added", {"text": "genuine"}, "node-a"))
    await wait_for(at_b.topics, what="the genuine comment at B")
    genuine = (await redis.xrange(a.stream_key))[-1][1][b"m"]
    await redis.xadd(a.stream_key, {"m": genuine})
    await redis.publish(a.channel, b"not even json")
    await wait_for(lambda: b.forged, lambda n: n == 4, what="four rejected messages")
    assert at_b.topics() == ["comment.added"]
    await at_b.stop()


async def test_redis_down_local_delivery_goes_on_and_an_alarm_is_told() -> None:
    """Nothing listens on the port: the bus is unhealthy from the start, local
    subscribers still get every event, and the alarm is on."""
    from .redis_service import free_port

    client = connect_redis(f"redis://127.0.0.1:{free_port()}/0")
    bus = RedisBus(client, Signer(SECRET, "node-a"), "node-a", unique_prefix("down"))
    here = Collector(bus)
    await bus.start(timeout=0.5)
    assert not bus.healthy
    await bus.publish(Event("direction.sent", {"n": 1}, "node-a"))
    await wait_for(
        here.topics,
        lambda t: "direction.sent" in t and "cluster.alarm" in t,
        what="the local event and the alarm",
    )
    alarm = next(e for e in here.events if e.topic == "cluster.alarm")
    assert alarm.data["on"] is True
    await here.stop()
    await bus.close()
    await client.aclose()


async def test_redis_restarted_the_bus_reconnects_sends_its_outbox_and_reconciles() -> None:
    """A redis-server of the test's own, killed and started again (empty): durable events
    published meanwhile reach the other node afterwards; the reconcile callbacks run."""
    require_or_skip(
        redis_server_path() is not None,
        "redis-server is not installed (apt-get install redis-server)",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    server = RedisServer()
    server.start()
    await wait_for(server.answering, what="redis-server answering", timeout=10)
    client_a, client_b = connect_redis(server.url), connect_redis(server.url)
    prefix = unique_prefix("outage")
    a = RedisBus(client_a, Signer(SECRET, "node-a"), "node-a", prefix)
    b = RedisBus(client_b, Signer(SECRET, "node-b"), "node-b", prefix)
    reconciled: list[str] = []

    async def reconcile() -> None:
        reconciled.append("a")

    a.on_reconnect(reconcile)
    try:
        await a.start()
        await b.start()
        at_a, at_b = Collector(a), Collector(b)
        await asyncio.sleep(0)
        server.kill()
        await a.publish(Event("direction.sent", {"n": 1}, "node-a"))  # durable: kept
        await a.publish(Event("stream.up", {"stream": "cam1"}, "node-a"))  # volatile: not
        await wait_for(lambda: not a.healthy, what="A noticed the outage")
        assert "direction.sent" in at_a.topics()  # local delivery went on
        await wait_for(at_a.topics, lambda t: "cluster.alarm" in t, what="the alarm at A")
        server.start()
        await wait_for(lambda: a.healthy and b.healthy, what="both back", timeout=15)
        await wait_for(at_b.topics, lambda t: "direction.sent" in t, what="the kept direction")
        assert "stream.up" not in at_b.topics()
        assert reconciled == ["a"]
        alarms = [e.data["on"] for e in at_a.events if e.topic == "cluster.alarm"]
        assert alarms == [True, False]
        await at_a.stop()
        await at_b.stop()
    finally:
        await a.close()
        await b.close()
        await client_a.aclose()
        await client_b.aclose()
        server.kill()
