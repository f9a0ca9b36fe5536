"""Many customers, orders or agents at once: CSV imports and bulk upserts, all or nothing.

One transaction per import: rows are validated and written chunk by chunk (the file is
streamed, never held whole), rejected rows are reported and skipped, and nothing is visible
until the last chunk is written. Validation can run in worker processes while this process
writes (`Validator`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.customers import fields as f
from cti.customers import importing
from cti.customers.audit import Entity
from cti.customers.importing import AgentInput, CustomerInput, Kind, OrderInput, RowError
from cti.customers.model import Agent, Customer, with_values
from cti.db import agents as agent_store
from cti.db import customers as customer_store
from cti.db.audit import _AUDIT, AUDIT_COLUMNS, record_changes
from cti.db.customers import _CUSTOMERS, _PHONES
from cti.db.fastcopy import RawJSON, insert_rows
from cti.db.session import lock_for_writing

#: rows validated and written per step
CHUNK = 2_000
#: rows after which an import refreshes the planner's statistics (see `_analyze`)
STATISTICS_AFTER = 20_000

Records = Sequence[tuple[int, Mapping[str, str]]]
#: validates a chunk of records: (values of the good rows, errors of the others)
Validator = Callable[[Kind, Records, f.Rules], Awaitable[tuple[list[Any], list[RowError]]]]


async def validate_here(
    kind: Kind, records: Records, rules: f.Rules
) -> tuple[list[Any], list[RowError]]:
    return importing.validate_chunk(kind.name, records, rules)


@dataclass
class ImportReport:
    """What an import or bulk upsert did, and the rows it refused."""

    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0
    touched: set[int] = field(default_factory=set, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "errors": [e.to_json() for e in sorted(self.rejected, key=lambda e: e.row)],
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
        }


def _now() -> datetime:
    return datetime.now(UTC)


async def run(
    *,
    sessions: async_sessionmaker[AsyncSession],
    kind: Kind,
    records: Iterable[tuple[int, Mapping[str, str]]],
    region: str,
    actor: str,
    clock: Callable[[], datetime] = _now,
    validator: Validator = validate_here,
    progress: Callable[[ImportReport], None] | None = None,
    dry_run: bool = False,
    chunk: int = CHUNK,
    lookahead: int = 1,
    statistics_after: int = STATISTICS_AFTER,
) -> ImportReport:
    """Validate and write every record in one transaction; a failure writes nothing.

    `lookahead` chunks are validated ahead of the one being written (useful when the
    validator runs in other processes).
    """
    report = ImportReport(kind.name, dry_run=dry_run)
    started = time.perf_counter()
    dedupe = importing.Deduplicator(kind)
    async with sessions() as session:
        transaction = await session.begin()
        try:
            # the server commits calls all the while: the write lock before the first read, or
            # SQLite refuses the first write ("database is locked"); its writes wait meanwhile
            await lock_for_writing(session)
            managers = await agent_store.logins(session) if kind is importing.CUSTOMERS else None
            rules = f.Rules(region=region, managers=managers)
            analyzed = False
            it = iter(records)
            pending: list[asyncio.Task[tuple[list[Any], list[RowError]]]] = []

            def submit() -> bool:
                part = list(islice(it, chunk))
                if part:
                    report.rows += len(part)
                    pending.append(asyncio.ensure_future(validator(kind, part, rules)))
                return bool(part)

            while len(pending) <= lookahead and submit():
                pass
            while pending:
                good, bad = await pending.pop(0)
                submit()
                good, duplicates = dedupe(good)
                report.rejected.extend(bad + duplicates)
                await write(session, kind, good, report, actor=actor, at=clock())
                if report.rows >= statistics_after and not analyzed:
                    analyzed = await _analyze(session)
                if progress is not None:
                    progress(report)
            if dry_run:
                await transaction.rollback()
            else:
                entity = Entity.AGENT if kind is importing.AGENTS else Entity.CUSTOMER
                await record_changes(session, entity, report.touched)
                await transaction.commit()
                if analyzed:
                    await _analyze(session, commit=True)
        except BaseException:
            for task in pending:
                task.cancel()
            await transaction.rollback()
            raise
    report.seconds = time.perf_counter() - started
    return report


async def _analyze(session: AsyncSession, *, commit: bool = False) -> bool:
    """Fresh planner statistics for the directory's tables. PostgreSQL plans the import's own
    look-ups (external_id IN (...)) from statistics: without them, on a table that was small when
    last analyzed, it scans the whole table for every chunk. Run once a big import is under way
    (PostgreSQL: in the transaction, which counts its own rows), and once after it commits."""
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql" and not commit:
        return True  # SQLite uses the indexes without statistics
    if commit:
        async with session.begin():
            await session.execute(text("ANALYZE customers"))
            await session.execute(text("ANALYZE customer_phones"))
    else:
        await session.execute(text("ANALYZE customers"))
        await session.execute(text("ANALYZE customer_phones"))
    return True


async def write(
    session: AsyncSession,
    kind: Kind,
    items: Sequence[Any],
    report: ImportReport,
    *,
    actor: str,
    at: datetime,
) -> None:
    """Write validated items of `kind` in the session's transaction; count them in `report`."""
    if not items:
        return
    if kind is importing.AGENTS:
        await _write_agents(session, items, report, actor=actor, at=at)
    elif kind is importing.ORDERS:
        await _write_orders(session, items, report, actor=actor, at=at)
    elif isinstance(items[0], importing.Prepared):
        await _write_prepared(session, items, report, actor=actor, at=at)
    else:
        await write_customers(session, items, report, actor=actor, at=at)


