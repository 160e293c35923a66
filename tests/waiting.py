"""Waiting on a condition, never on a fixed sleep: poll what the test expects until it
holds, and on a timeout fail with what was awaited and what was last seen."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _holds(until: Callable[[T], object] | None, value: T) -> bool:
    return bool(value) if until is None else bool(until(value))


def _timed_out(
    what: str, timeout: float, last: T, describe: Callable[[T], str] | None
) -> AssertionError:
    seen = describe(last) if describe else repr(last)
    return AssertionError(f"{what}: not so after {timeout:g} s; last seen: {seen}")


async def wait_for(
    observe: Callable[[], T | Awaitable[T]],
    until: Callable[[T], object] | None = None,
    *,
    what: str,
    timeout: float = 10.0,
    interval: float = 0.05,
    describe: Callable[[T], str] | None = None,
) -> T:
    """Poll `observe()` (a plain or async callable) until `until(value)` holds (the value
    is truthy, when `until` is None); returns that value. `describe` words the last value
    seen for the failure message (its repr otherwise)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = observe()
        if inspect.isawaitable(value):
            value = await value
        if _holds(until, value):  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise _timed_out(what, timeout, value, describe)  # type: ignore[arg-type]
        await asyncio.sleep(interval)


def wait_until(
    observe: Callable[[], T],
    until: Callable[[T], object] | None = None,
    *,
    what: str,
    timeout: float = 10.0,
    interval: float = 0.05,
    describe: Callable[[T], str] | None = None,
) -> T:
    """wait_for for code with no event loop (a thread, a synchronous test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = observe()
        if _holds(until, value):
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, value, describe)
        time.sleep(interval)
