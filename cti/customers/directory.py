"""The caller lookup the live server uses: an in-memory PhoneIndex kept in step with the database.

Correctness after changes: the index follows the database's change feed (`cti.db.audit`).
Writers in this process (API, bulk upload) call `refresh()` after their commit, so when their
request returns the live lookup already answers with the change. Writers in other processes
(`cti import`, another node) are picked up by the poller within `refresh_every` seconds; a bulk
change (an import) or a feed that no longer reaches back far enough reloads the whole index in
the background while the old one keeps answering. Until the first load completes, lookups go
to the database (correct, slower).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cti.customers.index import PhoneIndex
from cti.customers.matching import decide, prefer, searches_directory
from cti.customers.model import Match
from cti.customers.numbers import NumberKind, read_caller
from cti.db import choices, lookup
from cti.db.audit import changes_since, current_revision

log = logging.getLogger(__name__)


async def match_in_database(engine: AsyncEngine, raw: str, region: str) -> Match:
    """The same answer as the index, straight from SQL: for one-shot lookups (`cti lookup`)."""
    async with engine.connect() as conn:
        agents = await lookup.extensions(conn)
        number = read_caller(raw, region, extensions=agents)
        if number.kind is NumberKind.INTERNAL:
            return decide(number, agent=agents.get(_digits(raw)))
        if not searches_directory(number):
            return decide(number)
        exact = await lookup.exact_candidates(conn, number.e164) if number.e164 else []
        national = [] if exact else await lookup.national_candidates(conn, number.national)
        found = decide(number, exact=exact, national=national)
        if found.ambiguous and found.normalized:
            found = prefer(found, (await choices.every_choice(conn)).get(found.normalized))
    return found


def _digits(raw: str) -> str:
    return "".join(ch for ch in raw if ch.isdigit())


class CallerDirectory:
    """Matches caller IDs against every customer in memory; follows the database's changes."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        region: str,
        refresh_every: float = 1.0,
        reload_after: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._region = region
        self._refresh_every = refresh_every
        self._reload_after = reload_after
        self._clock = clock
        self._index: PhoneIndex | None = None
        self._revision = -1
        self._extensions: dict[str, str] = {}
        #: E.164 -> the customer an agent picked for a shared number (re-read on every change)
        self._choices: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._reloading: asyncio.Future[None] | None = None
        self.loads = 0
        self.load_seconds = 0.0
        self.refresh_errors = 0

    @property
    def ready(self) -> bool:
        return self._index is not None

    @property
    def revision(self) -> int:
        return self._revision

    def stats(self) -> dict[str, Any]:
        index = self._index
        return {
            "ready": index is not None,
            "customers": index.customers if index else 0,
            "phones": index.phones if index else 0,
            "pending_changes": index.pending_changes if index else 0,
            "revision": self._revision,
            "loads": self.loads,
            "load_seconds": round(self.load_seconds, 3),
        }

    # --- lookups ---------------------------------------------------------------------------------

    def match_now(self, raw: str) -> Match | None:
        """The match from memory (microseconds); None until the index is loaded."""
        index = self._index
        if index is None:
            return None
        number = read_caller(raw, self._region, extensions=self._extensions)
        if number.kind is NumberKind.INTERNAL:
            return decide(number, agent=self._extensions.get(_digits(raw)))
        if not searches_directory(number):
            return decide(number)
        exact = index.exact(number.e164) if number.e164 else []
        national = [] if exact or not number.national else index.national(number.national)
        found = decide(number, exact=exact, national=national)
        if found.ambiguous and found.normalized:
            found = prefer(found, self._choices.get(found.normalized))
        return found

    async def match(self, raw: str) -> Match:
        found = self.match_now(raw)
        if found is not None:
            return found
        return await match_in_database(self._engine, raw, self._region)

    async def for_call(self, raw: str) -> dict[str, Any] | None:
        """The `customer` of a live call (None: unknown caller). A match counts as activity:
        the next call from a shared number prefers the customer who called last."""
        found = await self.match(raw)
        if found.customer is not None and self._index is not None:
            self._index.touch(found.customer.customer_id, self._clock())
        return found.card()

    # --- following the database --------------------------------------------------------------------

    async def run(self) -> None:
        """Load, then follow the change feed until cancelled (a task the application owns)."""
        delay = 1.0
        while self._index is None:
            try:
                await self.reload()
            except Exception as exc:
                log.error(
                    "could not load the customer directory (%s: %s); retrying in %.0f s",
                    exc.__class__.__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        while True:
            await asyncio.sleep(self._refresh_every)
            try:
                await self.refresh()
            except Exception as exc:
                self.refresh_errors += 1
                log.warning(
                    "customer directory refresh failed (%s: %s)", exc.__class__.__name__, exc
                )

    async def reload(self) -> None:
        """Build a fresh index from the database and swap it in, then catch up; callers that
        ask while a reload runs share it."""
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.ensure_future(self._reload())
        await asyncio.shield(self._reloading)

    async def _reload(self) -> None:
        started = time.perf_counter()
        index = PhoneIndex()
        revision = await lookup.load_index(self._engine, index)
        async with self._engine.connect() as conn:
            extensions = await lookup.extensions(conn)
            picked = await choices.every_choice(conn)
        async with self._lock:
            self._index, self._revision, self._extensions = index, revision, extensions
            self._choices = picked
        self.loads += 1
        self.load_seconds = time.perf_counter() - started
        log.info(
            "customer directory loaded: %d customers, %d numbers in %.1f s",
            index.customers,
            index.phones,
            self.load_seconds,
        )
        async with self._lock:
            await self._catch_up()

    async def refresh(self) -> None:
        """Apply what changed since the index's revision (a no-op when nothing did)."""
        if self._index is None:
            return
        async with self._lock:
            reload_due = await self._catch_up()
        if reload_due:
            await self.reload()

    async def _catch_up(self) -> bool:
        index = self._index
        assert index is not None
        async with self._engine.connect() as conn:
            if await current_revision(conn) == self._revision:
                return False
            changes = await changes_since(conn, self._revision)
            if changes.everything:
                return True
            if changes.customers:
                now = await lookup.customers_now(conn, sorted(changes.customers))
                for customer_id in changes.customers:
                    if customer_id in now:
                        card, phones, activity = now[customer_id]
                        index.put(customer_id, card, phones, activity)
                    else:
                        index.remove(customer_id)
            if changes.agents:
                self._extensions = await lookup.extensions(conn)
            self._choices = await choices.every_choice(conn)
        self._revision = changes.revision
        return index.pending_changes > self._reload_after


__all__ = ["CallerDirectory", "match_in_database"]
