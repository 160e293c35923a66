"""Cluster: node identity, event bus and stream directory (in-process, or on Redis)."""

from .bus import Event, EventBus, InProcessBus
from .directory import Directory, LocalDirectory, NodeInfo, StreamEntry
from .node import Node
from .settings import ClusterSettings

__all__ = [
    "ClusterSettings",
    "Directory",
    "Event",
    "EventBus",
    "InProcessBus",
    "LocalDirectory",
    "Node",
    "NodeInfo",
    "StreamEntry",
]
