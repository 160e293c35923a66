"""Supervising a node's viewer worker processes (media.workers > 1; worker.py is one).

Each runs `python -m vdispatch.worker`, gets its boot line (with the node's per-boot
secret and the media settings, secrets included) on stdin, which stays open so that it
ends when this process does, even by kill -9. One that exits is logged and started
again (after a pause that grows while it keeps failing); its viewers' players reconnect
and land on a live process. Closing terminates them and waits: no orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sys

from media_gateway import MediaSettings
from signaling import ViewerWorkers

from .worker import READY

logger = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # importing aiortc on a busy machine takes a few seconds
STOP_TIMEOUT = 10.0
RESTART_PAUSE = (0.5, 10.0)


class WorkerPool:
    def __init__(self, count: int, media: MediaSettings, front_url: str, node_id: str) -> None:
        self.count = count
        self.secret = secrets.token_urlsafe(32)
        self._media = media
        self._front = front_url
        self._node_id = node_id
        self._viewers: ViewerWorkers | None = None
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.restarts = 0

    def start(self, viewers: ViewerWorkers) -> None:
        self._viewers = viewers
        for index in range(1, self.count):
            self._tasks.append(asyncio.ensure_future(self._supervise(index)))

    def pids(self) -> dict[int, int]:
        return {i: p.pid for i, p in self._procs.items() if p.returncode is None}

    async def _supervise(self, index: int) -> None:
        assert self._viewers is not None
        loop = asyncio.get_running_loop()
        pause = RESTART_PAUSE[0] / 2  # doubled before the first pause
        while not self._closing:
            began = loop.time()
            proc = None
            try:
                proc = await self._spawn(index)
                self._procs[index] = proc
                url = await self._ready(proc)
                self._viewers.up(index, url)
                code = await proc.wait()
            except (OSError, TimeoutError, ValueError) as exc:
                code = None
                logger.error("viewer worker %d did not start: %s", index, exc)
                if proc is not None and proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            self._viewers.down(index)
            if proc is not None and proc.stdin is not None:
                proc.stdin.close()
            if self._closing:
                return
            self.restarts += 1
            lasted = loop.time() - began
            pause = RESTART_PAUSE[0] if lasted > 30 else min(pause * 2, RESTART_PAUSE[1])
            logger.warning(
                "viewer worker %d exited (code %s): its viewers reconnect; restarting in %.1f s",
                index,
                code,
                pause,
            )
            await asyncio.sleep(pause)

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vdispatch.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # Not in the terminal's process group: Ctrl-C stops the node, which stops
            # its workers in order (instead of their exits looking like crashes).
            start_new_session=True,
        )
        media = self._media.model_dump(mode="json")
        if self._media.turn_secret is not None:
            media["turn_secret"] = self._media.turn_secret.get_secret_value()
        boot = {
            "index": index,
            "secret": self.secret,
            "front": self._front,
            "node_id": self._node_id,
            "media": media,
        }
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(boot).encode() + b"\n")
        await proc.stdin.drain()
        return proc

    async def _ready(self, proc: asyncio.subprocess.Process) -> str:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
        text = line.decode(errors="replace").strip()
        if not text.startswith(READY):
            raise ValueError(f"unexpected first line {text[:100]!r}")
        return text.removeprefix(READY)

    async def close(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL past STOP_TIMEOUT) and wait."""
        self._closing = True
        procs = [p for p in self._procs.values() if p.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                logger.warning("viewer worker pid %d did not stop: killed", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()  # a no-op when its supervisor closed it
