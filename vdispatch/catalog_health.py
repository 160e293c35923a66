"""Watches the catalog's database: while it is down the node keeps recording to disk and
serving media, alarms once, and when it is back re-indexes the catalog from the
manifests (`Catalog.sync`), so catalog writes that failed meanwhile are not lost.

The alarm: one ERROR in the log and a local bus event `catalog.alarm` {down: true,
reason}; the all-clear: `catalog.alarm` {down: false, reason: null, reindexed: n}.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from catalog import Catalog
from cluster import Event, EventBus
from signaling import is_outage, outage_reason

logger = logging.getLogger(__name__)

PROBE_EVERY = 2.0  # seconds between probes while the database answers
RETRY_FIRST = 0.5  # while it is down: the first retry, doubled up to RETRY_MAX
RETRY_MAX = 5.0


class CatalogHealth:
    """Probes the catalog's database; alarms when it is lost, re-indexes when it is back."""

    def __init__(
        self,
        catalog: Catalog,
        bus: EventBus,
        node_id: str,
        recordings_dir: Path,
        on_back: list[Callable[[], None]] | None = None,
        probe_every: float = PROBE_EVERY,
        retry_max: float = RETRY_MAX,
    ) -> None:
        self.catalog = catalog
        self.bus = bus
        self.node_id = node_id
        self.recordings_dir = recordings_dir
        self.probe_every = probe_every
        self.retry_max = retry_max
        # Called when the database is back (after the re-index): store station presence
        # again, the interruptions kept meanwhile, …
        self.on_back: list[Callable[[], None]] = list(on_back or [])
        self.down = False
        self.reason: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="catalog-health")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = self.probe_every
        while True:
            try:
                await asyncio.to_thread(self.catalog.ping)
                if self.down:
                    await self._back()
                delay = self.probe_every
            except Exception as exc:
                if not is_outage(exc):
                    logger.exception("catalog: probe failed")
                if self.down:
                    delay = min(delay * 2, self.retry_max)
                else:
                    delay = RETRY_FIRST
                    await self._lost(outage_reason(exc))
            await asyncio.sleep(delay)

    async def _lost(self, reason: str) -> None:
        self.down, self.reason = True, reason
        logger.error(
            "%s: recording to disk goes on; the catalog is re-indexed from the manifests "
            "when the database is back",
            reason,
        )
        await self.bus.publish(
            Event("catalog.alarm", {"down": True, "reason": reason}, self.node_id)
        )

    async def _back(self) -> None:
        """The database answers again: catalog what the manifests have that it missed.
        A failure here (down again) keeps the alarm up: the next probe tries again."""
        added = await asyncio.to_thread(self.catalog.sync, self.recordings_dir)
        self.down, self.reason = False, None
        for call in self.on_back:
            call()
        logger.warning(
            "catalog: database back; re-indexed %d recordings from their manifests%s",
            len(added),
            f": {', '.join(added)}" if added else "",
        )
        await self.bus.publish(
            Event(
                "catalog.alarm",
                {"down": False, "reason": None, "reindexed": len(added)},
                self.node_id,
            )
        )


# The node's probe (set by the composition root once the catalog is open; metrics read it).
CATALOG_HEALTH_KEY = web.AppKey("catalog_health", CatalogHealth)
