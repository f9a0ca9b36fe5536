"""The webhook outbox in the database: subscriptions, events enqueued in the writer's own
transaction (one delivery per interested subscription), due deliveries claimed safely by
several processes, and each attempt's result kept for the delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, and_, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from cti.db.webhook_models import WebhookDeliveryRow, WebhookEventRow, WebhookSubscriptionRow
from cti.webhooks.model import DeliveryState, Event, Subscription

#: the last error kept per delivery, characters
ERROR_CHARS = 500


def subscription_of(row: WebhookSubscriptionRow) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        events=tuple(row.events or ()),
        secret=row.secret,
        description=row.description or "",
        active=bool(row.active),
        created_at=row.created_at,
        created_by=row.created_by,
    )


async def subscriptions(session: AsyncSession) -> list[Subscription]:
    rows = (
        await session.scalars(select(WebhookSubscriptionRow).order_by(WebhookSubscriptionRow.id))
    ).all()
    return [subscription_of(r) for r in rows]


async def enqueue(session: AsyncSession, events: Sequence[Event]) -> int:
    """Add `events` to the outbox inside the caller's transaction, each with one delivery per
    active subscription that wants its type. An event id already in the outbox is skipped
    (a replay, two processes storing the same call). Returns the deliveries created."""
    if not events:
        return 0
    receivers = [s for s in await subscriptions(session) if s.active]
    created = 0
    for event in events:
        wanted = [s for s in receivers if s.wants(event.type.value)]
        if not wanted:
            continue  # nobody listens: nothing to keep
        row_id = await _insert_event(session, event)
        if row_id is None:
            continue
        session.add_all(
            WebhookDeliveryRow(
                subscription_id=s.id,
                event_row_id=row_id,
                key=event.key,
                state=DeliveryState.PENDING.value,
                attempts=0,
                next_attempt_at=event.created_at,
                created_at=event.created_at,
            )
            for s in wanted
        )
        created += len(wanted)
    await session.flush()
    return created


async def _insert_event(session: AsyncSession, event: Event) -> int | None:
    """INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING id; None when already there."""
    values = {
        "event_id": event.id,
        "type": event.type.value,
        "key": event.key,
        "payload": event.payload(),
        "created_at": event.created_at,
    }
    table = cast(Table, WebhookEventRow.__table__)
    dialect = session.get_bind().dialect.name
    insert: Any = (
        postgresql.insert(table) if dialect == "postgresql" else sqlite_dialect.insert(table)
    )
    statement = insert.values(**values).on_conflict_do_nothing(index_elements=["event_id"])
    result = await session.execute(statement.returning(table.c.id))  # type: ignore[attr-defined]
    return result.scalar_one_or_none()


@dataclass(frozen=True)
class Claimed:
    """A delivery this process now owns until `lease_until`: what to send where."""

    delivery_id: int
    attempts: int  #: including this one
    event_id: str
    event_type: str
    event_at: datetime
    payload: dict[str, Any]
    url: str
    secret: str


def _due(now: datetime) -> Select[Any]:
    """Pending deliveries due now that head their lane: no earlier pending delivery of the same
    subscription and ordering key (a call's event n+1 waits for n)."""
    earlier = aliased(WebhookDeliveryRow)
    d = WebhookDeliveryRow
    blocked = exists().where(
        and_(
            earlier.subscription_id == d.subscription_id,
            earlier.key == d.key,
            earlier.state == DeliveryState.PENDING.value,
            earlier.id < d.id,
        )
    )
    return (
        select(d)
        .where(d.state == DeliveryState.PENDING.value, d.next_attempt_at <= now, ~blocked)
        .order_by(d.next_attempt_at, d.id)
    )


async def claim(
    session: AsyncSession, *, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Take up to `limit` due deliveries: each gets its attempt counted and its next attempt
    moved to `now + lease`, so no other process takes it meanwhile (PostgreSQL: rows locked with
    SKIP LOCKED while claiming; SQLite serializes writers). A process that dies mid-send leaves
    the delivery to be tried again once the lease passes."""
    query = _due(now).limit(limit).with_for_update(of=WebhookDeliveryRow, skip_locked=True)
    rows = (await session.scalars(query)).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    await session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.id.in_(ids))
        .values(
            attempts=WebhookDeliveryRow.attempts + 1,
            next_attempt_at=now + lease,
            last_attempt_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    joined = await session.execute(
        select(
            WebhookDeliveryRow.id,
            WebhookDeliveryRow.attempts,
            WebhookEventRow,
            WebhookSubscriptionRow,
        )
        .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_row_id)
        .join(
            WebhookSubscriptionRow, WebhookSubscriptionRow.id == WebhookDeliveryRow.subscription_id
        )
        .where(WebhookDeliveryRow.id.in_(ids))
        .order_by(WebhookDeliveryRow.id)
        .execution_options(populate_existing=True)
    )
    return [
        Claimed(
            delivery_id=delivery_id,
            attempts=attempts,
            event_id=event.event_id,
            event_type=event.type,
            event_at=event.created_at,
            payload=event.payload,
            url=sub.url,
            secret=sub.secret,
        )
        for delivery_id, attempts, event, sub in joined.all()
    ]


async def delivered(session: AsyncSession, delivery_id: int, *, status: int, at: datetime) -> None:
    await session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.id == delivery_id)
        .values(
            state=DeliveryState.DELIVERED.value,
            delivered_at=at,
            last_status=status,
            last_error=None,
        )
    )


async def failed(
    session: AsyncSession,
    delivery_id: int,
    *,
    status: int | None,
    error: str,
    retry_at: datetime | None,
) -> None:
    """An attempt failed: try again at `retry_at`, or (None) give up for good."""
    values: dict[str, Any] = {"last_status": status, "last_error": error[:ERROR_CHARS]}
    if retry_at is None:
        values["state"] = DeliveryState.FAILED.value
    else:
        values["next_attempt_at"] = retry_at
    await session.execute(
        update(WebhookDeliveryRow).where(WebhookDeliveryRow.id == delivery_id).values(**values)
    )


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest pending delivery is due (the worker sleeps until then)."""
    return await session.scalar(
        select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
            WebhookDeliveryRow.state == DeliveryState.PENDING.value
        )
    )


async def deliveries(
    session: AsyncSession, subscription_id: int, *, limit: int, state: str | None = None
) -> list[dict[str, Any]]:
    """The subscription's delivery log, newest first."""
    query = (
        select(WebhookDeliveryRow, WebhookEventRow.event_id, WebhookEventRow.type)
        .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_row_id)
        .where(WebhookDeliveryRow.subscription_id == subscription_id)
        .order_by(WebhookDeliveryRow.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(WebhookDeliveryRow.state == state)
    return [
        delivery_view(row, event_id, kind)
        for row, event_id, kind in (await session.execute(query)).all()
    ]


def delivery_view(row: WebhookDeliveryRow, event_id: str, kind: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": event_id,
        "event": kind,
        "state": row.state,
        "attempts": row.attempts,
        "created_at": _iso(row.created_at),
        "last_attempt_at": _iso(row.last_attempt_at),
        "next_attempt_at": _iso(row.next_attempt_at)
        if row.state == DeliveryState.PENDING.value
        else None,
        "delivered_at": _iso(row.delivered_at),
        "last_status": row.last_status,
        "last_error": row.last_error,
    }


async def summary(session: AsyncSession) -> dict[int, dict[str, Any]]:
    """Per subscription: deliveries by state and the last error seen."""
    counts = await session.execute(
        select(WebhookDeliveryRow.subscription_id, WebhookDeliveryRow.state, func.count()).group_by(
            WebhookDeliveryRow.subscription_id, WebhookDeliveryRow.state
        )
    )
    out: dict[int, dict[str, Any]] = {}
    for sub_id, state, n in counts.all():
        entry = out.setdefault(
            sub_id, {"pending": 0, "delivered": 0, "failed": 0, "last_error": None}
        )
        entry[state] = int(n)
    errors = await session.execute(
        select(WebhookDeliveryRow.subscription_id, WebhookDeliveryRow.last_error)
        .where(WebhookDeliveryRow.last_error.is_not(None))
        .order_by(WebhookDeliveryRow.last_attempt_at.desc(), WebhookDeliveryRow.id.desc())
    )
    for sub_id, error in errors.all():
        entry = out.setdefault(
            sub_id, {"pending": 0, "delivered": 0, "failed": 0, "last_error": None}
        )
        if entry["last_error"] is None:
            entry["last_error"] = error
    return out


async def remove_subscription(session: AsyncSession, subscription_id: int) -> bool:
    await session.execute(
        delete(WebhookDeliveryRow).where(WebhookDeliveryRow.subscription_id == subscription_id)
    )
    result = await session.execute(
        delete(WebhookSubscriptionRow).where(WebhookSubscriptionRow.id == subscription_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Forget events older than `before` whose deliveries are all finished (the log's horizon)."""
    open_delivery = exists().where(
        and_(
            WebhookDeliveryRow.event_row_id == WebhookEventRow.id,
            WebhookDeliveryRow.state == DeliveryState.PENDING.value,
        )
    )
    old = select(WebhookEventRow.id).where(WebhookEventRow.created_at < before, ~open_delivery)
    ids = list((await session.scalars(old.limit(10_000))).all())
    if not ids:
        return 0
    await session.execute(
        delete(WebhookDeliveryRow).where(WebhookDeliveryRow.event_row_id.in_(ids))
    )
    await session.execute(delete(WebhookEventRow).where(WebhookEventRow.id.in_(ids)))
    return len(ids)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


__all__ = [
    "Claimed",
    "claim",
    "deliveries",
    "delivered",
    "enqueue",
    "failed",
    "next_due",
    "prune",
    "remove_subscription",
    "subscriptions",
    "summary",
]
