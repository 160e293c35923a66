"""The real Redis the cluster tests use: 127.0.0.1:6379 (or VDISPATCH_TEST_REDIS_URL), and
a unique key prefix per test so tests never see each other's keys."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from .conftest import require_or_skip

REDIS_URL = os.environ.get("VDISPATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def require_redis() -> str:
    require_or_skip(
        redis_reachable(),
        "Redis is not reachable at 127.0.0.1:6379 (the cluster tests need it)",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    return REDIS_URL


def unique_prefix(name: str) -> str:
    return f"test-{name}-{secrets.token_hex(4)}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def own_redis_server() -> Iterator[tuple[str, int]]:
    """A redis-server of the test's own (to stop and restart), no persistence; yields
    (url, port). Skips where redis-server is not installed."""
    path = shutil.which("redis-server")
    require_or_skip(
        path is not None,
        "redis-server is not installed (apt-get install redis-server)",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    assert path is not None
    port = free_port()
    yield f"redis://127.0.0.1:{port}/0", port


def start_redis_server(port: int) -> subprocess.Popen[bytes]:
    path = shutil.which("redis-server")
    assert path is not None
    return subprocess.Popen(
        [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
