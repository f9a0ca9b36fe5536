"""Brute-force brakes, pure and clock-injected: login lockouts and per-connection rate limits."""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Lockout:
    """After `free_failures` failed attempts each further failure locks the key for twice as
    long as the last (`base_delay`, 2x, 4x... up to `max_delay`); quiet for `forget_after`
    seconds, the key starts afresh."""

    free_failures: int = 5
    base_delay: float = 1.0
    max_delay: float = 900.0
    forget_after: float = 3600.0


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


def address_key(address: str) -> str:
    """An IPv6 client is its /64 (anyone with one address has the whole /64); IPv4 as is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    """Failed logins counted per login and per client address; either one can lock.

    Per login stops a slow guesser spread over many addresses; per address stops one client
    trying many logins. Memory is bounded (`max_keys`, least recently failed dropped first), so
    a flood from many addresses cannot grow it. One process's view: several processes each
    count on their own (documented in docs/security.md).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        per_login: Lockout = Lockout(),
        per_address: Lockout = Lockout(free_failures=20),
        max_keys: int = 100_000,
    ) -> None:
        self._clock = clock
        self._policies = {"login": per_login, "address": per_address}
        self._max_keys = max_keys
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()
        self.failures = 0  #: failed attempts seen
        self.lockouts = 0  #: failures that (re)locked a key
        self.refused = 0  #: attempts refused because a key was locked

    def keys(self, login: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        """The (login, address) keys an attempt is counted under."""
        return self._keys(login, address)

    def _keys(self, login: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("login", login.strip().lower()[:64]), ("address", address_key(address))

    def retry_after(self, login: str, address: str) -> float:
        """Seconds until this attempt may be tried; 0 when it may go ahead now."""
        now = self._clock()
        wait = 0.0
        for key in self._keys(login, address):
            record = self._fresh(key, now)
            if record is not None:
                wait = max(wait, record.locked_until - now)
        if wait > 0:
            self.refused += 1
        return max(0.0, wait)

    def failed(self, login: str, address: str) -> float:
        """Count a failed attempt; returns the lockout it causes (0: none yet)."""
        now = self._clock()
        self.failures += 1
        wait = 0.0
        for key in self._keys(login, address):
            policy = self._policies[key[0]]
            record = self._fresh(key, now) or _Record()
            record.failures += 1
            record.last_failure = now
            excess = record.failures - policy.free_failures
            if excess > 0:
                delay = min(policy.max_delay, policy.base_delay * 2 ** min(excess - 1, 30))
                record.locked_until = now + delay
                wait = max(wait, delay)
            self._records[key] = record
            self._records.move_to_end(key)
        if wait > 0:
            self.lockouts += 1
        while len(self._records) > self._max_keys:
            self._records.popitem(last=False)
        return wait

    def succeeded(self, login: str, address: str) -> None:
        """A correct password clears the login's count and the address's."""
        for key in self._keys(login, address):
            self._records.pop(key, None)

    def _fresh(self, key: tuple[str, str], now: float) -> _Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        policy = self._policies[key[0]]
        if now - record.last_failure > policy.forget_after and record.locked_until <= now:
            del self._records[key]
            return None
        return record

    def __len__(self) -> int:
        return len(self._records)


class TokenBucket:
    """`rate` events per second on average, bursts of up to `burst`."""

    def __init__(self, *, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._tokens = burst
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


__all__ = ["Lockout", "LoginThrottle", "TokenBucket", "address_key"]
