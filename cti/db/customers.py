"""Customers in the database: read them whole, and write changes with their audit entries.

Every write here happens inside a transaction the caller owns (an API request, one import);
the caller ends it with `cti.db.audit.record_changes` so caches learn what changed.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from cti.customers.access import CustomerScope
from cti.customers.audit import AuditEntry, Entity, audit_entry
from cti.customers.model import CUSTOMER_DEFAULTS, Customer, Order, OrderSummary, Phone, summarize
from cti.db.audit import write_audit
from cti.db.directory_models import CustomerOrderRow
from cti.db.fastcopy import insert_rows
from cti.db.models import Customer as CustomerRow
from cti.db.models import CustomerPhone

_CUSTOMERS = cast(Table, CustomerRow.__table__)
_PHONES = cast(Table, CustomerPhone.__table__)
_ORDERS = cast(Table, CustomerOrderRow.__table__)
#: ids per IN (...) list: well under SQLite's and asyncpg's parameter limits
_IN_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class CustomerWrite:
    """One customer to write: as it is (None: new), as it will be, and orders to add/replace."""

    old: Customer | None
    new: Customer
    orders: tuple[Order, ...] = ()


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- reading ------------------------------------------------------------------------------------


def _customer(row: Any, phones: Sequence[Phone], last: Sequence[Order] = ()) -> Customer:
    return Customer(
        id=row.id,
        name=row.name,
        company=row.company or "",
        phones=tuple(phones),
        vip=bool(row.vip),
        timezone=row.timezone,
        manager_login=row.manager_login,
        external_id=row.external_id,
        crm_url=row.crm_url,
        orders=OrderSummary(
            row.orders_count or 0,
            Decimal(row.orders_total_cents or 0) / 100,
            row.orders_currency,
            tuple(last),
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
        notes=row.notes or "",
        source=row.source or "manual",
        created_by=row.created_by,
    )


def _order(row: Any) -> Order:
    return Order(
        row.number, row.ordered_on, row.status, Decimal(row.amount_cents) / 100, row.currency
    )


async def _phones_of(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Phone]]:
    found: dict[int, list[Phone]] = defaultdict(list)
    for part in _chunks(ids):
        rows = await session.execute(
            select(
                _PHONES.c.customer_id, _PHONES.c.e164, _PHONES.c.raw, _PHONES.c.nsn, _PHONES.c.valid
            )
            .where(_PHONES.c.customer_id.in_(part))
            .order_by(_PHONES.c.id)
        )
        for r in rows:
            found[r.customer_id].append(Phone(r.e164, r.raw, r.nsn, bool(r.valid)))
    return found


async def orders_of(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Order]]:
    """Every stored order of these customers."""
    found: dict[int, list[Order]] = defaultdict(list)
    for part in _chunks(ids):
        rows = await session.execute(select(_ORDERS).where(_ORDERS.c.customer_id.in_(part)))
        for r in rows:
            found[r.customer_id].append(_order(r))
    return found


async def load(
    session: AsyncSession,
    *,
    ids: Sequence[int] = (),
    external_ids: Sequence[str] = (),
    orders: bool = False,
) -> list[Customer]:
    """Customers by id or by external id, with their phones (and latest orders if `orders`)."""
    rows: list[Any] = []
    for column, keys in ((_CUSTOMERS.c.id, ids), (_CUSTOMERS.c.external_id, external_ids)):
        for part in _chunks(list(keys)):
            rows.extend((await session.execute(select(_CUSTOMERS).where(column.in_(part)))).all())
    if not rows:
        return []
    found_ids = [r.id for r in rows]
    phones = await _phones_of(session, found_ids)
    last = await orders_of(session, found_ids) if orders else {}
    return [_customer(r, phones.get(r.id, ()), summarize(last.get(r.id, [])).last) for r in rows]


async def get(session: AsyncSession, customer_id: int) -> Customer | None:
    found = await load(session, ids=[customer_id], orders=True)
    return found[0] if found else None


async def listing(
    session: AsyncSession,
    *,
    limit: int,
    after_id: int = 0,
    manager_login: str | None = None,
    search: str | None = None,
    scope: CustomerScope | None = None,
) -> list[Customer]:
    """A page of customers by id; `search` is a case-insensitive part of name or company;
    `scope`: only the customers an agent sees."""
    query = (
        select(_CUSTOMERS.c.id)
        .where(_CUSTOMERS.c.id > after_id)
        .order_by(_CUSTOMERS.c.id)
        .limit(limit)
    )
    if manager_login is not None:
        query = query.where(_CUSTOMERS.c.manager_login == manager_login)
    if search:
        pattern = (
            "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        query = query.where(
            func.lower(_CUSTOMERS.c.name).like(pattern, escape="\\")
            | func.lower(_CUSTOMERS.c.company).like(pattern, escape="\\")
        )
    if scope is not None:
        query = query.where(_seen_by(scope))
    ids = list((await session.scalars(query)).all())
    by_id = {c.id: c for c in await load(session, ids=ids)}
    return [by_id[i] for i in ids if i in by_id]


def _seen_by(scope: CustomerScope) -> ColumnElement[bool]:
    """SQL for "this agent sees the customer": managed by one of `scope.managers`, a card the
    agent created that nobody manages, or a customer whose calls involved the agent's phone."""
    from cti.db.calls import calls_involving
    from cti.db.models import CallRow

    called = select(CallRow.customer_id).where(
        CallRow.customer_id.is_not(None), calls_involving(scope.extensions)
    )
    return or_(
        _CUSTOMERS.c.manager_login.in_(sorted(scope.managers)),
        and_(_CUSTOMERS.c.manager_login.is_(None), _CUSTOMERS.c.created_by == scope.login),
        _CUSTOMERS.c.id.in_(called),
    )


