"""Customers, their phones and orders, agents, and what a caller ID matched: the domain's words."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cti.auth.principal import Role  # one role for the directory and for access

#: how many of a customer's orders the card shows
LAST_ORDERS = 5


class TimezoneSource(enum.StrEnum):
    CUSTOMER = "customer"  #: set on the customer (CRM, import, API)
    NUMBER = "number"  #: the one zone all the customer's numbers are in
    OFFICE = "office"  #: the office's zone: numbers span several zones (mobiles) or none


@dataclass(frozen=True, slots=True)
class Phone:
    """One of a customer's numbers: E.164 for matching, as it was written for people."""

    e164: str
    raw: str = ""
    nsn: str = ""  #: national significant number, for the fallback match
    valid: bool = True  #: False: phonenumbers does not know the number; kept as written


@dataclass(frozen=True, slots=True)
class Order:
    """One order from the shop or CRM, as the card lists it."""

    number: str
    date: date
    status: str
    amount: Decimal
    currency: str

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "date": self.date.isoformat(),
            "status": self.status,
            "amount": money(self.amount),
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """What the card says about orders: how many, how much, the latest few."""

    count: int = 0
    total: Decimal = Decimal("0.00")
    currency: str | None = None
    last: tuple[Order, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "total": money(self.total),
            "currency": self.currency,
            "last": [o.to_json() for o in self.last],
        }


def summarize(orders: list[Order] | tuple[Order, ...]) -> OrderSummary:
    """Count every order; total the ones in the latest order's currency (sums of different
    currencies mean nothing); the latest LAST_ORDERS by date, then number, newest first."""
    if not orders:
        return OrderSummary()
    newest = sorted(orders, key=lambda o: (o.date, o.number), reverse=True)
    currency = newest[0].currency
    total = sum((o.amount for o in orders if o.currency == currency), Decimal("0.00"))
    return OrderSummary(len(orders), total, currency, tuple(newest[:LAST_ORDERS]))


def money(amount: Decimal) -> str:
    """Amounts travel as strings with two decimals: "1234.50" (no binary float rounding)."""
    return f"{amount:.2f}"


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer (a person, usually at a company) as the directory keeps it."""

    id: int | None
    name: str
    company: str = ""
    phones: tuple[Phone, ...] = ()
    vip: bool = False
    timezone: str | None = None  #: as set; None: derived (see TimezoneSource)
    manager_login: str | None = None  #: the responsible (account) manager, an agent's login
    external_id: str | None = None  #: the id in the CRM or shop: the key of imports
    crm_url: str | None = None
    orders: OrderSummary = field(default_factory=OrderSummary)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    notes: str = ""  #: what the agents wrote about the customer
    source: str = "manual"  #: `manual`, or `auto`: a lead card made on the first call
    created_by: str | None = None  #: the login that created the card (None: an import)

    def audited(self) -> dict[str, Any]:
        """The fields the audit log compares, as JSON values."""
        return {
            "name": self.name,
            "company": self.company,
            "notes": self.notes,
            "phones": [p.e164 for p in self.phones],
            "vip": self.vip,
            "timezone": self.timezone,
            "manager_login": self.manager_login,
            "external_id": self.external_id,
            "crm_url": self.crm_url,
            "orders_count": self.orders.count,
            "orders_total": money(self.orders.total),
            "orders_currency": self.orders.currency,
        }


@dataclass(frozen=True, slots=True)
class Agent:
    """A person who answers calls."""

    id: int | None
    login: str
    name: str
    role: Role = Role.AGENT
    extension: str = ""
    device: str = ""  #: e.g. PJSIP/101
    mobile: str | None = None  #: E.164, for follow-me
    teams: tuple[str, ...] = ()
    seniority: int = 0  #: higher is more experienced (VIP customers go to the senior agents)
    max_calls: int = 1  #: calls in progress at once before the agent counts as busy
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def audited(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "name": self.name,
            "role": self.role.value,
            "extension": self.extension,
            "device": self.device,
            "mobile": self.mobile,
            "teams": list(self.teams),
            "seniority": self.seniority,
            "max_calls": self.max_calls,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.audited(),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """A customer a number may belong to, with what the screen-pop shows."""

    customer_id: int
    name: str
    company: str
    vip: bool = False
    manager_login: str | None = None
    activity: float = 0.0  #: epoch seconds of the last change or call: the tie-breaker

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "name": self.name,
            "company": self.company,
            "vip": self.vip,
            "manager_login": self.manager_login,
        }


class MatchedBy(enum.StrEnum):
    E164 = "e164"  #: the exact E.164 number
    NATIONAL_NUMBER = "national_number"  #: the fallback: same digits after the country code


@dataclass(frozen=True, slots=True)
class Match:
    """What a caller ID matched: the customer (or none), and what the number is."""

    raw: str
    normalized: str | None
    kind: str  #: cti.customers.numbers.NumberKind
    customer: Candidate | None = None
    via: MatchedBy | None = None
    others: tuple[Candidate, ...] = ()  #: other customers with the same number (ambiguous)
    agent: str | None = None  #: the agent's login when the number is a known extension
    chosen: bool = False  #: the customer is the one an agent picked for this shared number

    @property
    def internal(self) -> bool:
        return self.kind == "internal"

    @property
    def ambiguous(self) -> bool:
        return bool(self.others)

    def to_json(self) -> dict[str, Any]:
        """`cti lookup --json` and GET /api/customers/lookup."""
        c = self.customer
        return {
            "phone": self.raw,
            "customer_id": c.customer_id if c else None,
            "name": c.name if c else None,
            "company": c.company if c else None,
            "vip": c.vip if c else None,
            "manager_login": c.manager_login if c else None,
            "normalized": self.normalized,
            "internal": self.internal,
            "kind": self.kind,
            "agent": self.agent,
            "matched_by": self.via.value if self.via else None,
            "ambiguous": self.ambiguous,
            "chosen": self.chosen,
            "candidates": [o.to_json() for o in self.others],
        }

    def card(self) -> dict[str, Any] | None:
        """The `customer` of a `call.live` message: None when nobody matched."""
        if self.customer is None:
            return None
        return self.customer.to_json()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


#: the customer fields a writer may set (orders go through `Order`s)
CUSTOMER_FIELDS = (
    "external_id",
    "name",
    "company",
    "phones",
    "vip",
    "timezone",
    "manager_login",
    "crm_url",
    "notes",
)


#: what a new customer's audited fields are before anything is set (creations list the rest)
CUSTOMER_DEFAULTS: Mapping[str, Any] = Customer(id=None, name="").audited()


def with_values(current: Customer | None, values: Mapping[str, Any]) -> Customer:
    """`current` (None: a new customer) with the given fields replaced."""
    base = current if current is not None else Customer(id=None, name="")
    return replace(base, **{k: v for k, v in values.items() if k in CUSTOMER_FIELDS})


__all__ = [
    "CUSTOMER_DEFAULTS",
    "CUSTOMER_FIELDS",
    "LAST_ORDERS",
    "Agent",
    "Candidate",
    "Customer",
    "Match",
    "MatchedBy",
    "Order",
    "OrderSummary",
    "Phone",
    "Role",
    "TimezoneSource",
    "money",
    "summarize",
    "with_values",
]
