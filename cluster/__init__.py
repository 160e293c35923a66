"""Cluster: node identity, event bus (in-process; Redis when clustered)."""

from .bus import Event, EventBus, InProcessBus
from .node import Node

__all__ = ["Event", "EventBus", "InProcessBus", "Node"]
