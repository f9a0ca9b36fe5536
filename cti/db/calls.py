"""CallRepository: store finished calls idempotently (upsert on linkedid) and read them back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Insert, Table, Text, and_, false, func, or_, select
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.cluster import fence
from cti.db.models import CallRow

#: bound parameters one statement may carry: PostgreSQL's wire protocol allows 32767;
#: SQLite's SQLITE_MAX_VARIABLE_NUMBER is 32766 since 3.32 and 999 before
_PG_MAX_PARAMS = 32_767
_SQLITE_MAX_PARAMS = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
#: rows per execute() call, so a huge batch is sent in pieces of bounded size
_MAX_ROWS_PER_STATEMENT = 1_000

#: CallRecord fields stored as UTC datetimes (epoch floats in the domain)
_TIMES = frozenset({"started_at", "answered_at", "ended_at"})
#: CallRecord fields stored as JSON lists (tuples in the domain)
_LISTS = frozenset({"agents_rung", "answered_by"})
_ENUMS = {"direction": Direction, "outcome": Outcome, "missed_kind": MissedKind}
_FIELDS = tuple(f.name for f in fields(CallRecord))
#: columns an upsert overwrites; id, linkedid and created_at stay as first written
_UPDATED_COLUMNS = tuple(name for name in _FIELDS if name != "linkedid")


def to_datetime(ts: float) -> datetime:
    """Epoch seconds -> aware UTC datetime (microsecond precision)."""
    return datetime.fromtimestamp(ts, UTC)


def to_epoch(value: datetime) -> float:
    """Aware datetime -> epoch seconds; a naive one is taken as UTC (SQLite hands those back)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def record_to_row(record: CallRecord) -> dict[str, Any]:
    """The `calls` column values for one record: one column per CallRecord field."""
    row: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(record, name)
        if value is None:
            row[name] = None
        elif name in _TIMES:
            row[name] = to_datetime(value)
        elif name in _LISTS:
            row[name] = list(value)
        elif name in _ENUMS:
            row[name] = _ENUMS[name](value).value
        else:
            row[name] = value
    return row


def row_to_record(row: CallRow) -> CallRecord:
    """A `calls` row back to the domain record."""
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(row, name)
        if value is None:
            values[name] = () if name in _LISTS else None
        elif name in _TIMES:
            values[name] = to_epoch(value)
        elif name in _LISTS:
            values[name] = tuple(value)
        elif name in _ENUMS:
            values[name] = _ENUMS[name](value)
        else:
            values[name] = value
    return CallRecord(**values)


