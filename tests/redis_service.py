"""The real Redis the cluster tests use: 127.0.0.1:6379 (or VDISPATCH_TEST_REDIS_URL), and
a unique key prefix per test so tests never see each other's keys."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess

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


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def start_redis_server(port: int) -> subprocess.Popen[bytes]:
    """`redis-server` on `port`: no persistence (a restart starts empty, as after a crash
    of a cache), its output discarded."""
    path = redis_server_path()
    assert path is not None
    return subprocess.Popen(
        [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )


class RedisServer:
    """A redis-server of a test's own, to stop (as a crash: SIGKILL) and start again on
    the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_redis_server(self.port)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def answering(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        return True
