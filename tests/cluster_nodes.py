"""A real cluster for tests: N `vdispatch serve` subprocesses sharing one PostgreSQL
database, one Redis (a key prefix of their own) and one SECRET, each with its own
DATA_DIR and port, ICE on 127.0.0.1.

    async with start_cluster(tmp_path, postgres_url, redis_url, nodes=2) as cluster:
        a, b = cluster.nodes                    # a.url, a.node_id, a.data_dir
        await cluster.add_user("boss", "commander")          # console accounts (CLI)
        await cluster.add_station("court-a", ["court-a-wide"], county="甲县")
        token = cluster.token(["court-a-wide"], "station")   # WHIP / WHEP tokens
        cluster.kill9(a); await cluster.start(a)             # crash and rejoin

Node ids are fixed (`node-a`, `node-b`, …) so a restarted node rejoins as itself.
Heartbeats are fast (0.5 s, TTL 2 s) so the tests see directory changes quickly.
Everything is stopped (SIGTERM, then SIGKILL) when the context ends.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from signaling import TokenIssuer, TokenRole

from .console import PASSWORD
from .redis_service import free_port, unique_prefix
from .waiting import wait_for

HEARTBEAT_SECONDS = 0.5
ENTRY_TTL_SECONDS = 2.0


@dataclass
class ClusterNode:
    node_id: str
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    root: Path
    database_url: str
    redis_url: str
    key_prefix: str = field(default_factory=lambda: unique_prefix("cluster"))
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    nodes: list[ClusterNode] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    def add_node(self) -> ClusterNode:
        node_id = f"node-{chr(ord('a') + len(self.nodes))}"
        node = ClusterNode(node_id, free_port(), self.root / node_id)
        self.nodes.append(node)
        return node

    def env(self, node: ClusterNode | None = None) -> dict[str, str]:
        """The environment a node (or a CLI command, node None) runs with."""
        env = {
            **os.environ,
            "VDISPATCH_DATABASE_URL": self.database_url,
            "VDISPATCH_REDIS_URL": self.redis_url,
            "VDISPATCH_SECRET": self.secret,
            "VDISPATCH_CLUSTER__KEY_PREFIX": self.key_prefix,
            "VDISPATCH_CLUSTER__HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "VDISPATCH_CLUSTER__ENTRY_TTL_SECONDS": str(ENTRY_TTL_SECONDS),
            "VDISPATCH_ICE_ADDRESSES": "127.0.0.1",
            "VDISPATCH_SEGMENT_SECONDS": "2",
            "VDISPATCH_DATA_DIR": str(node.data_dir if node else self.root / "cli"),
            **self.extra_env,
        }
        if node is not None:
            env |= {
                "VDISPATCH_NODE_ID": node.node_id,
                "VDISPATCH_HOST": "127.0.0.1",
                "VDISPATCH_PORT": str(node.port),
                "VDISPATCH_PUBLIC_URL": node.url,
            }
        return env

    async def start(self, node: ClusterNode, timeout: float = 20.0) -> None:
        """Start (or restart) `node` and wait until it answers /healthz."""
        assert not node.running, f"{node.node_id} is running already"
        log = open(self.root / f"{node.node_id}.log", "ab")  # noqa: SIM115 (the child's)
        node.proc = subprocess.Popen(
            [sys.executable, "-m", "vdispatch", "serve"],
            env=self.env(node),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        proc = node.proc
        async with aiohttp.ClientSession() as http:

            async def state() -> str:
                if proc.poll() is not None:
                    return f"exited with {proc.returncode}"
                try:
                    async with http.get(f"{node.url}/healthz") as r:
                        return f"healthz {r.status}"
                except aiohttp.ClientError as exc:
                    return f"not answering: {exc!r}"

            await wait_for(
                state,
                lambda s: s == "healthz 200" or s.startswith("exited"),
                what=f"{node.node_id} answering /healthz",
                timeout=timeout,
            )
        if proc.poll() is not None:
            raise AssertionError(
                f"{node.node_id} exited with {proc.returncode}; its log:\n{self.log(node)[-3000:]}"
            )

    def log(self, node: ClusterNode) -> str:
        path = self.root / f"{node.node_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill9(self, node: ClusterNode) -> None:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait()

    async def stop(self, node: ClusterNode, timeout: float = 20.0) -> None:
        proc = node.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)

    async def cli(self, *args: str, stdin: str = "") -> str:
        """Run `vdispatch ARGS` against the cluster's catalog; its stdout."""

        def run() -> str:
            done = subprocess.run(
                [sys.executable, "-m", "vdispatch", *args],
                env=self.env(),
                input=stdin.encode(),
                capture_output=True,
                timeout=60,
            )
            if done.returncode != 0:
                raise AssertionError(f"vdispatch {' '.join(args)}: {done.stderr.decode()}")
            return done.stdout.decode()

        return await asyncio.to_thread(run)

    async def add_user(self, name: str, role: str, county: str | None = None) -> None:
        where = ["--county", county] if county else []
        await self.cli("user", "add", name, "--role", role, *where, stdin=f"{PASSWORD}\n")

    async def add_station(
        self, station_id: str, streams: list[str], county: str = "甲县", kind: str = "courtroom"
    ) -> None:
        each = [a for s in streams for a in ("--stream", s)]
        name = f"{county} {station_id}"
        await self.cli(
            "station", "add", station_id, "--county", county, "--name", name, "--kind", kind, *each
        )

    def token(self, streams: list[str], role: str, ttl: int = 600) -> str:
        return TokenIssuer(self.secret.encode()).mint(streams, TokenRole(role), ttl)


@asynccontextmanager
async def start_cluster(
    root: Path, database_url: str, redis_url: str, nodes: int = 2, **env: str
) -> AsyncIterator[Cluster]:
    cluster = Cluster(root, database_url, redis_url, extra_env=env)
    for _ in range(nodes):
        cluster.add_node()
    try:
        # The first node migrates the shared catalog; the others then start together.
        await cluster.start(cluster.nodes[0])
        await asyncio.gather(*(cluster.start(n) for n in cluster.nodes[1:]))
        yield cluster
    finally:
        await asyncio.gather(*(cluster.stop(n) for n in cluster.nodes), return_exceptions=True)