def rows_per_statement(dialect_name: str, columns: int) -> int:
    """Rows per execute() call: at most 1000, and never more than the parameter limit allows.

    The upsert runs as an executemany (one row's parameters at a time); should SQLAlchemy or a
    driver fold a chunk into one multi-row VALUES statement, the chunk still fits the limit.
    """
    limit = _SQLITE_MAX_PARAMS if dialect_name == "sqlite" else _PG_MAX_PARAMS
    return max(1, min(_MAX_ROWS_PER_STATEMENT, limit // max(1, columns)))


def upsert_statement(dialect_name: str) -> Insert:
    """INSERT ... ON CONFLICT (linkedid) DO UPDATE for the SQLite or PostgreSQL dialect.

    Executed with a list of rows: the statement is compiled once and the driver runs it for
    every row (executemany), which is much faster than compiling a multi-row VALUES.
    """
    table = cast(Table, CallRow.__table__)
    if dialect_name == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=[table.c.linkedid],
            set_={name: pg.excluded[name] for name in _UPDATED_COLUMNS},
        )
    if dialect_name == "sqlite":
        lite = sqlite_dialect.insert(table)
        return lite.on_conflict_do_update(
            index_elements=[table.c.linkedid],
            set_={name: lite.excluded[name] for name in _UPDATED_COLUMNS},
        )
    raise NotImplementedError(
        f"upsert is implemented for sqlite and postgresql, not {dialect_name}"
    )


def _involving(extensions: Collection[str]) -> ColumnElement[bool]:
    """SQL for "one of these extensions took part": portable across SQLite and PostgreSQL by
    matching the JSON text of the lists (`"101"` with its quotes, so 1010 is not 101)."""
    conditions: list[ColumnElement[bool]] = []
    for ext in sorted(set(extensions)):
        needle = json.dumps(ext)
        for column in (CallRow.agents_rung, CallRow.answered_by):
            conditions.append(sa_cast(column, Text).contains(needle, autoescape=True))
        conditions.append(
            and_(CallRow.direction.in_(("outbound", "internal")), CallRow.caller == ext)
        )
    return or_(*conditions) if conditions else false()


#: the same condition for other repositories (a customer's calls as an agent may see them)
calls_involving = _involving


#: work done in the transaction that stores a batch of calls (missed calls, callbacks...);
#: returns messages to announce once the transaction has committed
AfterSave = Callable[[AsyncSession, Sequence[CallRecord]], Awaitable[list[dict[str, Any]]]]


class CallRepository:
    """Finished calls in the `calls` table."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        after_save: Sequence[AfterSave] = (),
        announce: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._sessions = session_factory
        self._after_save = tuple(after_save)
        self._announce = announce

    async def save_many(self, records: Sequence[CallRecord], *, epoch: int | None = None) -> int:
        """Store `records` in one transaction; a linkedid already stored is overwritten.

        Within one batch the last record for a linkedid wins. Returns the number of distinct
        linkedids written. `epoch`: the AMI lease's fencing epoch (several processes); a stale
        one raises `cti.cluster.fence.StaleEpoch` and nothing is written.
        """
        latest: dict[str, dict[str, Any]] = {}
        for record in records:
            latest.pop(record.linkedid, None)  # keep the batch order of the winning record
            latest[record.linkedid] = record_to_row(record)
        if not latest:
            return 0
        rows = list(latest.values())
        messages: list[dict[str, Any]] = []
        async with self._sessions() as session, session.begin():
            if epoch is not None:
                await fence.check(session, epoch)
            dialect = session.get_bind().dialect.name
            statement = upsert_statement(dialect)
            step = rows_per_statement(dialect, len(rows[0]))
            for start in range(0, len(rows), step):
                await session.execute(statement, rows[start : start + step])
            for hook in self._after_save:
                messages.extend(await hook(session, records))
        if self._announce is not None:
            for message in messages:  # only once stored: nothing is announced that could be lost
                self._announce(message)
        return len(rows)

    async def list_calls(
        self,
        *,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        involving: Collection[str] | None = None,
        number: str | None = None,
    ) -> list[CallRecord]:
        """Calls that started at or after `since` (an aware datetime), at most `limit` of them.

        Ordered by start time, oldest first; with `newest_first` the latest `limit` calls,
        newest first. `involving`: only calls that rang, were answered by or (outbound and
        internal) were placed by one of these extensions (an agent's own calls). `number`: only
        calls from or to this E.164 number (a customer's calls, for the screen-pop).
        """
        if since is not None and (since.tzinfo is None or since.utcoffset() is None):
            raise ValueError("since must be a timezone-aware datetime")
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        query = select(CallRow)
        if newest_first:
            query = query.order_by(CallRow.started_at.desc(), CallRow.id.desc())
        else:
            query = query.order_by(CallRow.started_at, CallRow.id)
        if since is not None:
            query = query.where(CallRow.started_at >= since)
        if involving is not None:
            query = query.where(_involving(involving))
        if number is not None:
            query = query.where(or_(CallRow.caller_e164 == number, CallRow.did_e164 == number))
        if limit is not None:
            query = query.limit(limit)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
            return [row_to_record(row) for row in rows]

    async def count(self) -> int:
        """How many calls are stored."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(CallRow)) or 0)


__all__ = ["CallRepository", "record_to_row", "row_to_record"]
