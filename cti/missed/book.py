"""The callback book: finished calls become missed calls and open, group or resolve callbacks.

Runs inside the transaction that stores the calls (`CallRepository(after_save=...)`), so a miss
is stored before anything is announced, and replays of the same calls change nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.calls.model import CallRecord, Direction
from cti.db.missed_models import CallbackLogRow, CallbackRow, MissedCallRow
from cti.db.models import Agent
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
    #: a hold (someone calling the customer back) keeps colleagues off this long after its
    #: attempt; the owner may always try again
    hold: timedelta = timedelta(minutes=10)
    #: the next opening of the line (DID) at or after a moment: deadlines never fall while it
    #: is closed (None: lines keep no business hours here)
    line_opening: Callable[[str, datetime], datetime | None] | None = None
    #: the team of a line (DID): whose shared list gets a callback nobody else owns
    #: ("": every agent's; None: lines have no teams here)
    line_team: Callable[[str], str] | None = None


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
        batch = await _Batch.load(session, records)
        for record in records:
            if is_missed(record):
                await self._missed(session, batch, record)
            else:
                await self._answered_or_attempt(session, batch, record)
        await session.flush()  # ids of the missed calls, before their messages are made
        return [make() for make in batch.messages]

    async def _missed(self, session: AsyncSession, batch: _Batch, record: CallRecord) -> None:
        if record.linkedid in batch.missed:
            return  # the same call stored again (a replay, a reconnect overlap)
        batch.missed.add(record.linkedid)
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
        number = record.caller_e164
        if number is None:
            # withheld or not a phone number: listed as missed, but there is nobody to call back
            batch.messages.append(lambda: {"type": "call.missed", "call": missed_view(row, None)})
            return
        context = await batch.context(self._context, number, missed_at)
        row.customer_id = context.customer_id
        callback = batch.open.get(number)
        if callback is None:
            callback = await self._open(session, record, context, missed_at)
            batch.open[number] = callback
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
        state, owner = callback.state, callback.owner_login  # as they are now, not at the end
        batch.messages.append(
            lambda: {
                "type": "call.missed",
                "call": {
                    **missed_view(row, None),
                    "callback_state": state,
                    "callback_owner": owner,
                },
            }
        )
        await batch.announce(session, kind, callback)

    async def _open(
        self, session: AsyncSession, record: CallRecord, context: MissContext, missed_at: datetime
    ) -> CallbackRow:
        """A new callback for a first miss (flushed: the miss and the log need its id)."""
        last_rung = None
        for phone in reversed(record.agents_rung):  # a follow-me mobile is nobody's login
            if last_rung := await agent_login(session, phone):
                break
        team = self._policy.line_team(record.did) if self._policy.line_team else ""
        owner = choose_owner(replace(context.owner, last_rung=last_rung, team=team))
        line_opening, did = self._policy.line_opening, record.did
        deadline = callback_deadline(
            missed_at,
            sla=self._policy.sla,
            tz=context.timezone,
            window=self._policy.window,
            opening=(lambda at: line_opening(did, at)) if line_opening is not None else None,
        )
        callback = CallbackRow(
            number=record.caller_e164,
            customer_id=context.customer_id,
            state=CallbackState.OPEN.value,
            source=CallbackSource.MISSED_CALL.value,
            owner_login=owner.login,
            owner_reason=owner.reason,
            team=owner.team,
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
            {
                "owner": owner.login,
                "reason": owner.reason,
                "team": owner.team,
                "deadline": deadline.isoformat(),
            },
        )
        return callback

    async def _answered_or_attempt(
        self, session: AsyncSession, batch: _Batch, record: CallRecord
    ) -> None:
        number = _counterpart(record)
        if number is None:
            return
        callback = batch.open.get(number)
        if callback is None:
            return
        opened = as_utc(callback.created_at)
        if resolves(record, number) and record.answered_at is not None:
            if utc(record.answered_at) + self._policy.skew < opened:
                return  # a conversation that began before the miss does not answer it
            self._resolve(session, callback, record)
            del batch.open[number]
            await batch.announce(session, "callback.resolved", callback)
            return
        if is_attempt(record, number) and utc(record.started_at) + self._policy.skew >= opened:
            if await _attempt_logged(session, callback, record.linkedid):
                return
            at = utc(record.ended_at)
            callback.attempts += 1
            callback.last_attempt_at = at
            caller = await login_of(session, record.caller)
            if caller and may_take_hold(
                callback, caller, record.caller, now=at, hold=self._policy.hold
            ):
                # the hold runs from the end of the unanswered attempt: colleagues stay off
                # `hold` longer, then it expires
                taken = callback.held_at if callback.held_by == caller else None
                callback.held_by = caller
                callback.held_at = max(at, as_utc(taken)) if taken is not None else at
            log_entry(
                session,
                callback,
                at,
                record.caller or "system",
                "attempt",
                record.linkedid,
                {"outcome": record.outcome.value},
            )
            await batch.announce(session, "callback.updated", callback)

    def _resolve(self, session: AsyncSession, callback: CallbackRow, record: CallRecord) -> None:
        assert record.answered_at is not None
        answered_at = utc(record.answered_at)
        outbound = record.direction is Direction.OUTBOUND
        how = Resolution.OUTBOUND_ANSWERED if outbound else Resolution.INBOUND_ANSWERED
        by = record.caller if outbound else (record.answered_by[0] if record.answered_by else None)
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


def _counterpart(record: CallRecord) -> str | None:
    """The outside number a call was with (None: internal, withheld or not a phone number)."""
    if record.direction is Direction.INTERNAL:
        return None
    return record.did_e164 if record.direction is Direction.OUTBOUND else record.caller_e164


async def _attempt_logged(session: AsyncSession, callback: CallbackRow, linkedid: str) -> bool:
    seen = await session.scalar(
        select(CallbackLogRow.id).where(
            CallbackLogRow.callback_id == callback.id, CallbackLogRow.linkedid == linkedid
        )
    )
    return seen is not None


_CHUNK = 500  #: values per IN (...) list


@dataclass
class _Batch:
    """What one save needs from the database, read in a few queries instead of a few per call:
    the misses already stored, the open callbacks of the batch's numbers (kept current as the
    batch opens and resolves them), the context of each number, the messages to announce."""

    missed: set[str]
    open: dict[str, CallbackRow]
    contexts: dict[tuple[str, int], MissContext] = field(default_factory=dict)
    messages: list[Callable[[], dict[str, Any]]] = field(default_factory=list)
    teams: dict[str, list[str]] = field(default_factory=dict)  #: team -> its agents' logins

    @classmethod
    async def load(cls, session: AsyncSession, records: Sequence[CallRecord]) -> _Batch:
        missed_ids = sorted({r.linkedid for r in records if is_missed(r)})
        numbers = sorted(
            {n for r in records if (n := r.caller_e164 if is_missed(r) else _counterpart(r))}
        )
        seen: set[str] = set()
        for i in range(0, len(missed_ids), _CHUNK):
            chunk = missed_ids[i : i + _CHUNK]
            seen.update(
                await session.scalars(
                    select(MissedCallRow.linkedid).where(MissedCallRow.linkedid.in_(chunk))
                )
            )
        open_: dict[str, CallbackRow] = {}
        for i in range(0, len(numbers), _CHUNK):
            chunk = numbers[i : i + _CHUNK]
            for row in await session.scalars(
                select(CallbackRow).where(
                    CallbackRow.number.in_(chunk), CallbackRow.state == CallbackState.OPEN.value
                )
            ):
                open_[row.number] = row
        return cls(missed=seen, open=open_)

    async def announce(self, session: AsyncSession, kind: str, callback: CallbackRow) -> None:
        """The owner hears of it; a callback on a shared list, every agent of its team."""
        view = callback_view(callback)
        team: list[str] = []
        if not callback.owner_login:
            if callback.team not in self.teams:
                self.teams[callback.team] = await team_members(session, callback.team)
            team = self.teams[callback.team]
        self.messages.extend(
            functools.partial(dict, m) for m in callback_messages(kind, view, team)
        )

    async def context(self, source: ContextSource, number: str, at: datetime) -> MissContext:
        """One look-up per number and minute of the batch (a replay's batch may span shifts)."""
        key = (number, int(at.timestamp()) // 60)
        found = self.contexts.get(key)
        if found is None:
            found = self.contexts[key] = await source(number, at)
        return found


def callback_messages(
    kind: str, view: dict[str, Any], team: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Bus messages about a callback shown as `view`, each addressed to one person (`agent`):
    its owner, or every agent of the team (`team`, their logins) whose shared list it is on."""
    owner = view.get("owner")
    return [
        {"type": kind, "agent": login, "callback": view} for login in ([owner] if owner else team)
    ]


async def team_members(session: AsyncSession, team: str) -> list[str]:
    """The logins of the agents of `team` ("": every agent), who see its shared list."""
    rows = (await session.execute(select(Agent.login, Agent.teams).order_by(Agent.login))).all()
    return [login for login, teams in rows if not team or team in (teams or ())]


async def agent_login(session: AsyncSession, phone: str) -> str | None:
    """The login of the agent whose phone appears as `phone` in call records (None: no agent's,
    e.g. a follow-me mobile)."""
    login = await login_of(session, phone)
    return login if login and login != phone or await _is_login(session, phone) else None


async def _is_login(session: AsyncSession, login: str) -> bool:
    found = await session.scalar(select(Agent.id).where(Agent.login == login).limit(1))
    return found is not None


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


async def login_of(session: AsyncSession, extension: str) -> str:
    """The login of the agent whose phone is `extension` (holds name people, not phones): call
    records name a phone by its device's endpoint (`PJSIP/2101` -> `2101`), which need not be
    the extension people dial. The value itself when no agent has it."""
    if not extension:
        return ""
    rows = (
        await session.execute(
            select(Agent.login, Agent.extension).where(
                or_(
                    Agent.extension == extension,
                    Agent.device.endswith("/" + extension, autoescape=True),
                )
            )
        )
    ).all()
    by_extension = [login for login, ext in rows if ext == extension]
    found = by_extension or sorted(login for login, _ in rows)
    return found[0] if found else extension


async def phones_of(session: AsyncSession, login: str) -> tuple[str, ...]:
    """How the agent's phone appears in call records: extension and device endpoint (holds
    written before they named logins named these)."""
    found = (
        await session.execute(
            select(Agent.extension, Agent.device).where(Agent.login == login).limit(1)
        )
    ).first()
    if found is None:
        return ()
    extension, device = found
    endpoint = device.rpartition("/")[2] if device else ""
    return tuple(x for x in (extension, endpoint) if x)


def hold_expires(callback: CallbackRow, hold: timedelta) -> datetime | None:
    """When the callback's hold stops keeping colleagues off (None: nobody holds it)."""
    if not callback.held_by:
        return None
    if callback.held_at is None:
        return None  # a hold without a time (never written so): it keeps nobody off
    return as_utc(callback.held_at) + hold


def hold_fresh(callback: CallbackRow, now: datetime, hold: timedelta) -> bool:
    expires = hold_expires(callback, hold)
    return expires is not None and now < expires


def may_take_hold(
    callback: CallbackRow, login: str, *aliases: str, now: datetime, hold: timedelta
) -> bool:
    """Whether `login` (whose phone may appear as `aliases`) may hold the callback now: nobody
    else holds it, the hold is theirs or has expired, or it is their own callback (the owner
    may always try again)."""
    if callback.owner_login == login or callback.held_by in (None, login, *aliases):
        return True
    return not hold_fresh(callback, now, hold)
