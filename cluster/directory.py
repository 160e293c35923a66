"""The stream directory: which node holds which stream, and which nodes are alive.

One interface, two implementations: `LocalDirectory` (a single node: nothing to look
up) and `RedisDirectory` (redis_directory.py: heartbeats and entries with a TTL, signed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class StreamEntry:
    """A stream published at a node: where a viewer's WHEP request can be served."""

    stream_id: str
    node_id: str
    url: str  # the holding node's public URL (WHEP there: f"{url}/whep/{stream_id}")
    since: float  # wall clock of the publication


@dataclass(frozen=True)
class NodeInfo:
    """A live node of the cluster, with the load it reported at its last heartbeat."""

    node_id: str
    url: str
    seen: float  # wall clock of its last heartbeat
    streams: list[str] = field(default_factory=list)  # streams it holds (publishers there)
    load: dict[str, Any] = field(default_factory=dict)  # e.g. cpu, viewers, relays


class Directory(Protocol):
    async def lookup(self, stream_id: str) -> StreamEntry | None:
        """The live node holding `stream_id`; None if none (or its node stopped beating)."""
        ...

    async def streams(self) -> list[StreamEntry]:
        """Every stream held by a live node, this one included."""
        ...

    async def nodes(self) -> list[NodeInfo]:
        """Every live node, this one included."""
        ...


class StreamClaims(Protocol):
    """What a node tells the directory about its own publications (RedisDirectory)."""

    async def claim(self, stream_id: str, since: float | None = None) -> None: ...

    async def release(self, stream_id: str) -> None: ...


class LocalDirectory:
    """A node alone: no other node holds anything."""

    async def lookup(self, stream_id: str) -> StreamEntry | None:
        return None

    async def streams(self) -> list[StreamEntry]:
        return []

    async def nodes(self) -> list[NodeInfo]:
        return []
