"""The one Redis client a node opens (bus and directory share its connection pool)."""

from __future__ import annotations

from redis.asyncio import Redis

# Longer than the bus's blocking stream read (READ_BLOCK_MS), short enough that a
# vanished Redis is noticed within seconds.
SOCKET_TIMEOUT = 5.0


def connect(url: str) -> Redis:
    # driver_info=None: no CLIENT SETINFO, whose library version lookup reads the
    # package metadata from disk on the event loop at each new connection.
    return Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=2.0,
        driver_info=None,
    )