async def in_scope(session: AsyncSession, customer: Customer, scope: CustomerScope) -> bool:
    """Does the agent of `scope` see this customer?"""
    query = select(_CUSTOMERS.c.id).where(_CUSTOMERS.c.id == customer.id, _seen_by(scope))
    return (await session.scalar(query)) is not None


async def owners_of(session: AsyncSession, numbers: Sequence[str]) -> dict[str, list[Customer]]:
    """The customers that have each of these E.164 numbers (exact)."""
    found: dict[str, set[int]] = defaultdict(set)
    for part in _chunks(list(numbers)):
        rows = await session.execute(
            select(_PHONES.c.e164, _PHONES.c.customer_id).where(_PHONES.c.e164.in_(part))
        )
        for r in rows:
            found[r.e164].add(r.customer_id)
    ids = sorted({i for group in found.values() for i in group})
    by_id = {c.id: c for c in await load(session, ids=ids)} if ids else {}
    return {e164: [by_id[i] for i in sorted(group) if i in by_id] for e164, group in found.items()}


async def count_managed_by(session: AsyncSession, login: str) -> int:
    query = select(func.count()).select_from(_CUSTOMERS).where(_CUSTOMERS.c.manager_login == login)
    return int(await session.scalar(query) or 0)


# --- writing ------------------------------------------------------------------------------------


def _columns(c: Customer, at: datetime) -> dict[str, Any]:
    return {
        "external_id": c.external_id,
        "name": c.name,
        "company": c.company,
        "vip": c.vip,
        "timezone": c.timezone,
        "manager_login": c.manager_login,
        "crm_url": c.crm_url,
        "notes": c.notes,
        "orders_count": c.orders.count,
        "orders_total_cents": cents(c.orders.total),
        "orders_currency": c.orders.currency,
        "updated_at": at,
    }


_PHONE_COLUMNS = ("customer_id", "e164", "raw", "nsn", "valid")


def _phone_rows(customer_id: int, phones: Iterable[Phone]) -> list[tuple[Any, ...]]:
    return [(customer_id, p.e164, p.raw, p.nsn, p.valid) for p in phones]


def with_orders(current: Customer, stored: Sequence[Order], given: Sequence[Order]) -> Customer:
    """`current` with its order summary recomputed after `given` orders replace stored ones."""
    if not given:
        return current
    merged = {o.number: o for o in stored}
    merged.update((o.number, o) for o in given)
    return dataclasses.replace(current, orders=summarize(list(merged.values())))


async def write(
    session: AsyncSession, writes: Sequence[CustomerWrite], *, actor: str, at: datetime
) -> list[Customer]:
    """Create, update or leave alone each customer; audit what changed. Returns the customers
    as written (ids set), in the order given. Unchanged customers keep their updated_at."""
    creates = [w for w in writes if w.old is None]
    updates = [
        w for w in writes if w.old is not None and (w.old.audited() != w.new.audited() or w.orders)
    ]
    written: dict[int, Customer] = {}
    entries: list[AuditEntry] = []
    for w, customer_id in zip(
        creates, await _insert(session, [w.new for w in creates], at), strict=True
    ):
        written[id(w)] = dataclasses.replace(w.new, id=customer_id, created_at=at, updated_at=at)
    changed = [w for w in updates if w.old is not None and w.old.audited() != w.new.audited()]
    changed_ids = {id(w) for w in changed}
    if changed:
        statement = update(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("b_id"))
        await session.execute(
            statement, [{**_columns(w.new, at), "b_id": w.new.id} for w in changed]
        )
    for w in updates:
        stamp = at if id(w) in changed_ids else (w.old.updated_at if w.old else at)
        written[id(w)] = dataclasses.replace(w.new, updated_at=stamp)
    rephoned = [
        w
        for w in changed
        if w.old is not None and [p.e164 for p in w.old.phones] != [p.e164 for p in w.new.phones]
    ]
    if rephoned:
        gone = [w.new.id for w in rephoned]
        for part in _chunks(gone):
            await session.execute(delete(_PHONES).where(_PHONES.c.customer_id.in_(part)))
    phone_rows = [
        row
        for w in [*creates, *rephoned]
        for row in _phone_rows(written[id(w)].id or 0, w.new.phones)
    ]
    await insert_rows(session, _PHONES, _PHONE_COLUMNS, phone_rows)
    order_rows = [
        {
            "customer_id": written[id(w)].id,
            "number": o.number,
            "ordered_on": o.date,
            "status": o.status,
            "amount_cents": cents(o.amount),
            "currency": o.currency,
        }
        for w in writes
        for o in w.orders
    ]
    if order_rows:
        await session.execute(_upsert_orders(session.get_bind().dialect.name), order_rows)
    for w in [*creates, *changed]:
        new = written[id(w)]
        assert new.id is not None
        entry = audit_entry(
            entity=Entity.CUSTOMER,
            entity_id=new.id,
            entity_key=new.external_id,
            old=w.old.audited() if w.old else None,
            new=new.audited(),
            actor=actor,
            at=at,
            defaults=CUSTOMER_DEFAULTS,
        )
        if entry is not None:
            entries.append(entry)
    await write_audit(session, entries)
    return [written.get(id(w), w.new) for w in writes]


