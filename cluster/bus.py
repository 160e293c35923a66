"""The cluster event bus: one interface; in-process now, Redis when clustered.

Events are for telling (presence, stream up/down, directions, comments); whatever must
be kept is stored in the catalog first and then published here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    topic: str  # e.g. "stream.up", "stream.down"
    data: dict[str, Any] = field(default_factory=dict)
    node_id: str = ""


class EventBus(Protocol):
    async def publish(self, event: Event) -> None: ...

    def subscribe(self, prefix: str = "") -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Fan-out to bounded per-subscriber queues; a slow subscriber loses its oldest events."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: list[tuple[str, asyncio.Queue[Event | None]]] = []
        self.dropped = 0

    async def publish(self, event: Event) -> None:
        for prefix, queue in list(self._subscribers):
            if not event.topic.startswith(prefix):
                continue
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(event)

    async def subscribe(self, prefix: str = "") -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(self._queue_size)
        entry = (prefix, queue)
        self._subscribers.append(entry)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.remove(entry)

    async def close(self) -> None:
        for _, queue in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
