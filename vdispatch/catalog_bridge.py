"""Keeps the catalog current while recording, and tells the cluster: the recorder's
RecordingListener. Stored first (in the catalog's thread), then published on the bus.

Catalog writes run one at a time, in order, on one thread of their own, never on the
event loop. A failed write loses nothing: the manifest on disk has it, and the catalog
catches up when the recording closes (a full upsert), at the next start or on rebuild.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from catalog import Catalog
from cluster import Event, EventBus
from recorder import Recording
from recorder import manifest as mf
from signaling import is_outage

logger = logging.getLogger(__name__)


class CatalogBridge:
    def __init__(self, catalog: Catalog, bus: EventBus, node_id: str) -> None:
        self.catalog = catalog
        self.bus = bus
        self.node_id = node_id
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog")
        self._tasks: set[asyncio.Task[None]] = set()

    # RecordingListener: called on the event loop.

    @staticmethod
    def _header(recording: Recording) -> mf.Manifest:
        """The manifest's own fields, without the lists the writer thread appends to."""
        return dataclasses.replace(recording.manifest, segments=[], continuity=[], open_segments=[])

    def segment_closed(self, recording: Recording, entry: mf.SegmentEntry) -> None:
        header = self._header(recording)
        data = {"recording_id": recording.id, "stream": header.stream, **dataclasses.asdict(entry)}
        self._store_then_publish(
            functools.partial(self.catalog.record_segment, header, entry),
            Event("recording.segment", data, self.node_id),
        )

    def continuity(self, recording: Recording, entry: mf.ContinuityEntry) -> None:
        gaps = list(recording.manifest.continuity)
        position = next((n for n, gap in enumerate(gaps, 1) if gap is entry), None)
        store: Callable[[], object]
        if position is None:  # cannot happen: appended before we are told
            store = functools.partial(self.catalog.upsert_from_manifest, recording.directory)
        else:
            store = functools.partial(
                self.catalog.record_continuity, self._header(recording), position, entry
            )
        self._store_then_publish(store, None)

    def recording_closed(self, recording: Recording) -> None:
        manifest = recording.manifest
        data = {
            "recording_id": recording.id,
            "stream": manifest.stream,
            "segments": len(manifest.segments),
            "started_at": manifest.started_at,
            "ended_at": manifest.ended_at,
            "end_reason": manifest.end_reason,
        }
        self._store_then_publish(
            functools.partial(self.catalog.upsert_from_manifest, recording.directory),
            Event("recording.closed", data, self.node_id),
        )

    def alarm(self, recording: Recording, kind: str, message: str) -> None:
        # Nothing to store: the manifest's continuity log records the gap itself.
        logger.error("recording %s: %s: %s", recording.id, kind, message)
        data = {
            "recording_id": recording.id,
            "stream": recording.manifest.stream,
            "kind": kind,
            "message": message,
        }
        self._spawn(self.bus.publish(Event("recording.alarm", data, self.node_id)))

    # ------------------------------------------------------------

    def _store_then_publish(self, store: Callable[[], Any], event: Event | None) -> None:
        future = asyncio.get_running_loop().run_in_executor(self._executor, store)

        async def run() -> None:
            try:
                await future
            except Exception as exc:
                if is_outage(exc):  # alarmed once by CatalogHealth, which re-indexes
                    logger.warning("catalog write deferred (database unavailable)")
                else:
                    logger.exception(
                        "catalog write failed (the manifest on disk has it; "
                        "the catalog catches up at close, next start or rebuild)"
                    )
            if event is not None:
                await self.bus.publish(event)

        self._spawn(run())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every pending catalog write and publication."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        self._executor.shutdown(wait=False)  # idle: every submitted write is done
