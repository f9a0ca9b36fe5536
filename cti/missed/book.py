"""The callback book: finished calls become missed calls and open, group or resolve callbacks.

Runs inside the transaction that stores the calls (`CallRepository(after_save=...)`), so a miss
is stored before anything is announced, and replays of the same calls change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.calls.model import CallRecord, Direction
from cti.db.missed_models import CallbackLogRow, CallbackRow, MissedCallRow
from cti.missed.model import CallbackSource, CallbackState, CallbackWindow, OwnerContext, Resolution
from cti.missed.rules import callback_deadline, choose_owner, is_attempt, is_missed, resolves
from cti.missed.views import callback_view, missed_view

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MissContext:
    """What the directory and the rota say about a number at the time of a miss."""

    customer_id: int | None
    owner: OwnerContext
    timezone: ZoneInfo


class ContextSource(Protocol):
    async def __call__(self, number: str, at: datetime) -> MissContext: ...


@dataclass(frozen=True)
class CallbackPolicy:
    sla: timedelta = timedelta(minutes=5)
    window: CallbackWindow = CallbackWindow()
    #: resolving calls must be answered after the callback was opened (clock skew allowance)
    skew: timedelta = timedelta(seconds=1)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class CallbackBook:
    """Applies finished calls, in the order they finished, to missed calls and callbacks."""

    def __init__(
        self, *, context: ContextSource, policy: CallbackPolicy = CallbackPolicy()
    ) -> None:
        self._context = context
        self._policy = policy or CallbackPolicy()

    async def record_calls(
        self, session: AsyncSession, records: Sequence[CallRecord]
    ) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        for record in records:
            if is_missed(record):
                messages.extend(await self._missed(session, record))
            else:
                messages.extend(await self._answered_or_attempt(session, record))
        return messages

    async def _missed(self, session: AsyncSession, record: CallRecord) -> list[dict[str, Any]]:
        exists = await session.scalar(
            select(MissedCallRow.id).where(MissedCallRow.linkedid == record.linkedid)
        )
        if exists is not None:
            return []  # the same call stored again (a replay, a reconnect overlap)
        missed_at = utc(record.ended_at)
        row = MissedCallRow(
            linkedid=record.linkedid,
            missed_at=missed_at,
            kind=record.missed_kind.value if record.missed_kind else "",
            short_abandon=record.short_abandon,
            caller=record.caller,
            caller_e164=record.caller_e164,
            caller_name=record.caller_name,
            did=record.did,
            agents_rung=list(record.agents_rung),
            wait_seconds=record.wait_seconds,
        )
        session.add(row)
        messages: list[dict[str, Any]] = []
        number = record.caller_e164
        if number is None:
            # withheld or not a phone number: listed as missed, but there is nobody to call back
            await session.flush()
            return [{"type": "call.missed", "call": missed_view(row, None)}]
        context = await self._context(number, missed_at)
        row.customer_id = context.customer_id
        callback = await open_callback(session, number)
        if callback is None:
            owner = choose_owner(context.owner)
            deadline = callback_deadline(
                missed_at, sla=self._policy.sla, tz=context.timezone, window=self._policy.window
            )
            callback = CallbackRow(
                number=number,
                customer_id=context.customer_id,
                state=CallbackState.OPEN.value,
                source=CallbackSource.MISSED_CALL.value,
                owner_login=owner.login,
                owner_reason=owner.reason,
                did=record.did,
                misses=1,
                created_at=missed_at,
                first_missed_at=missed_at,
                last_missed_at=missed_at,
                deadline_at=deadline,
                timezone=context.timezone.key,
            )
            session.add(callback)
            await session.flush()
            log_entry(
                session,
                callback,
                missed_at,
                "system",
                "created",
                record.linkedid,
                {"owner": owner.login, "reason": owner.reason, "deadline": deadline.isoformat()},
            )
            kind = "callback.created"
        else:
            callback.misses += 1
            callback.last_missed_at = missed_at
            if callback.first_missed_at is None:
                callback.first_missed_at = missed_at
            log_entry(
                session,
                callback,
                missed_at,
                "system",
                "missed_again",
                record.linkedid,
                {"misses": callback.misses},
            )
            kind = "callback.updated"
        row.callback_id = callback.id
        await session.flush()
        messages.append({"type": "call.missed", "call": missed_view(row, callback)})
        messages.append(callback_message(kind, callback))
        return messages

    async def _answered_or_attempt(
        self, session: AsyncSession, record: CallRecord
    ) -> list[dict[str, Any]]:
        number = record.did_e164 if record.direction is Direction.OUTBOUND else record.caller_e164
        if record.direction is Direction.INTERNAL or number is None:
            return []
        callback = await open_callback(session, number)
        if callback is None:
            return []
        opened = as_utc(callback.created_at)
        if resolves(record, number) and record.answered_at is not None:
            answered_at = utc(record.answered_at)
            if answered_at + self._policy.skew < opened:
                return []  # a conversation that began before the miss does not answer it
            how = (
                Resolution.OUTBOUND_ANSWERED
                if record.direction is Direction.OUTBOUND
                else Resolution.INBOUND_ANSWERED
            )
            by = (
                record.caller
                if record.direction is Direction.OUTBOUND
                else (record.answered_by[0] if record.answered_by else None)
            )
            callback.state = CallbackState.RESOLVED.value
            callback.resolved_at, callback.resolved_by = answered_at, by
            callback.resolution, callback.resolving_linkedid = how.value, record.linkedid
            log_entry(
                session,
                callback,
                answered_at,
                by or "system",
                "resolved",
                record.linkedid,
                {"resolution": how.value},
            )
            await session.flush()
            return [callback_message("callback.resolved", callback)]
        if is_attempt(record, number) and utc(record.started_at) + self._policy.skew >= opened:
            seen = await session.scalar(
                select(CallbackLogRow.id).where(
                    CallbackLogRow.callback_id == callback.id,
                    CallbackLogRow.linkedid == record.linkedid,
                )
            )
            if seen is not None:
                return []
            at = utc(record.ended_at)
            callback.attempts += 1
            callback.last_attempt_at = at
            if callback.held_by is None and record.caller:
                callback.held_by, callback.held_at = record.caller, utc(record.started_at)
            log_entry(
                session,
                callback,
                at,
                record.caller or "system",
                "attempt",
                record.linkedid,
                {"outcome": record.outcome.value},
            )
            await session.flush()
            return [callback_message("callback.updated", callback)]
        return []


def callback_message(kind: str, callback: CallbackRow) -> dict[str, Any]:
    """A bus message about a callback, addressed to its owner (`agent`); supervisors see all."""
    return {"type": kind, "agent": callback.owner_login, "callback": callback_view(callback)}


async def open_callback(session: AsyncSession, number: str) -> CallbackRow | None:
    return await session.scalar(
        select(CallbackRow).where(
            CallbackRow.number == number, CallbackRow.state == CallbackState.OPEN.value
        )
    )


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def log_entry(
    session: AsyncSession,
    callback: CallbackRow,
    at: datetime,
    actor: str,
    action: str,
    linkedid: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        CallbackLogRow(
            callback_id=callback.id,
            at=at,
            actor=actor,
            action=action,
            linkedid=linkedid,
            detail=detail or {},
        )
    )


CustomerFinder = Callable[[str], Awaitable[dict[str, Any] | None]]
Availability = Callable[[str, datetime], Awaitable[bool]]
DutyFinder = Callable[[datetime], Awaitable[str | None]]


def directory_context(
    *,
    find_customer: CustomerFinder,
    office_timezone: str,
    default_owner: str | None,
    default_region: str,
    manager_available: Availability | None = None,
    duty_at: DutyFinder | None = None,
) -> ContextSource:
    """The context from the customer directory and, when they are wired, agent states and the
    duty rota. Without them the manager is taken as available and there is no duty operator."""
    from cti.missed.zones import number_timezone

    async def context(number: str, at: datetime) -> MissContext:
        customer = await find_customer(number)
        manager = customer.get("manager_login") if customer else None
        available = True
        if manager and manager_available is not None:
            available = await manager_available(manager, at)
        duty = await duty_at(at) if duty_at is not None else None
        zone = (
            (customer or {}).get("timezone")
            or number_timezone(number, default_region)
            or office_timezone
        )
        return MissContext(
            customer_id=customer.get("customer_id") if customer else None,
            owner=OwnerContext(manager, available, duty, default_owner),
            timezone=ZoneInfo(zone),
        )

    return context
