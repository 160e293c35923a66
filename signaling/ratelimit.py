"""Login throttling: slow down the guesser, never lock out the owner.

Failed logins are counted per (account, client address) pair, per address and per
account, in memory on each node (a restart clears them). The rules:

1. A pair (this account from this address) may fail `per_pair` times
   (`login_failures_per_user`, 5). After that it must wait before its next attempt:
   `backoff` seconds (30) after the last failure, doubling with every further failure,
   at most `backoff_max` (900). Attempts while it waits are refused (429, Retry-After)
   without checking the password, and are not counted.
2. The same account from another address is not affected: the owner logs in from a
   clean address while the account is being guessed elsewhere.
3. An address with `per_address` failures (`login_failures_per_address`, 20) within
   `window` seconds (`login_window`, 300) is spraying (or a busy NAT). Its passwords are
   still checked, so a colleague behind the same NAT with the right password gets in;
   but a pair from a spraying address may fail only once before it waits (rule 1 with
   a limit of 1), and its failures answer 429 instead of 401.
4. An account with `attack` failures (`login_attack_failures`, 20) within the window,
   from any addresses, is under attack: `failed` says so once per window, and the caller
   writes a `login.attack` audit row and a WARNING line. Nothing is locked: rules 1-3
   already slow each address down.

A pair is forgotten once `window` seconds have passed after its last failure's longest
wait; a success clears it. Each table holds at most MAX_KEYS entries (oldest dropped),
whatever an attacker sends.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .settings import AuthSettings

MAX_KEYS = 10000  # bounded memory whatever an attacker sends
_V = TypeVar("_V")


@dataclass
class _Pair:
    failures: int
    last: float


@dataclass
class _Account:
    failures: deque[tuple[float, str]]  # (when, address), within the window
    alarmed: float | None = None


@dataclass(frozen=True)
class Attack:
    """An account under attack: failures within the window, from how many addresses."""

    failures: int
    addresses: int
    window: float


@dataclass(frozen=True)
class Verdict:
    """What a failure changed: the pair's wait from now (0: none), whether the address
    is spraying (answer 429, not 401), and an alarm to raise (once per window)."""

    wait: float = 0.0
    spraying: bool = False
    attack: Attack | None = None


def _bounded_set(table: OrderedDict[str, _V], key: str, value: _V) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MAX_KEYS:
        table.popitem(last=False)


class LoginLimiter:
    def __init__(
        self,
        per_pair: int = 5,
        per_address: int = 20,
        window: float = 300.0,
        backoff: float = 30.0,
        backoff_max: float = 900.0,
        attack: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_pair = per_pair
        self.per_address = per_address
        self.window = window
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.attack = attack
        self._clock = clock
        self._pairs: OrderedDict[str, _Pair] = OrderedDict()
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()
        self._accounts: OrderedDict[str, _Account] = OrderedDict()

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> LoginLimiter:
        return cls(
            auth.login_failures_per_user,
            auth.login_failures_per_address,
            auth.login_window,
            auth.login_backoff,
            auth.login_backoff_max,
            auth.login_attack_failures,
        )

    @staticmethod
    def _user(name: str) -> str:
        return name.strip().lower()[:64]

    def _pair_key(self, address: str, name: str) -> str:
        return f"{self._user(name)}\n{address}"

    # ---------------------------------------------------------------- state

    def _address_failures(self, address: str, now: float) -> deque[float]:
        times = self._addresses.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._addresses[address]
        return times

    def _spraying(self, address: str, now: float) -> bool:
        return len(self._address_failures(address, now)) >= self.per_address

    def _delay(self, failures: int, limit: int) -> float:
        """The wait after the last failure once `failures` reached `limit`."""
        if failures < limit:
            return 0.0
        return min(self.backoff_max, self.backoff * 2.0 ** min(failures - limit, 32))

    def _pair(self, key: str, now: float) -> _Pair | None:
        pair = self._pairs.get(key)
        if pair is not None:
            quiet = now - pair.last - self._delay(pair.failures, 1)
            if quiet >= self.window:  # forgotten: the window passed after its longest wait
                del self._pairs[key]
                return None
        return pair

    def _wait(self, pair: _Pair | None, spraying: bool, now: float) -> float:
        if pair is None:
            return 0.0
        delay = self._delay(pair.failures, 1 if spraying else self.per_pair)
        return max(0.0, pair.last + delay - now)

    # ---------------------------------------------------------------- API

    def spraying(self, address: str) -> bool:
        """True while the address has `per_address` failures within the window."""
        return self._spraying(address, self._clock())

    def retry_after(self, address: str, name: str) -> float:
        """Seconds until this address may try this account again; 0 when it may now."""
        now = self._clock()
        pair = self._pair(self._pair_key(address, name), now)
        return self._wait(pair, self._spraying(address, now), now)

    def failed(self, address: str, name: str) -> Verdict:
        now = self._clock()
        key = self._pair_key(address, name)
        pair = self._pair(key, now) or _Pair(0, now)
        pair.failures, pair.last = pair.failures + 1, now
        _bounded_set(self._pairs, key, pair)
        times = self._address_failures(address, now)
        times.append(now)
        while len(times) > self.per_address:
            times.popleft()
        _bounded_set(self._addresses, address, times)
        spraying = len(times) >= self.per_address
        attack = self._account_failed(name, address, now)
        return Verdict(self._wait(pair, spraying, now), spraying, attack)

    def _account_failed(self, name: str, address: str, now: float) -> Attack | None:
        user = self._user(name)
        account = self._accounts.get(user) or _Account(deque())
        failures = account.failures
        while failures and failures[0][0] <= now - self.window:
            failures.popleft()
        failures.append((now, address))
        while len(failures) > self.attack:
            failures.popleft()
        _bounded_set(self._accounts, user, account)
        if len(failures) < self.attack:
            return None
        if account.alarmed is not None and now - account.alarmed < self.window:
            return None
        account.alarmed = now
        return Attack(len(failures), len({a for _, a in failures}), self.window)

    def succeeded(self, address: str, name: str) -> None:
        self._pairs.pop(self._pair_key(address, name), None)
