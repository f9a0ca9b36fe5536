"""What a screen-pop says about the caller: the customer card (name, company, VIP, manager, time
zone, orders, CRM link), their open callbacks and last calls; for an unknown number the number
itself, for the create-customer form; for a colleague's extension, the colleague.

Read from the customer directory, the callbacks and the call store; cached for a few seconds per
customer and per number so that a queue ringing ten agents, or a caller calling back, costs one
round of queries.
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
    failed: bool = False  #: the lookup failed or was too slow: shown as an unknown number

    def to_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "new_customer": None
            if self.customer is not None or self.colleague is not None or not self.number
            else {"phone": self.e164 or self.number},
            "colleague": self.colleague.to_json() if self.colleague is not None else None,
            "callbacks": self.callbacks,
            "recent_calls": self.calls,
            "lookup_failed": self.failed,
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


def call_item(record: CallRecord) -> dict[str, Any]:
    data = record.to_json()
    return {
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
        customers: CustomerReader | None = None,
        callbacks: CallbackReader | None = None,
        calls: CallReader | None = None,
        agents: Callable[[str], AgentRef | None] = lambda login: None,
        colleague: Callable[[str], AgentRef | None] = lambda extension: None,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._match = match
        self._customers = customers
        self._callbacks = callbacks
        self._calls = calls
        self._agent = agents
        self._colleague = colleague
        self._by_customer = _Ttl(cache_seconds, clock)
        self._by_number = _Ttl(cache_seconds, clock)

    def forget_number(self, e164: str | None) -> None:
        """A call from or to this number ended, or its callbacks changed: read them again."""
        if e164:
            self._by_number.drop(e164)

    def forget_customer(self, customer_id: int) -> None:
        self._by_customer.drop(customer_id)

    async def card(self, raw: str, *, direction: str | None = None) -> CallerCard:
        """Who is calling from `raw` (for an internal call: which colleague)."""
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
        )

    async def _customer(self, customer_id: int | None) -> dict[str, Any] | None:
        if customer_id is None or self._customers is None:
            return None
        cached = self._by_customer.get(customer_id)
        if cached is not None:
            return dict(cached)
        view = await self._customers.get(customer_id)
        manager_login = view.get("manager_login")
        manager = None
        if manager_login:
            manager = self._agent(manager_login) or AgentRef(
                login=manager_login, name=manager_login
            )
        card = customer_card(view, manager)
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
            calls = [call_item(r) for r in records]
        self._by_number.put(e164, (callbacks, calls))
        return callbacks, calls


__all__ = ["CallerCard", "CardSource", "call_item", "callback_item", "customer_card"]
