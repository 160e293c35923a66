"""Real node processes for the failure tests: `vdispatch serve` on a data dir of its
own, several sharing one catalog database and one SECRET (tokens valid on each)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class NodeProcess:
    node_id: str
    data_dir: Path
    port: int
    database_url: str
    secret: str
    extra_env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None  # its stderr (the log) appended here, else inherited
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def recordings(self) -> Path:
        return self.data_dir / "recordings"

    async def start(self, timeout: float = 20.0) -> None:
        """Start (or restart) the node; returns once /healthz answers 200."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VDISPATCH_")}
        env |= {
            "VDISPATCH_DATA_DIR": str(self.data_dir),
            "VDISPATCH_DATABASE_URL": self.database_url,
            "VDISPATCH_SECRET": self.secret,
            "VDISPATCH_NODE_ID": self.node_id,
            "VDISPATCH_ICE_ADDRESSES": "127.0.0.1",
            "VDISPATCH_SEGMENT_SECONDS": "2",
            "VDISPATCH_PORT": str(self.port),
            "VDISPATCH_HOST": "127.0.0.1",
            **self.extra_env,
        }
        stderr = None if self.log is None else self.log.open("ab")
        try:
            proc = self.proc = subprocess.Popen(
                [sys.executable, "-m", "vdispatch", "serve"], env=env, stderr=stderr
            )
        finally:
            if stderr is not None:
                stderr.close()  # the child has its own descriptor
        async with aiohttp.ClientSession() as http:

            async def state() -> str:
                if proc.poll() is not None:
                    return f"exited with {proc.returncode}"
                try:
                    async with http.get(f"{self.url}/healthz") as r:
                        return f"healthz {r.status}"
                except aiohttp.ClientError as exc:
                    return f"not answering: {exc!r}"

            try:
                await wait_for(
                    state,
                    lambda s: s == "healthz 200" or s.startswith("exited"),
                    what=f"{self.node_id} answering /healthz",
                    timeout=timeout,
                )
            except AssertionError:
                proc.kill()
                raise
        if proc.poll() is not None:
            raise AssertionError(f"{self.node_id} exited with {proc.returncode} before serving")

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets and answers nothing (a hung or
        partitioned node; no ICMP error tells a peer it is gone)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait (recordings closed, manifests signed); kill if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
