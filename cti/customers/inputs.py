"""API bodies (already shaped by the JSON Schemas in schemas/api) to validated domain values.

Every field error is collected, so one answer names every field at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial as bind
from typing import Any, TypeVar

from cti.customers import fields as f
from cti.customers.errors import InvalidFields
from cti.customers.importing import CustomerInput
from cti.customers.model import Order

T = TypeVar("T")


class _Collector:
    def __init__(self) -> None:
        self.errors: list[f.FieldError] = []

    def take(self, check: Callable[[], T], prefix: str = "") -> T | None:
        try:
            return check()
        except f.FieldError as exc:
            name = f"{prefix}{exc.field}" if prefix else exc.field
            self.errors.append(f.FieldError(name, exc.reason))
            return None

    def done(self) -> None:
        if self.errors:
            raise InvalidFields(self.errors)


def _phones(values: Sequence[str], region: str) -> Any:
    found: dict[str, Any] = {}
    for n, raw in enumerate(values):
        try:
            parsed = f.phones([raw], region)
        except f.FieldError as exc:
            raise f.FieldError(f"phones[{n}]", exc.reason) from None
        for phone in parsed:
            found.setdefault(phone.e164, phone)
    if len(found) > f.MAX_PHONES:
        raise f.FieldError("phones", f"more than {f.MAX_PHONES} numbers")
    return tuple(found.values())


def _order(value: Mapping[str, Any]) -> Order:
    """One order; the first bad field is the error (the schema has caught the shapes)."""
    return Order(
        number=f.text("number", value.get("number"), max_len=f.ORDER_NUMBER_MAX, required=True),
        date=f.order_date(value.get("date")),
        status=f.text("status", value.get("status"), max_len=f.STATUS_MAX),
        amount=f.amount(value.get("amount")),
        currency=f.currency(value.get("currency")),
    )


def orders(values: Sequence[Mapping[str, Any]], prefix: str = "orders") -> tuple[Order, ...]:
    found: list[Order] = []
    errors = _Collector()
    for n, value in enumerate(values):
        order = errors.take(bind(_order, value), f"{prefix}[{n}].")
        if order is not None:
            found.append(order)
    errors.done()
    return tuple(found)


def customer(body: Mapping[str, Any], rules: f.Rules, *, partial: bool) -> CustomerInput:
    """Values of the fields `body` gives; a full body (not `partial`) resets the others."""
    errors = _Collector()
    values: dict[str, Any] = {}
    given = dict(body)
    if not partial:
        given = {
            "external_id": None,
            "company": "",
            "phones": [],
            "vip": False,
            "timezone": None,
            "manager_login": None,
            "crm_url": None,
            "notes": "",
            **given,
        }
    checks: dict[str, Callable[[Any], Any]] = {
        "external_id": lambda v: f.optional_text("external_id", v, max_len=f.EXTERNAL_ID_MAX),
        "name": lambda v: f.text("name", v, max_len=f.NAME_MAX, required=True),
        "company": lambda v: f.text("company", v, max_len=f.COMPANY_MAX),
        "phones": lambda v: _phones(v or [], rules.region),
        "vip": lambda v: f.flag("vip", bool(v)),
        "timezone": lambda v: f.timezone(v, rules.zones),
        "manager_login": lambda v: f.manager(v, rules.managers),
        "crm_url": lambda v: f.url(v),
        "notes": lambda v: f.notes(v),
    }
    for name, check in checks.items():
        if name in given:
            value = errors.take(bind(check, given[name]))
            values[name] = value
    given_orders: tuple[Order, ...] = ()
    if body.get("orders"):
        try:
            given_orders = orders(body["orders"])
        except InvalidFields as exc:
            errors.errors.extend(exc.errors)
    errors.done()
    return CustomerInput(values, given_orders)


def agent(
    body: Mapping[str, Any], rules: f.Rules, *, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every agent field: `body` over `current` (a patch) or over the defaults (a new agent)."""
    given = {**(current or {}), **body}
    errors = _Collector()
    role = errors.take(lambda: f.role(given.get("role")))
    ext = errors.take(lambda: f.extension(given.get("extension"), role=role or f.Role.AGENT))
    values = {
        "login": errors.take(lambda: f.login(given.get("login"))),
        "name": errors.take(
            lambda: f.text("name", given.get("name"), max_len=f.NAME_MAX, required=True)
        ),
        "role": role,
        "extension": ext,
        "device": errors.take(lambda: f.device(given.get("device"), ext or "")),
        "mobile": errors.take(lambda: f.mobile(given.get("mobile"), rules.region)),
        "teams": errors.take(lambda: f.teams(given.get("teams") or [])),
        "seniority": errors.take(
            lambda: f.whole("seniority", given.get("seniority"), low=0, high=1000, default=0)
        ),
        "max_calls": errors.take(
            lambda: f.whole("max_calls", given.get("max_calls"), low=1, high=100, default=1)
        ),
    }
    errors.done()
    return values


__all__ = ["agent", "customer", "orders"]
