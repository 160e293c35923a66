"""The event bus across nodes, on Redis: a Redis Stream for events that must not be lost,
pub/sub for the rest.

`publish` delivers to this node's subscribers at once (as InProcessBus does) and then to
Redis, signed. A reader task per channel reads what other nodes wrote, verifies it and
fans it out here; this node's own events come back too and are skipped (delivered
already). Redis down: local delivery goes on, the outage is logged once and told locally
as `cluster.alarm`; durable events wait in a bounded outbox; the supervisor reconnects
with back-off, then resumes the stream where it stopped, sends the outbox and runs the
reconcile callbacks (the directory re-registers the node and its streams).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .bus import Event, InProcessBus
from .signing import SignatureError, Signer

logger = logging.getLogger(__name__)

ALARM_TOPIC = "cluster.alarm"  # local only: {"on": bool, "reason": str}
# Topics about this node's own state, told to its own subscribers only: its Redis link,
# its catalog database ({"down": bool, "reason": str | None}, vdispatch/catalog_health.py).
LOCAL_TOPICS = (ALARM_TOPIC, "catalog.alarm")
# Topics that may be lost (a newer one says the same soon): pub/sub. Everything else
# (directions, comments, session.*, reception.*, dispatch.*, recording.*) goes through the
# stream: a terminal on another node must get it even if its reader was busy a moment.
VOLATILE_PREFIXES = ("stream.", "station.presence", "node.", "load.")
STREAM_MAXLEN = 10_000  # approximate (MAXLEN ~): the stream is a relay, not an archive
OUTBOX_SIZE = 1000
READ_BLOCK_MS = 1000
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 5.0

Reconcile = Callable[[], Awaitable[None]]


def is_durable(topic: str) -> bool:
    return not topic.startswith(VOLATILE_PREFIXES) and topic not in LOCAL_TOPICS


class RedisBus:
    def __init__(
        self,
        redis: Redis,
        signer: Signer,
        node_id: str,
        key_prefix: str = "vdispatch",
        queue_size: int = 1000,
    ) -> None:
        self.redis = redis
        self.signer = signer
        self.node_id = node_id
        self.stream_key = f"{key_prefix}:bus:durable"
        self.channel = f"{key_prefix}:bus:live"
        self._local = InProcessBus(queue_size)
        self._outbox: deque[dict[str, Any]] = deque(maxlen=OUTBOX_SIZE)
        self._reconcile: list[Reconcile] = []
        self._healthy = False
        self._alarm = False
        self._last_id = "$"
        self._runner: asyncio.Task[None] | None = None
        self._closed = False
        self._connected = asyncio.Event()
        # Set when a publish fails while the readers still run: they stop, and the
        # supervisor reconnects and sends the outbox (else nothing would flush it).
        self._kick = asyncio.Event()
        self.forged = 0  # messages rejected: bad signature, stale or replayed
        self.outbox_dropped = 0  # durable events lost to a full outbox during an outage

    @property
    def dropped(self) -> int:
        """Events lost: by a slow local subscriber (its queue was full), or durable events
        that did not fit the outbox during a Redis outage."""
        return self._local.dropped + self.outbox_dropped

    @property
    def healthy(self) -> bool:
        return self._healthy and not self._closed

    def on_reconnect(self, callback: Reconcile) -> None:
        """`callback` runs each time Redis is back after an outage (not at first connect)."""
        self._reconcile.append(callback)

    async def start(self, timeout: float = 5.0) -> None:
        """Start reading; wait (up to `timeout`) for the first connection, so that an event
        published by another node right after this returns is not missed."""
        self._runner = asyncio.ensure_future(self._supervise())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)

    # EventBus

    async def publish(self, event: Event) -> None:
        await self._local.publish(event)
        if event.topic in LOCAL_TOPICS or self._closed:
            return
        body = {"topic": event.topic, "data": event.data, "node_id": event.node_id}
        durable = is_durable(event.topic)
        if not self._healthy:
            self._keep(body, durable)
            return
        try:
            await self._send(body, durable)
        except (RedisError, OSError) as exc:
            self._keep(body, durable)
            self._kick.set()
            await self._down(exc)

    def subscribe(self, prefix: str = "") -> AsyncIterator[Event]:
        return self._local.subscribe(prefix)

    async def close(self) -> None:
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self._local.close()

    # ------------------------------------------------------------

    def _keep(self, body: dict[str, Any], durable: bool) -> None:
        if not durable:
            return
        if len(self._outbox) == self._outbox.maxlen:
            self.outbox_dropped += 1
        self._outbox.append(body)

    async def _send(self, body: dict[str, Any], durable: bool) -> None:
        message = self.signer.sign(body)  # signed when sent: an outbox is never stale
        if durable:
            await self.redis.xadd(
                self.stream_key, {"m": message}, maxlen=STREAM_MAXLEN, approximate=True
            )
        else:
            await self.redis.publish(self.channel, message)

    async def _down(self, exc: BaseException) -> None:
        self._healthy = False
        self._connected.clear()
        if self._alarm:
            return
        self._alarm = True
        reason = f"Redis unreachable: {exc!r}"
        logger.error("cluster bus: %s; serving locally, reconnecting", reason)
        await self._local.publish(Event(ALARM_TOPIC, {"on": True, "reason": reason}, self.node_id))

    async def _up(self) -> None:
        self._kick.clear()
        if self._last_id == "$":
            # The first connection: read what is written from now on (resumed from
            # here after an outage, so nothing written meanwhile is skipped).
            last: Any = await self.redis.xrevrange(self.stream_key, count=1)
            self._last_id = _text(last[0][0]) if last else "0-0"
        while self._outbox:
            body = self._outbox[0]
            await self._send(body, is_durable(str(body["topic"])))
            self._outbox.popleft()
        self._healthy = True
        self._connected.set()
        if self._alarm:
            self._alarm = False
            logger.warning("cluster bus: Redis is back; reconciling")
            await self._local.publish(
                Event(ALARM_TOPIC, {"on": False, "reason": "Redis is back"}, self.node_id)
            )
            for callback in list(self._reconcile):
                try:
                    await callback()
                except Exception:
                    logger.exception("cluster bus: a reconcile callback failed")

    async def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._closed:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                await self._up()
                backoff = BACKOFF_FIRST
                await _first_failure(
                    self._read_stream(), self._read_channel(pubsub), self._kicked()
                )
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._closed:
                    return  # redis-py may turn the closing cancel into a connection error
                await self._down(exc)
            except Exception:
                logger.exception("cluster bus: reader failed (restarting)")
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if self._closed:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _kicked(self) -> None:
        await self._kick.wait()
        raise ConnectionError("a publish failed: reconnecting")

    async def _read_stream(self) -> None:
        while True:
            replies: Any = await self.redis.xread(
                {self.stream_key: self._last_id}, count=100, block=READ_BLOCK_MS
            )
            for _key, entries in replies or []:
                for entry_id, fields in entries:
                    self._last_id = _text(entry_id)
                    raw = fields.get(b"m", fields.get("m"))
                    if raw is not None:
                        # The entry id starts with Redis's clock (ms) when it was added.
                        written = int(self._last_id.split("-", 1)[0]) / 1000
                        await self._deliver(raw, written)

    async def _read_channel(self, pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                await self._deliver(message["data"])

    async def _deliver(self, raw: str | bytes, written: float | None = None) -> None:
        try:
            envelope = self.signer.verify(raw, written=written)
            if envelope.node_id == self.node_id:
                return  # this node's own event: delivered locally when published
            body = envelope.body
            # The event's node is the one that signed it: no node speaks for another.
            event = Event(str(body["topic"]), dict(body["data"]), envelope.node_id)
        except (SignatureError, KeyError, TypeError, ValueError) as exc:
            self.forged += 1
            logger.warning("cluster bus: message ignored: %s", exc)
            return
        await self._local.publish(event)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _first_failure(*coros: Awaitable[None]) -> None:
    """Run the readers together; the first to fail stops the others and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
