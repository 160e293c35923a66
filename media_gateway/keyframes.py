"""Coalesced, rate-limited keyframe requests towards a publisher.

Every viewer join and every viewer PLI/FIR asks for a keyframe; the publisher must see
at most one request per interval, and none when a keyframe already arrived since.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class KeyframeRequester:
    def __init__(self, send: Callable[[], None], min_interval: float = 0.3) -> None:
        self._send = send
        self._min_interval = min_interval
        self._last_sent = -1e9
        self._last_keyframe = -1e9
        self._pending: asyncio.TimerHandle | None = None
        self._pending_since = 0.0
        self.sent = 0
        self.coalesced = 0

    def request(self) -> None:
        now = time.monotonic()
        wait = self._last_sent + self._min_interval - now
        if wait <= 0:
            self._fire()
            return
        self.coalesced += 1
        if self._pending is None:
            self._pending_since = now
            self._pending = asyncio.get_running_loop().call_later(wait, self._deferred)

    def keyframe_received(self) -> None:
        self._last_keyframe = time.monotonic()

    def _deferred(self) -> None:
        self._pending = None
        # A keyframe that arrived after the request answers it already.
        if self._last_keyframe < self._pending_since:
            self._fire()

    def _fire(self) -> None:
        self._last_sent = time.monotonic()
        self.sent += 1
        self._send()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
