"""Reads behind caller matching: the whole directory into a PhoneIndex, single customers after
a change, and the same candidates straight from SQL (for one-shot lookups such as `cti lookup`).

Activity (the tie-breaker between customers sharing a number) is the later of the customer's
last change and the start of their last call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cti.customers.index import Card, PhoneIndex
from cti.customers.model import Candidate, Phone
from cti.db.audit import current_revision
from cti.db.models import Agent as AgentRow
from cti.db.models import CallRow, CustomerPhone
from cti.db.models import Customer as CustomerRow

_CUSTOMERS = cast(Table, CustomerRow.__table__)
_PHONES = cast(Table, CustomerPhone.__table__)
_CALLS = cast(Table, CallRow.__table__)
_AGENTS = cast(Table, AgentRow.__table__)

#: rows fetched per round trip while loading
LOAD_CHUNK = 20_000


def _epoch(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def _last_call() -> Any:
    return (
        select(func.max(_CALLS.c.started_at))
        .where(_CALLS.c.customer_id == _CUSTOMERS.c.id)
        .scalar_subquery()
    )


def _cards_query() -> Select[Any]:
    return select(
        _CUSTOMERS.c.id,
        _CUSTOMERS.c.name,
        _CUSTOMERS.c.company,
        _CUSTOMERS.c.vip,
        _CUSTOMERS.c.manager_login,
        _CUSTOMERS.c.updated_at,
    )


def _card(row: Any) -> Card:
    return Card(row.name, row.company or "", bool(row.vip), row.manager_login)


async def load_index(engine: AsyncEngine, index: PhoneIndex) -> int:
    """Fill `index` from one consistent snapshot; returns the revision it reflects."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            revision = await current_revision(conn)
            calls = (
                select(_CALLS.c.customer_id, func.max(_CALLS.c.started_at).label("at"))
                .where(_CALLS.c.customer_id.is_not(None))
                .group_by(_CALLS.c.customer_id)
            )
            last_call: dict[int, float] = {}
            async for called in (await conn.stream(calls)).partitions(LOAD_CHUNK):
                last_call.update((r.customer_id, _epoch(r.at)) for r in called)
            has_phone = (
                select(_PHONES.c.id).where(_PHONES.c.customer_id == _CUSTOMERS.c.id).exists()
            )
            cards = _cards_query().where(has_phone).order_by(_CUSTOMERS.c.id)
            async for rows in (await conn.stream(cards)).partitions(LOAD_CHUNK):
                for r in rows:
                    activity = max(_epoch(r.updated_at), last_call.get(r.id, 0.0))
                    index.load_card(r.id, _card(r), activity)
            del last_call
            numbers = select(_PHONES.c.e164, _PHONES.c.customer_id).order_by(_PHONES.c.e164)
            async for phones in (await conn.stream(numbers)).partitions(LOAD_CHUNK):
                for r in phones:
                    index.load_e164(r.e164, r.customer_id)
            national = (
                select(_PHONES.c.nsn, _PHONES.c.customer_id, _PHONES.c.valid)
                .where(_PHONES.c.nsn != "")
                .order_by(_PHONES.c.nsn)
            )
            async for nsns in (await conn.stream(national)).partitions(LOAD_CHUNK):
                for r in nsns:
                    index.load_nsn(r.nsn, r.customer_id, bool(r.valid))
    index.finish_loading()
    return revision


async def customers_now(
    conn: AsyncConnection, ids: Sequence[int]
) -> dict[int, tuple[Card, list[Phone], float]]:
    """Card, phones and activity of these customers as they are now (missing: deleted)."""
    found: dict[int, tuple[Card, list[Phone], float]] = {}
    for start in range(0, len(ids), 5_000):
        part = list(ids[start : start + 5_000])
        rows = (
            await conn.execute(
                _cards_query()
                .add_columns(_last_call().label("last_call"))
                .where(_CUSTOMERS.c.id.in_(part))
            )
        ).all()
        cards = {r.id: (_card(r), max(_epoch(r.updated_at), _epoch(r.last_call))) for r in rows}
        phones: dict[int, list[Phone]] = {i: [] for i in cards}
        numbers = select(
            _PHONES.c.customer_id, _PHONES.c.e164, _PHONES.c.nsn, _PHONES.c.valid
        ).where(_PHONES.c.customer_id.in_(part))
        for r in await conn.execute(numbers):
            phones.setdefault(r.customer_id, []).append(Phone(r.e164, "", r.nsn, bool(r.valid)))
        for customer_id, (card, activity) in cards.items():
            found[customer_id] = (card, phones[customer_id], activity)
    return found


async def extensions(conn: AsyncConnection) -> dict[str, str]:
    """Agents' extensions -> logins."""
    rows = await conn.execute(select(_AGENTS.c.extension, _AGENTS.c.login))
    return {r.extension: r.login for r in rows if r.extension}  # people without a phone: none


def _candidate(row: Any) -> Candidate:
    activity = max(_epoch(row.updated_at), _epoch(row.last_call))
    return Candidate(
        row.id, row.name, row.company or "", bool(row.vip), row.manager_login, activity
    )


async def exact_candidates(conn: AsyncConnection, e164: str) -> list[Candidate]:
    """Customers with this exact number: the plain indexed query."""
    query = (
        _cards_query()
        .add_columns(_last_call().label("last_call"))
        .join(_PHONES, _PHONES.c.customer_id == _CUSTOMERS.c.id)
        .where(_PHONES.c.e164 == e164)
    )
    return [_candidate(r) for r in await conn.execute(query)]


async def national_candidates(
    conn: AsyncConnection, nsns: Iterable[str]
) -> list[tuple[Candidate, bool]]:
    keys = list(nsns)
    if not keys:
        return []
    query = (
        _cards_query()
        .add_columns(_last_call().label("last_call"), _PHONES.c.valid)
        .join(_PHONES, _PHONES.c.customer_id == _CUSTOMERS.c.id)
        .where(_PHONES.c.nsn.in_(keys))
    )
    found: dict[int, tuple[Candidate, bool]] = {}
    for r in await conn.execute(query):
        previous = found.get(r.id)
        found[r.id] = (_candidate(r), bool(r.valid) and (previous is None or previous[1]))
    return list(found.values())


__all__ = [
    "customers_now",
    "exact_candidates",
    "extensions",
    "load_index",
    "national_candidates",
]