async def _write_prepared(
    session: AsyncSession,
    items: Sequence[importing.Prepared],
    report: ImportReport,
    *,
    actor: str,
    at: datetime,
) -> None:
    """Rows of a customers file: new customers straight from their prepared rows (the bulk of a
    first import), existing ones through `write_customers` (diff and audit)."""
    known = customer_store.by_external_id(
        await customer_store.load(session, external_ids=[i.external_id for i in items])
    )
    existing = [i.to_input() for i in items if i.external_id in known]
    if existing:
        await write_customers(session, existing, report, actor=actor, at=at)
    new = [i for i in items if i.external_id not in known]
    if not new:
        return
    columns = (*importing.CREATE_COLUMNS, "created_at", "updated_at")
    await insert_rows(session, _CUSTOMERS, columns, [(*i.columns, at, at) for i in new])
    ids = await customer_store.ids_of(session, [i.external_id for i in new])
    phones = [(ids[i.external_id], *p) for i in new for p in i.phones]
    await insert_rows(session, _PHONES, ("customer_id", "e164", "raw", "nsn", "valid"), phones)
    audit = [
        ("customer", ids[i.external_id], i.external_id, "create", actor, at, RawJSON(i.audit))
        for i in new
    ]
    await insert_rows(session, _AUDIT, AUDIT_COLUMNS, audit)
    report.created += len(new)
    report.touched.update(ids.values())


async def write_customers(
    session: AsyncSession,
    items: Sequence[CustomerInput],
    report: ImportReport,
    *,
    actor: str,
    at: datetime,
) -> list[Customer]:
    olds = customer_store.by_external_id(
        await customer_store.load(
            session, external_ids=[i.external_id for i in items if i.external_id]
        )
    )
    with_orders = [
        olds[i.external_id].id
        for i in items
        if i.orders and i.external_id and i.external_id in olds
    ]
    stored = await customer_store.orders_of(session, [i for i in with_orders if i is not None])
    writes = []
    for item in items:
        old = olds.get(item.external_id) if item.external_id else None
        new = with_values(old, item.values)
        new = customer_store.with_orders(
            new, stored.get(old.id or 0, []) if old else [], item.orders
        )
        writes.append(customer_store.CustomerWrite(old, new, item.orders))
    written = await customer_store.write(session, writes, actor=actor, at=at)
    _count(report, [(w.old, w.new) for w in writes], written)
    return written


def _count(report: ImportReport, pairs: Sequence[tuple[Any, Any]], written: Sequence[Any]) -> None:
    for (old, new), done in zip(pairs, written, strict=True):
        if old is None:
            report.created += 1
        elif old.audited() != new.audited():
            report.updated += 1
        else:
            report.unchanged += 1
        if done.id is not None:
            report.touched.add(done.id)


async def _write_orders(
    session: AsyncSession,
    items: Sequence[OrderInput],
    report: ImportReport,
    *,
    actor: str,
    at: datetime,
) -> None:
    grouped: dict[str, list[OrderInput]] = {}
    for item in items:
        grouped.setdefault(item.external_id, []).append(item)
    olds = customer_store.by_external_id(
        await customer_store.load(session, external_ids=list(grouped))
    )
    for external_id, group in grouped.items():
        if external_id not in olds:
            report.rejected.extend(
                RowError(i.row, "external_id", f"no customer with external_id {external_id!r}")
                for i in group
            )
    known = [c for c in olds.values() if c.id is not None]
    stored = await customer_store.orders_of(session, [c.id for c in known if c.id is not None])
    writes = []
    for customer in known:
        given = tuple(i.order for i in grouped[customer.external_id or ""])
        new = customer_store.with_orders(customer, stored.get(customer.id or 0, []), given)
        writes.append(customer_store.CustomerWrite(customer, new, given))
    written = await customer_store.write(session, writes, actor=actor, at=at)
    _count(report, [(w.old, w.new) for w in writes], written)


async def _write_agents(
    session: AsyncSession,
    items: Sequence[AgentInput],
    report: ImportReport,
    *,
    actor: str,
    at: datetime,
) -> None:
    olds = await agent_store.by_logins(session, [i.login for i in items])
    pairs: list[tuple[Agent | None, Agent]] = []
    for item in items:
        old = olds.get(item.login)
        new = Agent(id=old.id if old else None, **dict(item.values))
        if old is not None:
            new = dataclasses.replace(new, created_at=old.created_at, updated_at=old.updated_at)
        pairs.append((old, new))
    written = await agent_store.write(session, pairs, actor=actor, at=at)
    _count(report, pairs, written)


def chunks(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(values)
    while part := list(islice(it, size)):
        yield part


__all__ = [
    "CHUNK",
    "ImportReport",
    "Validator",
    "chunks",
    "run",
    "validate_here",
    "write",
    "write_customers",
]