async def ids_of(session: AsyncSession, external_ids: Sequence[str]) -> dict[str, int]:
    """Customer ids by external id."""
    found: dict[str, int] = {}
    for part in _chunks(list(external_ids)):
        rows = await session.execute(
            select(_CUSTOMERS.c.external_id, _CUSTOMERS.c.id).where(
                _CUSTOMERS.c.external_id.in_(part)
            )
        )
        found.update((r.external_id, r.id) for r in rows)
    return found


async def _insert(session: AsyncSession, customers: Sequence[Customer], at: datetime) -> list[int]:
    """Insert new customers; their ids in the same order.

    Customers with an external id go in one executemany and their ids are read back by
    external id (SQLite's driver would otherwise run INSERT ... RETURNING row by row)."""
    ids: dict[int, int] = {}
    keyed = [(n, c) for n, c in enumerate(customers) if c.external_id]
    if keyed:
        columns = [*_columns(keyed[0][1], at), "created_at", "created_by", "source"]
        await insert_rows(
            session,
            _CUSTOMERS,
            columns,
            [(*_columns(c, at).values(), at, c.created_by, c.source) for _, c in keyed],
        )
        found = await ids_of(session, [c.external_id or "" for _, c in keyed])
        ids.update((n, found[c.external_id or ""]) for n, c in keyed)
    for n, c in enumerate(customers):
        if not c.external_id:
            statement = insert(_CUSTOMERS).returning(_CUSTOMERS.c.id)
            ids[n] = (
                await session.execute(
                    statement,
                    {
                        **_columns(c, at),
                        "created_at": at,
                        "created_by": c.created_by,
                        "source": c.source,
                    },
                )
            ).scalar_one()
    return [ids[n] for n in range(len(customers))]


def _upsert_orders(dialect: str) -> Insert:
    if dialect == "postgresql":
        pg = postgresql.insert(_ORDERS)
        return pg.on_conflict_do_update(
            index_elements=["customer_id", "number"],
            set_={c: pg.excluded[c] for c in ("ordered_on", "status", "amount_cents", "currency")},
        )
    lite = sqlite_dialect.insert(_ORDERS)
    return lite.on_conflict_do_update(
        index_elements=["customer_id", "number"],
        set_={c: lite.excluded[c] for c in ("ordered_on", "status", "amount_cents", "currency")},
    )


async def remove(session: AsyncSession, customer: Customer, *, actor: str, at: datetime) -> None:
    """Delete a customer (phones and orders go with it); their calls keep no dangling id."""
    from cti.db.models import CallRow

    assert customer.id is not None
    await session.execute(delete(_CUSTOMERS).where(_CUSTOMERS.c.id == customer.id))
    # ids are reused by SQLite: a later customer must not inherit these calls
    await session.execute(
        update(CallRow).where(CallRow.customer_id == customer.id).values(customer_id=None)
    )
    entry = audit_entry(
        entity=Entity.CUSTOMER,
        entity_id=customer.id,
        entity_key=customer.external_id,
        old=customer.audited(),
        new=None,
        actor=actor,
        at=at,
    )
    assert entry is not None
    await write_audit(session, [entry])


def by_external_id(customers: Iterable[Customer]) -> Mapping[str, Customer]:
    return {c.external_id: c for c in customers if c.external_id is not None}


__all__ = [
    "CustomerWrite",
    "ids_of",
    "by_external_id",
    "count_managed_by",
    "get",
    "listing",
    "load",
    "orders_of",
    "remove",
    "with_orders",
    "write",
]
