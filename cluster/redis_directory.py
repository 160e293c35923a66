"""The stream directory on Redis: node heartbeats and stream entries, both with a TTL,
both signed.

Keys (under the cluster's key prefix):
- `{p}:node:{node_id}`: the node's heartbeat (url, load, the streams it holds), set
  every `heartbeat_seconds` with a TTL of `entry_ttl_seconds`;
- `{p}:stream:{stream_id}`: `"{node_id}\\n{signed entry}"`, refreshed with the heartbeat.
  The holder's id comes first so that Lua can compare-and-delete without parsing.

A node killed with -9 stops beating: its heartbeat and entries expire within the TTL,
and until then `lookup` already refuses an entry whose node's heartbeat is gone, stale
or not genuine, so a viewer is never routed to a dead node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .directory import NodeInfo, StreamEntry
from .node import Node
from .settings import ClusterSettings
from .signing import SignatureError, Signer

logger = logging.getLogger(__name__)

Load = Callable[[], dict[str, Any]]

# Set the entry unless another node holds it (the heartbeat's refresh must not take
# back a stream that has moved to another node meanwhile).
_REFRESH = """
local v = redis.call('GET', KEYS[1])
if v == false or string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
# Delete the entry only if this node holds it.
_RELEASE = """
local v = redis.call('GET', KEYS[1])
if v ~= false and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _no_load() -> dict[str, Any]:
    return {}


class RedisDirectory:
    def __init__(
        self,
        redis: Redis,
        signer: Signer,
        node: Node,
        settings: ClusterSettings,
        load: Load = _no_load,
    ) -> None:
        self.redis = redis
        self.signer = signer
        self.node = node
        self.settings = settings
        self.load = load
        self._prefix = settings.key_prefix
        self._held: dict[str, float] = {}  # stream id -> since: what this node publishes
        self._runner: asyncio.Task[None] | None = None
        self._owner = f"{node.node_id}\n"
        # Writes one at a time: the pool runs concurrent commands on separate
        # connections, and an older heartbeat must not land after a newer one.
        self._writing = asyncio.Lock()

    @property
    def held(self) -> dict[str, float]:
        return dict(self._held)

    def _node_key(self, node_id: str) -> str:
        return f"{self._prefix}:node:{node_id}"

    def _stream_key(self, stream_id: str) -> str:
        return f"{self._prefix}:stream:{stream_id}"

    @property
    def _ttl_ms(self) -> int:
        return int(self.settings.entry_ttl_seconds * 1000)

    # Lifecycle

    async def start(self) -> None:
        """Register the node, forgetting entries a previous run of it left (killed -9: it
        holds nothing now), then beat."""
        try:
            await self.reconcile()
        except (RedisError, OSError) as exc:
            logger.error("directory: not registered yet (%r); the heartbeat retries", exc)
        self._runner = asyncio.ensure_future(self._beat())

    async def close(self) -> None:
        """Leave the directory at once (not after the TTL): entries and heartbeat."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        with contextlib.suppress(RedisError, OSError):
            for stream_id in list(self._held):
                await self._release_key(stream_id)
            await self.redis.delete(self._node_key(self.node.node_id))
        self._held.clear()

    async def reconcile(self) -> None:
        """After a start or a Redis outage: the directory says again exactly what this node
        holds (its own stale entries dropped, every held stream claimed, the heartbeat)."""
        async with self._writing:
            await self._reconcile()

    async def _reconcile(self) -> None:
        async for key in self.redis.scan_iter(match=self._stream_key("*"), count=500):
            value = await self.redis.get(key)
            if value is None:
                continue
            text = value.decode() if isinstance(value, bytes) else str(value)
            stream_id = (key.decode() if isinstance(key, bytes) else str(key)).rsplit(":", 1)[1]
            if text.startswith(self._owner) and stream_id not in self._held:
                await self._release_key(stream_id)
        await self._heartbeat()
        for stream_id, since in list(self._held.items()):
            await self._write_entry(stream_id, since, force=True)

    # Claims: told by presence when a stream is published here or ends.

    async def claim(self, stream_id: str, since: float | None = None) -> None:
        """This node holds `stream_id` (a newer publication here wins over an older entry)."""
        self._held[stream_id] = time.time() if since is None else since
        try:
            async with self._writing:
                await self._write_entry(stream_id, self._held[stream_id], force=True)
                await self._heartbeat()
        except (RedisError, OSError) as exc:
            logger.warning("directory: %s not claimed yet (%r); reconciled later", stream_id, exc)

    async def release(self, stream_id: str) -> None:
        """This node no longer holds `stream_id`: its entry goes if it is still ours."""
        self._held.pop(stream_id, None)
        try:
            async with self._writing:
                await self._release_key(stream_id)
                await self._heartbeat()
        except (RedisError, OSError) as exc:
            logger.warning("directory: %s not released yet (%r); reconciled later", stream_id, exc)

    async def _release_key(self, stream_id: str) -> None:
        await self.redis.eval(_RELEASE, 1, self._stream_key(stream_id), self._owner)

    async def _write_entry(self, stream_id: str, since: float, *, force: bool) -> None:
        entry = {
            "stream_id": stream_id,
            "node_id": self.node.node_id,
            "url": self.node.public_url,
            "since": since,
        }
        value = self._owner + self.signer.sign(entry)
        key = self._stream_key(stream_id)
        if force:
            await self.redis.set(key, value, px=self._ttl_ms)
        else:
            await self.redis.eval(_REFRESH, 1, key, self._owner, value, self._ttl_ms)

    async def _heartbeat(self) -> None:
        beat = {
            "node_id": self.node.node_id,
            "url": self.node.public_url,
            "seen": time.time(),
            "streams": sorted(self._held),
            "load": self.load(),
        }
        await self.redis.set(
            self._node_key(self.node.node_id), self.signer.sign(beat), px=self._ttl_ms
        )

    async def _beat(self) -> None:
        period = self.settings.heartbeat_seconds
        failing = False
        while True:
            try:
                async with self._writing:
                    await self._heartbeat()
                    for stream_id, since in list(self._held.items()):
                        await self._write_entry(stream_id, since, force=False)
                if failing:
                    failing = False
                    logger.info("directory: heartbeat written again")
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise asyncio.CancelledError from exc  # redis-py turned a cancel into this
                if not failing:
                    failing = True
                    logger.error("directory: heartbeat not written (%r)", exc)
            except Exception:
                logger.exception("directory: heartbeat failed")
            await asyncio.sleep(period)

    # Directory

    def _genuine(self, raw: str | bytes | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        try:
            body = self.signer.verify(raw, fresh=False).body
        except SignatureError as exc:
            logger.warning("directory: entry ignored: %s", exc)
            return None
        return body if isinstance(body, dict) else None

    def _node(self, raw: str | bytes | None) -> NodeInfo | None:
        body = self._genuine(raw)
        if body is None:
            return None
        try:
            info = NodeInfo(
                node_id=str(body["node_id"]),
                url=str(body["url"]),
                seen=float(body["seen"]),
                streams=[str(s) for s in body["streams"]],
                load=dict(body["load"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        # A copy of an old heartbeat written back is not a live node.
        if time.time() - info.seen > self.settings.entry_ttl_seconds + 5:
            return None
        return info

    def _entry(self, raw: str | bytes | None) -> StreamEntry | None:
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else raw
        owner, _, signed = text.partition("\n")
        body = self._genuine(signed)
        if body is None:
            return None
        try:
            entry = StreamEntry(
                stream_id=str(body["stream_id"]),
                node_id=str(body["node_id"]),
                url=str(body["url"]),
                since=float(body["since"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return entry if entry.node_id == owner else None

    async def lookup(self, stream_id: str) -> StreamEntry | None:
        try:
            entry = self._entry(await self.redis.get(self._stream_key(stream_id)))
            if entry is None or entry.stream_id != stream_id:
                return None
            node = self._node(await self.redis.get(self._node_key(entry.node_id)))
        except (RedisError, OSError) as exc:
            logger.warning("directory: lookup of %s failed (%r)", stream_id, exc)
            return None
        if node is None:
            return None  # its node stopped beating: never route a viewer there
        return entry

    async def nodes(self) -> list[NodeInfo]:
        try:
            keys = [k async for k in self.redis.scan_iter(match=self._node_key("*"), count=500)]
            values = await self.redis.mget(keys) if keys else []
        except (RedisError, OSError) as exc:
            logger.warning("directory: nodes not listed (%r)", exc)
            return []
        found = [self._node(v) for v in values]
        return sorted((n for n in found if n is not None), key=lambda n: n.node_id)

    async def streams(self) -> list[StreamEntry]:
        live = {n.node_id: n for n in await self.nodes()}
        try:
            match = self._stream_key("*")
            keys = [k async for k in self.redis.scan_iter(match=match, count=500)]
            values = await self.redis.mget(keys) if keys else []
        except (RedisError, OSError) as exc:
            logger.warning("directory: streams not listed (%r)", exc)
            return []
        entries = []
        for value in values:
            entry = self._entry(value)
            node = live.get(entry.node_id) if entry is not None else None
            if entry is not None and node is not None:
                entries.append(entry)
        return sorted(entries, key=lambda e: e.stream_id)
