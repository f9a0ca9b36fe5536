"""Parallel password guesses: the lockout must hold when many arrive at once."""

from __future__ import annotations

import asyncio
import threading
import time

from cti.auth.memory import MemoryAuthStore
from cti.auth.passwords import Passwords, fast_passwords
from cti.auth.principal import Role
from cti.auth.service import AuthService, LoginRefused, LoginThrottled
from cti.auth.tokens import token_hash

PASSWORD = "correct horse battery staple 42"


class SlowPasswords(Passwords):
    """Counts verifications and holds each one until released, so guesses overlap."""

    def __init__(self, inner: Passwords) -> None:
        self._inner = inner
        self.verified = 0
        self.release = threading.Event()

    def hash(self, password: str) -> str:
        return self._inner.hash(password)

    def needs_rehash(self, stored: str) -> bool:
        return False

    def verify(self, stored: str | None, password: str) -> bool:
        self.verified += 1
        self.release.wait(5)
        return self._inner.verify(stored, password)


async def _world() -> tuple[AuthService, SlowPasswords]:
    slow = SlowPasswords(fast_passwords())
    auth = AuthService(store=MemoryAuthStore(), passwords=slow, clock=time.time, hashing_slots=64)
    slow.release.set()
    await auth.add_user("ivanova", role=Role.AGENT, password=PASSWORD)
    slow.release.clear()
    slow.verified = 0
    return auth, slow


async def test_300_parallel_guesses_get_no_more_hashes_than_the_lockout_allows() -> None:
    auth, slow = await _world()
    guesses = [
        asyncio.create_task(auth.sign_in("ivanova", f"guess {i}", address="203.0.113.7"))
        for i in range(300)
    ]
    await asyncio.sleep(0.2)
    slow.release.set()
    results = await asyncio.gather(*guesses, return_exceptions=True)
    refused = sum(isinstance(r, LoginRefused) for r in results)
    throttled = [r for r in results if isinstance(r, LoginThrottled)]
    assert refused + len(throttled) == 300
    # at most one hash in flight per login: the free failures cannot be spent in parallel
    assert slow.verified <= 2, slow.verified
    assert all(t.retry_after >= 1 for t in throttled)


async def test_the_attempt_is_counted_before_hashing_and_success_clears_it() -> None:
    auth, slow = await _world()
    task = asyncio.create_task(auth.sign_in("ivanova", "wrong", address="198.51.100.1"))
    await asyncio.sleep(0.1)
    assert auth.throttle.failures == 1  # counted while the hash still runs
    slow.release.set()
    try:
        await task
    except LoginRefused:
        pass
    signed = await auth.sign_in("ivanova", PASSWORD, address="198.51.100.1")
    assert signed.principal.login == "ivanova"
    assert auth.throttle.retry_after("ivanova", "198.51.100.1") == 0


async def test_one_address_cannot_hash_many_logins_at_once() -> None:
    auth, slow = await _world()
    guesses = [
        asyncio.create_task(auth.sign_in(f"user{i}", "guess", address="203.0.113.9"))
        for i in range(50)
    ]
    await asyncio.sleep(0.2)
    slow.release.set()
    results = await asyncio.gather(*guesses, return_exceptions=True)
    assert slow.verified <= 4, slow.verified
    assert sum(isinstance(r, LoginThrottled) for r in results) >= 46


async def test_a_session_opened_with_a_break_glass_token_ends_with_the_token() -> None:
    store = MemoryAuthStore()
    token = "cti_break_glass_token_for_tests_0123456789"
    before = AuthService(store=store, passwords=fast_passwords(), break_glass_tokens=[token])
    signed = await before.sign_in_with_token(token, address="198.51.100.2")
    assert await before.session(signed.session_token) is not None
    # the token is taken out of the api_tokens setting (or replaced) and the server restarts
    rotated = AuthService(
        store=store, passwords=fast_passwords(), break_glass_tokens=["cti_another_token_0123456789"]
    )
    assert await rotated.session(signed.session_token) is None
    assert await store.session(token_hash(signed.session_token)) is None  # ended, not parked
    kept = AuthService(store=store, passwords=fast_passwords(), break_glass_tokens=[token])
    again = await kept.sign_in_with_token(token, address="198.51.100.2")
    assert await kept.session(again.session_token) is not None
