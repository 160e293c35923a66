"""A node's own load, as it reports it in its heartbeat: CPU of this process and the
event loop's lag (how late a timer fires: the first sign of an overloaded node)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

LAG_PERIOD = 0.5  # seconds between two lag probes


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class LoadMeter:
    def __init__(self) -> None:
        self._last = (time.monotonic(), _cpu_seconds())
        self._cpu = 0.0
        self.loop_lag = 0.0  # seconds, of the last probe
        self._runner: asyncio.Task[None] | None = None

    def cpu_percent(self) -> float:
        """The process's CPU use since the previous call (100 = one core busy)."""
        wall, cpu = time.monotonic(), _cpu_seconds()
        last_wall, last_cpu = self._last
        if wall - last_wall >= 0.2:  # shorter: too noisy, keep the previous figure
            self._cpu = 100.0 * (cpu - last_cpu) / (wall - last_wall)
            self._last = (wall, cpu)
        return round(self._cpu, 1)

    def start(self) -> None:
        self._runner = asyncio.ensure_future(self._probe())

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_PERIOD)
            self.loop_lag = max(0.0, loop.time() - before - LAG_PERIOD)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
