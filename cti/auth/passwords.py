"""Passwords: argon2id hashes (argon2-cffi), a length policy, and verification that takes as
long for an unknown login as for a known one."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: NIST SP 800-63B: at least 8 characters, long passphrases welcome; the cap keeps one login
#: attempt from hashing megabytes
MIN_LENGTH = 8
MAX_LENGTH = 1024


class PasswordRejected(ValueError):
    """The new password does not meet the policy; the message says why."""


def check_new_password(password: str, *, login: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"the password must have at most {MAX_LENGTH} characters")
    if password.strip().lower() == login.strip().lower():
        raise PasswordRejected("the password must not be the login")
    if password != password.strip():
        raise PasswordRejected("the password must not start or end with spaces")


class Passwords:
    """Hashes and verifies; the default parameters are argon2-cffi's (RFC 9106 low-memory)."""

    def __init__(self, *, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # verified against when the login is unknown, so timing does not tell who exists
        self._dummy = self._hasher.hash("an unknown login takes as long as a known one")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; `stored=None` spends the same time, False."""
        if len(password) > MAX_LENGTH:
            return False
        try:
            ok = self._hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """The hash was made with older parameters: store a fresh one after a good login."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True


def fast_passwords() -> Passwords:
    """Cheap parameters for tests only: never for stored passwords."""
    return Passwords(hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "PasswordRejected",
    "Passwords",
    "check_new_password",
    "fast_passwords",
]
