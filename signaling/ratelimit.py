"""Login rate limiting: failed logins counted per client address and per user name over
a sliding window; past the limit, further attempts are refused (429 with Retry-After)
until the oldest failure leaves the window. In memory, per node."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_KEYS = 10000  # bounded memory whatever an attacker sends


class _Window:
    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, key: str) -> float:
        now = self._clock()
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return times[-self.limit] + self.window - now

    def add(self, key: str) -> None:
        now = self._clock()
        times = self._recent(key, now) or deque()
        times.append(now)
        while len(times) > self.limit:
            times.popleft()
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginLimiter:
    def __init__(
        self,
        per_user: int = 5,
        per_address: int = 20,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = _Window(per_user, window, clock)
        self._addresses = _Window(per_address, window, clock)

    @staticmethod
    def _user(name: str) -> str:
        return name.strip().lower()[:64]

    def retry_after(self, address: str, name: str) -> float:
        """Seconds until this address may try this name again; 0 when it may now."""
        return max(self._users.retry_after(self._user(name)), self._addresses.retry_after(address))

    def failed(self, address: str, name: str) -> None:
        self._users.add(self._user(name))
        self._addresses.add(address)

    def succeeded(self, address: str, name: str) -> None:
        self._users.clear(self._user(name))
