"""Authentication: password logins (throttled), sessions, API tokens, break-glass tokens, and
the user and token management behind `cti user` and `cti token`."""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cti.auth.access import AccessChanges
from cti.auth.passwords import Passwords, check_new_password
from cti.auth.principal import (
    ALL_SCOPES,
    BREAK_GLASS_LOGIN,
    Principal,
    Role,
    Scope,
    Via,
    break_glass_principal,
    valid_login,
)
from cti.auth.sessions import SessionPolicy
from cti.auth.store import AuthStore, Person, SessionRecord, TokenRecord
from cti.auth.throttle import LoginThrottle
from cti.auth.tokens import (
    DEFAULT_SCOPES,
    new_api_token,
    new_session_token,
    token_hash,
    usable,
)

log = logging.getLogger(__name__)


class LoginRefused(Exception):
    """Wrong login or password (which of the two is never said), or the login is disabled."""


class LoginThrottled(Exception):
    """Too many failed attempts for this login or from this address: try again later."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class UnknownUser(LookupError):
    """No person with that login in the directory, or no password set for them."""


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    session_token: str  #: goes in the cookie; the store keeps only its hash
    expires_at: float


@dataclass(frozen=True)
class UserView:
    """One line of `cti user list`."""

    login: str
    name: str
    role: Role
    extensions: frozenset[str]
    has_password: bool
    disabled: bool


class AuthService:
    """Decides who a request is; the web edge and the `cti` commands call it."""

    def __init__(
        self,
        *,
        store: AuthStore,
        passwords: Passwords | None = None,
        break_glass_tokens: Iterable[str] = (),
        throttle: LoginThrottle | None = None,
        sessions: SessionPolicy | None = None,
        clock: Callable[[], float] = time.time,
        hashing_slots: int = 2,
        hashing_per_login: int = 1,
        hashing_per_address: int = 4,
        token_touch_every: float = 60.0,
        access: AccessChanges | None = None,
    ) -> None:
        self.store = store
        #: told of every change to who may sign in; open websockets listen to it
        self.access = access if access is not None else AccessChanges(clock=clock)
        self.access.listen(self._forget)
        self.passwords = passwords if passwords is not None else Passwords()
        self._break_glass = tuple(t.encode("utf-8") for t in break_glass_tokens if t)
        self._clock = clock
        self.throttle = throttle if throttle is not None else LoginThrottle(clock=clock)
        self.policy = sessions if sessions is not None else SessionPolicy()
        # argon2 takes tens of MB and milliseconds per hash: a login flood queues, not piles up
        self._hashing = asyncio.Semaphore(hashing_slots)
        # checks in flight per throttle key: parallel guesses cannot outrun the lockout
        self._in_flight: dict[tuple[str, str], int] = {}
        self._in_flight_limits = {"login": hashing_per_login, "address": hashing_per_address}
        self._token_touch_every = token_touch_every
        self._cache: dict[str, tuple[float, Principal, SessionRecord]] = {}
        self._token_touched: dict[int, float] = {}

    def _forget(self, login: str | None) -> None:
        """An access change (here or in another process): what is cached of the login goes."""
        if login is None:
            self._cache.clear()
            return
        for key in [k for k, (_, p, _) in self._cache.items() if p.login == login]:
            del self._cache[key]

    def session_ends_at(self, token: str) -> float | None:
        """When the session of this cookie reaches its expiry (None: unknown or not a session);
        read from what `session()` last found, so it costs nothing."""
        cached = self._cache.get(token_hash(token)) if usable(token) else None
        return cached[2].expires_at if cached is not None else None

    def now(self) -> float:
        return self._clock()

    @property
    def has_break_glass(self) -> bool:
        return bool(self._break_glass)

    # --- who is asking ---------------------------------------------------------------------

    def break_glass(self, token: str) -> Principal | None:
        """A token from the api_tokens setting: an administrator with every scope."""
        offered = token.encode("utf-8")
        ok = False
        for known in self._break_glass:  # no early exit: every token costs the same comparison
            ok |= hmac.compare_digest(offered, known)
        return break_glass_principal() if ok and offered else None

    async def bearer(self, token: str) -> Principal | None:
        """`Authorization: Bearer`: a break-glass token or an API token from `cti token create`."""
        if not usable(token):
            return None
        principal = self.break_glass(token)
        if principal is not None:
            return principal
        record = await self.store.token(token_hash(token))
        if record is None or record.revoked_at is not None:
            return None
        person = await self._active_person(record.login)
        if person is None:
            return None
        now = self._clock()
        if now - self._token_touched.get(record.id, 0.0) >= self._token_touch_every:
            self._token_touched[record.id] = now
            if len(self._token_touched) > 10_000:
                self._token_touched.clear()
            await self.store.touch_token(record.id, now)
        return self._principal(person, Via.TOKEN, record.scopes)

    async def session(self, token: str) -> Principal | None:
        """The session cookie: the principal, or None when expired, logged out or disabled."""
        if not usable(token):
            return None
        key = token_hash(token)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.policy.cache_seconds:
            if self.policy.alive(cached[2], now):
                return cached[1]
        found = await self.store.session(key)
        if found is None or not self.policy.alive(found, now):
            self._cache.pop(key, None)
            if found is not None:
                await self.store.delete_session(key)
            return None
        record = found
        if record.login.startswith(BREAK_GLASS_LOGIN):  # opened with the demo's ?token= link
            if not self._break_glass_alive(record.login):  # the token left the settings
                self._cache.pop(key, None)
                await self.store.delete_session(key)
                return None
            principal = dataclasses.replace(break_glass_principal(), via=Via.SESSION)
        else:
            person = await self._active_person(record.login)
            if person is None:
                return None
            principal = self._principal(person, Via.SESSION, ALL_SCOPES)
        if self.policy.needs_touch(record, now):
            await self.store.touch_session(key, now)
            record = SessionRecord(
                token_hash=record.token_hash,
                login=record.login,
                created_at=record.created_at,
                expires_at=record.expires_at,
                last_seen_at=now,
            )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now, principal, record)
        return principal

    # --- signing in and out ----------------------------------------------------------------

    async def sign_in(self, login: str, password: str, *, address: str) -> SignedIn:
        """Check login and password; LoginThrottled or LoginRefused when not."""
        wait = self.throttle.retry_after(login, address)
        if wait > 0:
            raise LoginThrottled(wait)
        keys = self.throttle.keys(login, address)
        if any(self._in_flight.get(k, 0) >= self._in_flight_limits[k[0]] for k in keys):
            self.throttle.refused += 1
            raise LoginThrottled(1.0)
        # counted before the hash: a burst of guesses sees the lockout the first ones cause
        lock = self.throttle.failed(login, address)
        for k in keys:
            self._in_flight[k] = self._in_flight.get(k, 0) + 1
        try:
            person = await self._active_person(login) if valid_login(login) else None
            credentials = await self.store.credentials(login) if person is not None else None
            stored = credentials.password_hash if credentials is not None else None
            async with self._hashing:
                ok = await asyncio.to_thread(self.passwords.verify, stored, password)
        finally:
            for k in keys:
                left = self._in_flight.pop(k, 1) - 1
                if left > 0:
                    self._in_flight[k] = left
        if not ok or person is None or credentials is None:
            log.warning(
                "refused sign-in for login %r from %s%s",
                login[:64],
                address,
                f"; locked for {lock:.0f} s" if lock else "",
            )
            raise LoginRefused("wrong login or password")
        self.throttle.succeeded(login, address)
        if self.passwords.needs_rehash(credentials.password_hash):
            await self.store.set_password(login, self.passwords.hash(password), self._clock())
        log.info("sign-in: %s (%s) from %s", person.login, person.role.value, address)
        return await self._new_session(self._principal(person, Via.SESSION, ALL_SCOPES))

    async def sign_in_with_token(self, token: str, *, address: str) -> SignedIn:
        """`/login?token=` (the demo's link): break-glass tokens only, throttled per address."""
        key = "~token-link"
        wait = self.throttle.retry_after(key, address)
        if wait > 0:
            raise LoginThrottled(wait)
        principal = self.break_glass(token) if usable(token) else None
        if principal is None:
            self.throttle.failed(key, address)
            log.warning("refused sign-in link from %s: unknown token", address)
            raise LoginRefused("that token is not accepted")
        log.info("sign-in with a break-glass token from %s", address)
        return await self._new_session(principal, session_login=_break_glass_login(token))

    async def sign_out(self, token: str) -> None:
        if usable(token):
            key = token_hash(token)
            self._cache.pop(key, None)
            record = await self.store.session(key)
            await self.store.delete_session(key)
            if record is not None:  # the feeds opened with this session end with it
                principal_login = (
                    BREAK_GLASS_LOGIN
                    if record.login.startswith(BREAK_GLASS_LOGIN)
                    else record.login
                )
                await self.access.changed(principal_login)

    async def purge(self) -> int:
        """Delete expired sessions (a background task runs this)."""
        return await self.store.purge_sessions(self._clock())

    def _break_glass_alive(self, session_login: str) -> bool:
        """A break-glass session lives only while the token it was opened with is configured."""
        return any(
            hmac.compare_digest(session_login, _break_glass_login(known.decode("utf-8")))
            for known in self._break_glass
        )

    async def _new_session(self, principal: Principal, *, session_login: str = "") -> SignedIn:
        token = new_session_token()
        now = self._clock()
        expires = now + self.policy.ttl
        await self.store.add_session(
            SessionRecord(
                token_hash=token_hash(token),
                login=session_login or principal.login,
                created_at=now,
                expires_at=expires,
                last_seen_at=now,
            )
        )
        return SignedIn(principal, token, expires)

    async def _active_person(self, login: str) -> Person | None:
        """The person, if they may sign in: in the directory, with a password, not disabled."""
        credentials = await self.store.credentials(login)
        if credentials is None or credentials.disabled:
            return None
        return await self.store.person(login)

    @staticmethod
    def _principal(person: Person, via: Via, scopes: frozenset[Scope]) -> Principal:
        return Principal(
            login=person.login,
            role=person.role,
            via=via,
            scopes=scopes,
            extensions=person.extensions,
            name=person.name,
        )

    # --- users and tokens (`cti user`, `cti token`) ----------------------------------------

    async def add_user(
        self, login: str, *, role: Role, password: str, name: str | None = None
    ) -> Person:
        """Create or update the agent with this login and role, and set their password."""
        if not valid_login(login):
            raise ValueError(
                f"login {login!r} is not valid: 1-64 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit"
            )
        check_new_password(password, login=login)
        async with self._hashing:
            hashed = await asyncio.to_thread(self.passwords.hash, password)
        person = await self.store.save_person(login, role=role, name=name)
        await self.store.set_password(login, hashed, self._clock())
        # a new password ends every session that knew the old one
        await self.store.delete_sessions_of(login)
        self._cache.clear()
        await self.access.changed(login)  # and their open feeds; a new role applies at once
        return person

    async def disable_user(self, login: str) -> int:
        """No more sign-ins or tokens for `login`; returns how many sessions were ended."""
        if not await self.store.set_disabled(login, self._clock()):
            raise UnknownUser(f"no user {login!r} (see `cti user list`)")
        self._cache.clear()
        ended = await self.store.delete_sessions_of(login)
        await self.access.changed(login)  # their open feeds end now, here and elsewhere
        return ended

    async def users(self) -> list[UserView]:
        creds = {c.login: c for c in await self.store.all_credentials()}
        return [
            UserView(
                login=p.login,
                name=p.name,
                role=p.role,
                extensions=p.extensions,
                has_password=p.login in creds,
                disabled=p.login in creds and creds[p.login].disabled,
            )
            for p in await self.store.people()
        ]

    async def create_token(
        self, login: str, *, name: str = "", scopes: frozenset[Scope] = DEFAULT_SCOPES
    ) -> tuple[TokenRecord, str]:
        """A new API token for `login`: (its record, the token itself, shown only now)."""
        if await self._active_person(login) is None:
            raise UnknownUser(
                f"no active user {login!r}: create one with `cti user add {login} --role ...`"
            )
        if not scopes:
            raise ValueError("a token needs at least one scope")
        token = new_api_token()
        record = await self.store.add_token(
            login=login,
            name=name or "token",
            token_hash=token_hash(token),
            scopes=scopes,
            now=self._clock(),
        )
        return record, token

    async def revoke_token(self, token_id: int) -> bool:
        if not await self.store.revoke_token(token_id, self._clock()):
            return False
        owner = next((t.login for t in await self.store.tokens() if t.id == token_id), None)
        if owner is not None:  # the feeds opened with the token end with it
            await self.access.changed(owner)
        return True

    async def tokens(self, login: str | None = None) -> list[TokenRecord]:
        return await self.store.tokens(login)


def _break_glass_login(token: str) -> str:
    """What a break-glass session stores as its login: the marker and the token's fingerprint
    (never the token), so the session ends when that token is taken out of the settings."""
    return f"{BREAK_GLASS_LOGIN}:{token_hash(token)[:16]}"


__all__ = [
    "AuthService",
    "LoginRefused",
    "LoginThrottled",
    "SignedIn",
    "UnknownUser",
    "UserView",
]
