"""Shared fixtures: a real gateway node on loopback, real aiortc peers."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from media_gateway import MediaGateway, set_host_addresses
from signaling import GATEWAY_KEY, TOKENS_KEY, TokenIssuer
from vdispatch.node import build_app
from vdispatch.settings import load_settings


def require_or_skip(available: bool, reason: str, env: str) -> None:
    """Skip when a service is absent, unless CI demands it (then fail)."""
    if available:
        return
    if os.environ.get(env):
        pytest.fail(f"{reason} (required because {env} is set)")
    pytest.skip(reason)


@pytest.fixture
def chromium_path() -> str:
    path = shutil.which("chromium")
    require_or_skip(
        path is not None,
        "Debian's chromium is not installed (apt-get install chromium)",
        "VDISPATCH_REQUIRE_BROWSER",
    )
    assert path is not None
    return path


@dataclass
class Node:
    url: str
    app: web.Application

    @property
    def gateway(self) -> MediaGateway:
        return self.app[GATEWAY_KEY]

    @property
    def tokens(self) -> TokenIssuer:
        return self.app[TOKENS_KEY]

    def token(self, stream: str, role: str = "station", ttl: int = 600) -> str:
        return self.tokens.mint([stream], role, ttl)  # type: ignore[arg-type]

    def whip(self, stream: str) -> str:
        return f"{self.url}/whip/{stream}"

    def whep(self, stream: str) -> str:
        return f"{self.url}/whep/{stream}"


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    settings = load_settings(
        data_dir=tmp_path / "var", ice_addresses="127.0.0.1", reconnect_grace=0.2
    )
    app = build_app(settings, demo=True)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    try:
        yield Node(url=str(server.make_url("")).rstrip("/"), app=app)
    finally:
        await server.close()
        set_host_addresses(None)
        await asyncio.sleep(0)


# ---- catalog databases: SQLite, and a fresh PostgreSQL database per test ----


@pytest.fixture
def postgres_url() -> Iterator[str]:
    from .catalogs import fresh_postgres_database, postgres_reachable

    require_or_skip(
        postgres_reachable(),
        "PostgreSQL is not reachable at 127.0.0.1:5432 (the catalog's PostgreSQL tests need it)",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each catalog test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'catalog.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def recording_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real closed recording (VP8, ~9 s, 5 segments), made once per test run."""
    from concurrent.futures import ThreadPoolExecutor

    from .recordings import make_recording

    data_dir = tmp_path_factory.mktemp("template") / "var"
    # A loop of its own, in a thread: the test's event loop is none of its business.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make_recording(data_dir)).result()


@pytest.fixture(scope="session")
def gap_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real recording (VP8, 8 s of media in 4 segments) whose publisher disconnected
    after 4 s and came back 20 s later, within the grace period."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from .recordings import make_recording

    data_dir = tmp_path_factory.mktemp("gap-template") / "var"
    start = time.time() - 60
    with ThreadPoolExecutor(1) as pool:
        run = make_recording(data_dir, seconds=8, start=start, pause=(4, 20))
        return pool.submit(asyncio.run, run).result()


@pytest.fixture(scope="session")
def h264_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real closed recording in MP4 segments (H.264, 6 s, 3 segments)."""
    from concurrent.futures import ThreadPoolExecutor

    from .recordings import make_recording

    data_dir = tmp_path_factory.mktemp("h264-template") / "var"
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make_recording(data_dir, 6, codec="h264")).result()
