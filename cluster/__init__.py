"""Cluster: node identity, event bus and stream directory (in-process, or on Redis)."""

from .bus import Event, EventBus, InProcessBus
from .directory import Directory, LocalDirectory, NodeInfo, StreamClaims, StreamEntry
from .load import LoadMeter
from .node import Node
from .redis_bus import ALARM_TOPIC, RedisBus
from .redis_client import connect as connect_redis
from .redis_directory import RedisDirectory
from .settings import ClusterSettings
from .signing import SignatureError, Signer

__all__ = [
    "ALARM_TOPIC",
    "ClusterSettings",
    "Directory",
    "Event",
    "EventBus",
    "InProcessBus",
    "LoadMeter",
    "LocalDirectory",
    "Node",
    "NodeInfo",
    "RedisBus",
    "RedisDirectory",
    "SignatureError",
    "Signer",
    "StreamClaims",
    "StreamEntry",
    "connect_redis",
]
