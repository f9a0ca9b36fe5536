"""Plain INSERTs of many rows through the driver itself: COPY on PostgreSQL, executemany on SQLite.

SQLAlchemy's executemany costs more per row than the database does; imports of a million
customers insert through here instead, inside the session's own transaction. Values are
converted the way SQLAlchemy stores them (UTC timestamps, JSON text), so the ORM reads the
rows back as if it had written them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.models import UTCDateTime


class RawJSON(str):
    """JSON text already encoded (by a worker process): inserted as is."""

    __slots__ = ()


def _json(value: Any) -> str:
    return value if isinstance(value, RawJSON) else json.dumps(value, ensure_ascii=False)


def _sqlite_time(value: datetime) -> str:
    # the text SQLAlchemy's SQLite DateTime writes: naive UTC with microseconds
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _converters(
    table: Table, columns: Sequence[str], dialect: str
) -> list[Callable[[Any], Any] | None]:
    """Per column, what turns a Python value into what the driver should get (None: as is)."""
    out: list[Callable[[Any], Any] | None] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, JSON):
            out.append(_json)
        elif dialect == "sqlite" and isinstance(column_type, UTCDateTime):
            out.append(lru_cache(maxsize=64)(_sqlite_time))  # a chunk shares one timestamp
        else:
            out.append(None)
    return out


async def insert_rows(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT `rows` (tuples in `columns` order) in the session's transaction."""
    if not rows:
        return
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None, "the session's connection is open"
    dialect = connection.dialect.name
    converters = _converters(table, columns, dialect)
    if any(converters):
        pairs = list(enumerate(converters))
        converted = []
        for row in rows:
            values = list(row)
            for i, convert in pairs:
                if convert is not None and values[i] is not None:
                    values[i] = convert(values[i])
            converted.append(tuple(values))
    else:
        converted = [tuple(row) for row in rows]
    if dialect == "postgresql":
        await raw.copy_records_to_table(table.name, records=converted, columns=list(columns))
        return
    marks = ",".join("?" for _ in columns)
    await raw.executemany(
        f"INSERT INTO {table.name} ({','.join(columns)}) VALUES ({marks})", converted
    )


__all__ = ["RawJSON", "insert_rows"]
