"""What a screen-pop says about the caller: the customer card (name, company, VIP, manager, time
zone, orders, CRM link), their open callbacks and last calls; for an unknown number the number
itself, for the create-customer form; for a colleague's extension, the colleague.

Two steps, so that the pop never waits for the database: `quick` answers from memory at once
(the caller lookup's customer: name, company, VIP, manager), `card` reads the rest (orders, time
zone, CRM link, callbacks, last calls) from the customer directory, the callbacks and the call
store. Cached, so that a queue ringing ten agents, or a customer calling again, costs no query:
a customer's card until the directory changes (its revision moves) or for five minutes; a
number's callbacks and last calls for a minute, forgotten at once when a call from or to the
number ends or its callbacks change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cti.calls.model import CallRecord
from cti.missed.callbacks import CallbackFilter
from cti.missed.model import CallbackState
from cti.pops.pops import AgentRef
from cti.webhooks.links import Links

log = logging.getLogger(__name__)

#: how many open callbacks and last calls a pop lists
CALLBACKS_SHOWN = 5
CALLS_SHOWN = 5


class Candidate(Protocol):
    customer_id: int


class MatchLike(Protocol):
    """`cti.customers.model.Match`: what a caller ID matched."""

    normalized: str | None
    kind: str

    @property
    def customer(self) -> Any: ...

    @property
    def internal(self) -> bool: ...


class CustomerReader(Protocol):
    async def get(self, customer_id: int) -> dict[str, Any]: ...


class CallbackReader(Protocol):
    async def list(self, f: CallbackFilter) -> list[dict[str, Any]]: ...


class CallReader(Protocol):
    async def list_calls(
        self, *, limit: int | None = None, newest_first: bool = False, number: str | None = None
    ) -> list[CallRecord]: ...


@dataclass(frozen=True)
class CallerCard:
    """Everything a pop shows about who is calling."""

    number: str  #: as the PBX presented it (attacker-controlled: text only)
    e164: str | None = None
    kind: str = "unknown"  #: cti.customers.numbers.NumberKind: mobile, fixed_line, internal...
    customer: dict[str, Any] | None = None
    colleague: AgentRef | None = None
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: every customer with this number when several have it (the match first): the agent picks
    candidates: list[dict[str, Any]] = field(default_factory=list)
    failed: bool = False  #: the lookup failed or was too slow: shown as an unknown number
    complete: bool = True  #: False: from memory only; the database's part follows (pop.updated)

    def to_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "new_customer": None
            if self.customer is not None or self.colleague is not None or not self.number
            else {"phone": self.e164 or self.number},
            "colleague": self.colleague.to_json() if self.colleague is not None else None,
            "callbacks": self.callbacks,
            "recent_calls": self.calls,
            "candidates": self.candidates,
            "lookup_failed": self.failed,
            "complete": self.complete,
        }


def quick_card(candidate: Any, manager: AgentRef | None) -> dict[str, Any]:
    """The card part the caller lookup has in memory; the rest is null until read."""
    return {
        "id": candidate.customer_id,
        "name": candidate.name or "",
        "company": candidate.company or "",
        "vip": bool(candidate.vip),
        "manager": manager.to_json() if manager is not None else None,
        "timezone": None,
        "orders": None,
        "crm_url": None,
        "source": None,
    }


def candidate_item(candidate: Any, manager: AgentRef | None) -> dict[str, Any]:
    """One of the customers a shared number may be, for the agent to pick."""
    return {
        "id": candidate.customer_id,
        "name": candidate.name or "",
        "company": candidate.company or "",
        "vip": bool(candidate.vip),
        "manager": manager.to_json() if manager is not None else None,
    }


def customer_card(view: Mapping[str, Any], manager: AgentRef | None) -> dict[str, Any]:
    """The card part of a customer as `CustomerService.view` returns it."""
    orders = view.get("orders") or {}
    return {
        "id": view["id"],
        "name": view.get("name") or "",
        "company": view.get("company") or "",
        "vip": bool(view.get("vip")),
        "manager": manager.to_json() if manager is not None else None,
        "timezone": view.get("timezone"),
        "orders": {
            "count": int(orders.get("count") or 0),
            "total": str(orders.get("total") or "0.00"),
            "currency": orders.get("currency"),
            "last": list(orders.get("last") or []),
        },
        "crm_url": view.get("crm_url"),
        "source": view.get("source") or "manual",
    }


def callback_item(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "owner": row.get("owner"),
        "deadline_at": row.get("deadline_at"),
        "misses": row.get("misses") or 0,
        "note": row.get("note") or "",
        "held_by": row.get("held_by"),
    }


def call_item(record: CallRecord, links: Links | None = None) -> dict[str, Any]:
    data = record.to_json()
    item = {
        key: data[key]
        for key in (
            "linkedid",
            "direction",
            "started_at",
            "outcome",
            "missed_kind",
            "answered_by",
            "talk_seconds",
        )
    }
    recording = (
        links.recording_url(record.recording, record.linkedid) if links is not None else None
    )
    if recording:
        item["recording_url"] = recording
    return item


class _Ttl:
    """A small time-bounded cache."""

    def __init__(self, seconds: float, clock: Callable[[], float], size: int = 10_000) -> None:
        self._seconds = seconds
        self._clock = clock
        self._size = size
        self._items: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        found = self._items.get(key)
        if found is None or found[0] < self._clock():
            return None
        return found[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._items) >= self._size:
            self._items.clear()
        self._items[key] = (self._clock() + self._seconds, value)

    def drop(self, key: Any) -> None:
        self._items.pop(key, None)


class CardSource:
    """Builds `CallerCard`s; every source is optional (a directory-less test, a partial setup)."""

    def __init__(
        self,
        *,
        match: Callable[[str], Awaitable[MatchLike]] | None = None,
        match_now: Callable[[str], MatchLike | None] | None = None,
        customers: CustomerReader | None = None,
        callbacks: CallbackReader | None = None,
        calls: CallReader | None = None,
        agents: Callable[[str], AgentRef | None] = lambda login: None,
        colleague: Callable[[str], AgentRef | None] = lambda extension: None,
        revision: Callable[[], int] | None = None,
        links: Links | None = None,
        auto_create: Callable[[str, str], Awaitable[int | None]] | None = None,
        customer_seconds: float = 300.0,
        history_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._match = match
        self._match_now = match_now
        self._customers = customers
        self._callbacks = callbacks
        self._calls = calls
        self._agent = agents
        self._colleague = colleague
        self._revision = revision if revision is not None else lambda: 0
        self._links = links  #: "open in CRM" from crm_url_template, recordings' links
        #: (e164, caller ID name) -> the id of a lead card made for an unknown caller (setting
        #: auto_customer_cards); one creation per number at a time
        self._auto_create = auto_create
        self._creating: dict[str, asyncio.Future[int | None]] = {}
        self._seen_revision = self._revision()
        self._by_customer = _Ttl(customer_seconds, clock)
        self._by_number = _Ttl(history_seconds, clock)

    def forget_number(self, e164: str | None) -> None:
        """A call from or to this number ended, or its callbacks changed: read them again."""
        if e164:
            self._by_number.drop(e164)

    def forget_customer(self, customer_id: int) -> None:
        self._by_customer.drop(customer_id)

    def _customer_cached(self, customer_id: int) -> dict[str, Any] | None:
        revision = self._revision()
        if revision != self._seen_revision:  # someone changed the directory: read cards again
            self._seen_revision = revision
            self._by_customer = _Ttl(self._by_customer._seconds, self._by_customer._clock)
        cached = self._by_customer.get(customer_id)
        return dict(cached) if cached is not None else None

    def quick(self, raw: str, *, direction: str | None = None) -> CallerCard | None:
        """The card from memory, at once: complete when the database's part is cached; None when
        the caller lookup has nothing in memory yet (then only `card` can tell)."""
        colleague = self._colleague(raw) if raw else None
        if colleague is not None and direction != "inbound":
            return CallerCard(number=raw, kind="internal", colleague=colleague)
        if not raw:
            return CallerCard(number=raw)
        found = self._match_now(raw) if self._match_now is not None else None
        if found is None:
            return None
        if found.internal:
            return CallerCard(number=raw, kind="internal", colleague=colleague)
        e164, candidate = found.normalized, found.customer
        history = self._by_number.get(e164) if e164 else ([], [])
        customer = None
        if candidate is not None:
            customer = self._customer_cached(candidate.customer_id)
            if customer is None:
                customer = quick_card(candidate, self._manager(candidate.manager_login))
                history = None  # the card's database part is not cached: read it
        if candidate is None and self._auto_for(e164, direction):
            history = None  # the lead card is made by `card`, as the pop's update
        return CallerCard(
            number=raw,
            e164=e164,
            kind=found.kind,
            customer=dict(customer) if customer is not None else None,
            callbacks=history[0] if history is not None else [],
            calls=history[1] if history is not None else [],
            candidates=self._candidates(found),
            complete=history is not None,
        )

    def _candidates(self, found: MatchLike) -> list[dict[str, Any]]:
        others = getattr(found, "others", ())  # a lookup that knows of no sharing has none
        if found.customer is None or not others:
            return []
        return [
            candidate_item(c, self._manager(c.manager_login)) for c in (found.customer, *others)
        ]

    def _auto_for(self, e164: str | None, direction: str | None) -> bool:
        return self._auto_create is not None and bool(e164) and direction == "inbound"

    async def _lead(self, e164: str, name: str) -> int | None:
        """The lead card of an unknown caller: made once, however many pops ask at once."""
        assert self._auto_create is not None
        pending = self._creating.get(e164)
        if pending is None:
            pending = asyncio.ensure_future(self._auto_create(e164, name))
            self._creating[e164] = pending
            pending.add_done_callback(lambda _: self._creating.pop(e164, None))
        return await asyncio.shield(pending)

    def _manager(self, login: str | None) -> AgentRef | None:
        if not login:
            return None
        return self._agent(login) or AgentRef(login=login, name=login)

    async def card(self, raw: str, *, direction: str | None = None, name: str = "") -> CallerCard:
        """Who is calling from `raw` (for an internal call: which colleague). `name`: the caller
        ID name, for the lead card of an unknown caller (auto_customer_cards)."""
        colleague = self._colleague(raw) if raw else None
        if colleague is not None and direction != "inbound":
            return CallerCard(number=raw, kind="internal", colleague=colleague)
        if not raw or self._match is None:
            return CallerCard(number=raw)
        found = await self._match(raw)
        if found.internal:
            return CallerCard(number=raw, kind="internal", colleague=colleague)
        e164 = found.normalized
        candidate = found.customer
        customer_id = candidate.customer_id if candidate is not None else None
        if customer_id is None and e164 and self._auto_for(e164, direction):
            customer_id = await self._lead(e164, name)
        customer, (callbacks, calls) = await asyncio.gather(
            self._customer(customer_id), self._history(e164)
        )
        return CallerCard(
            number=raw,
            e164=e164,
            kind=found.kind,
            customer=customer,
            callbacks=callbacks,
            calls=calls,
            candidates=self._candidates(found),
        )

    async def _customer(self, customer_id: int | None) -> dict[str, Any] | None:
        if customer_id is None or self._customers is None:
            return None
        cached = self._customer_cached(customer_id)
        if cached is not None:
            return cached
        view = await self._customers.get(customer_id)
        card = customer_card(view, self._manager(view.get("manager_login")))
        if self._links is not None:
            card["crm_url"] = self._links.crm_url(view)
        self._by_customer.put(customer_id, card)
        return dict(card)

    async def _history(self, e164: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if not e164:
            return [], []
        cached = self._by_number.get(e164)
        if cached is not None:
            return cached
        callbacks: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        if self._callbacks is not None:
            rows = await self._callbacks.list(
                CallbackFilter(number=e164, state=CallbackState.OPEN, limit=CALLBACKS_SHOWN)
            )
            callbacks = [callback_item(r) for r in rows]
        if self._calls is not None:
            records = await self._calls.list_calls(
                limit=CALLS_SHOWN, newest_first=True, number=e164
            )
            calls = [call_item(r, self._links) for r in records]
        self._by_number.put(e164, (callbacks, calls))
        return callbacks, calls


__all__ = [
    "CallerCard",
    "CardSource",
    "call_item",
    "candidate_item",
    "callback_item",
    "customer_card",
    "quick_card",
]
