"""Stream and station presence, told to the cluster: a RouterListener on the gateway.

When a stream is published or ends, the station registry's presence is brought up to
date (in a thread; one sync at a time, so a later state is never overwritten by an
earlier one), then the bus hears "stream.up" / "stream.down" and, for each station whose
presence changed, "station.presence": stored, then told. A heartbeat repeats the sync so
`last_seen` stays fresh and the presence of a node that died goes stale
(stations.STALE_AFTER).

Clustered, each stream published here is also claimed in the stream directory (and
released when it ends), so that other nodes route its viewers here. A relayed
publication (`origin` set: this node only fans out another node's stream) is never
claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from cluster import Event, EventBus, StreamClaims
from media_gateway import Publication, RouterListener

from .stations import Station, Stations

logger = logging.getLogger(__name__)

HEARTBEAT = 30.0


class PresenceTracker(RouterListener):
    def __init__(
        self,
        stations: Stations,
        bus: EventBus,
        node_id: str,
        heartbeat: float = HEARTBEAT,
        claims: StreamClaims | None = None,
    ) -> None:
        self.stations = stations
        self.claims = claims
        self.bus = bus
        self.node_id = node_id
        self.heartbeat = heartbeat
        self.live: dict[str, float] = {}  # stream id -> since (wall clock)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._beat: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._beat = asyncio.ensure_future(self._heartbeat())

    # RouterListener: called on the event loop.

    def on_published(self, publication: Publication) -> None:
        if getattr(publication, "origin", None) is not None:
            return  # relayed from its holder: the holder tells and claims it
        self.live[publication.stream_id] = time.time()
        if self.claims is not None:
            # Tasks start in order, and the directory writes one at a time: a quick
            # publish-unpublish is claimed, then released.
            self._spawn(self.claims.claim(publication.stream_id, publication.since))
        self._spawn(self._changed("stream.up", publication.stream_id))

    def on_unpublished(self, publication: Publication) -> None:
        if getattr(publication, "origin", None) is not None:
            return
        self.live.pop(publication.stream_id, None)
        if self.claims is not None:
            self._spawn(self.claims.release(publication.stream_id))
        self._spawn(self._changed("stream.down", publication.stream_id))

    def on_gateway_closed(self, publication: Publication) -> None:
        self.on_unpublished(publication)  # down all the same: this node no longer has it

    def refresh(self) -> None:
        """The registry changed (a station added, edited, removed): recompute presence."""
        self._spawn(self._refresh())

    # ------------------------------------------------------------

    async def _changed(self, topic: str, stream_id: str) -> None:
        changed, station = await self._sync(stream_id)
        data: dict[str, Any] = {"stream": stream_id, "station": None}
        if station is not None:
            data |= {
                "station": station.id,
                "station_name": station.name,
                "county": station.county,
                "kind": station.kind,
            }
        await self.bus.publish(Event(topic, data, self.node_id))
        await self._announce(changed)

    async def _refresh(self) -> None:
        changed, _ = await self._sync(None)
        await self._announce(changed)

    async def _sync(self, stream_id: str | None) -> tuple[list[Station], Station | None]:
        """Store presence for the streams live now; also look up `stream_id`'s station.
        One at a time, one database call each (one connection, one thread)."""
        async with self._lock:
            live = set(self.live)
            now = datetime.now(UTC)

            def work() -> tuple[list[Station], Station | None]:
                changed = self.stations.sync_presence(live, self.node_id, now)
                if stream_id is None:
                    return changed, None
                return changed, self.stations.by_stream().get(stream_id)

            try:
                return await asyncio.to_thread(work)
            except Exception:
                logger.exception("station presence not stored (the catalog is unavailable)")
                return [], None

    async def _announce(self, changed: list[Station]) -> None:
        for station in changed:
            await self.bus.publish(Event("station.presence", station.as_json(), self.node_id))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self._refresh()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """After the gateway closed (every stream down): wait for the last syncs."""
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
