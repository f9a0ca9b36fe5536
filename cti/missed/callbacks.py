"""Callbacks worked by people: list, create for a colleague, hold, reassign, resolve, escalate."""

from __future__ import annotations

import builtins
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db.missed_models import CallbackLogRow, CallbackRow, MissedCallRow
from cti.db.models import Agent
from cti.db.session import writing
from cti.missed.book import (
    CallbackPolicy,
    ContextSource,
    hold_expires,
    hold_fresh,
    log_entry,
    may_take_hold,
    open_callback,
    phones_of,
    team_members,
)
from cti.missed.model import CallbackSource, CallbackState, Resolution
from cti.missed.rules import callback_deadline, choose_owner, requested_time_ok
from cti.missed.views import callback_view, iso_utc, log_view, missed_view


class CallbackError(Exception):
    """A request about callbacks that cannot be carried out; the message says why."""


class CallbackNotFound(CallbackError):
    pass


class CallbackConflict(CallbackError):
    pass


class CallbackForbidden(CallbackError):
    """The change is someone else's to make (a supervisor's)."""


class CallbackClaimed(CallbackConflict):
    """A callback of the shared list was claimed by someone else first."""

    def __init__(self, message: str, owner: str) -> None:
        super().__init__(message)
        self.owner = owner


@dataclass(frozen=True)
class CallbackFilter:
    owner: str | None = None
    state: CallbackState | None = None
    since: datetime | None = None
    until: datetime | None = None
    did: str | None = None
    overdue: bool = False
    limit: int = 500
    number: str | None = None  #: E.164: the callbacks of one number (a screen-pop's caller)
    #: with `owner`: also the shared lists (no owner) of these teams ("" is every agent's)
    shared_teams: tuple[str, ...] | None = None
    shared: bool = False  #: only callbacks on a shared list (no owner yet)


@dataclass(frozen=True)
class MissedFilter:
    since: datetime | None = None
    until: datetime | None = None
    did: str | None = None
    kind: str | None = None
    agent: str | None = None
    resolved: bool | None = None
    limit: int = 1000


class Callbacks:
    """Reads and changes callbacks; every change is logged with who made it."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        context: ContextSource,
        policy: CallbackPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_resolved: Callable[[AsyncSession, dict[str, Any]], Awaitable[None]] | None = None,
        announce: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._on_resolved = on_resolved  #: in the resolving transaction (the webhook outbox)
        self._announce = announce  #: the live feed, after a claim or an assignment committed
        self._sessions = session_factory
        self._context = context
        self._policy = policy or CallbackPolicy()
        self._clock = clock

    # --- queries -----------------------------------------------------------------------------

    async def list(self, f: CallbackFilter) -> list[dict[str, Any]]:
        query = select(CallbackRow)
        if f.owner and f.shared_teams is not None:
            query = query.where(
                or_(
                    CallbackRow.owner_login == f.owner,
                    and_(
                        CallbackRow.owner_login.is_(None),
                        CallbackRow.team.in_(sorted({*f.shared_teams, ""})),
                    ),
                )
            )
        elif f.owner:
            query = query.where(CallbackRow.owner_login == f.owner)
        if f.shared:
            query = query.where(CallbackRow.owner_login.is_(None))
        if f.state:
            query = query.where(CallbackRow.state == f.state.value)
        if f.since:
            query = query.where(CallbackRow.created_at >= f.since)
        if f.until:
            query = query.where(CallbackRow.created_at < f.until)
        if f.did:
            query = query.where(CallbackRow.did == f.did)
        if f.number:
            query = query.where(CallbackRow.number == f.number)
        if f.overdue:
            query = query.where(
                CallbackRow.state == CallbackState.OPEN.value,
                CallbackRow.deadline_at <= self._clock(),
            )
        query = query.order_by(CallbackRow.deadline_at, CallbackRow.id).limit(f.limit)
        async with self._sessions() as session:
            return await self._views(session, list(await session.scalars(query)), self._clock())

    async def get(self, callback_id: int) -> dict[str, Any]:
        async with self._sessions() as session:
            row = await self._row(session, callback_id)
            log = await session.scalars(
                select(CallbackLogRow)
                .where(CallbackLogRow.callback_id == callback_id)
                .order_by(CallbackLogRow.id)  # the order things happened in
            )
            misses = await session.scalars(
                select(MissedCallRow)
                .where(MissedCallRow.callback_id == callback_id)
                .order_by(MissedCallRow.missed_at)
            )
            [view] = await self._views(session, [row], self._clock())
            return view | {
                "log": [log_view(entry) for entry in log],
                "missed_calls": [missed_view(m, row) for m in misses],
            }

    async def missed(self, f: MissedFilter) -> builtins.list[dict[str, Any]]:
        query = select(MissedCallRow, CallbackRow).outerjoin(
            CallbackRow, MissedCallRow.callback_id == CallbackRow.id
        )
        if f.since:
            query = query.where(MissedCallRow.missed_at >= f.since)
        if f.until:
            query = query.where(MissedCallRow.missed_at < f.until)
        if f.did:
            query = query.where(MissedCallRow.did == f.did)
        if f.kind:
            query = query.where(MissedCallRow.kind == f.kind)
        if f.resolved is not None:
            state = CallbackState.RESOLVED.value if f.resolved else CallbackState.OPEN.value
            query = query.where(CallbackRow.state == state)
        if f.agent:  # narrowed in SQL before the limit (JSON as text), checked exactly below
            rung = cast(MissedCallRow.agents_rung, String).contains(
                json.dumps(f.agent), autoescape=True
            )
            query = query.where(or_(rung, CallbackRow.owner_login == f.agent))
        query = query.order_by(MissedCallRow.missed_at.desc(), MissedCallRow.id.desc()).limit(
            f.limit
        )
        async with self._sessions() as session:
            rows = [missed_view(m, c) for m, c in (await session.execute(query)).all()]
        if f.agent:
            rows = [
                r for r in rows if f.agent in r["agents_rung"] or r["callback_owner"] == f.agent
            ]
        return rows

    # --- changes -----------------------------------------------------------------------------

    async def create(
        self,
        *,
        number: str,
        by: str,
        owner: str | None = None,
        note: str = "",
        requested_for: datetime | None = None,
        customer_id: int | None = None,
        may_hand_over: bool = True,
    ) -> dict[str, Any]:
        """A callback left by a person ("call back about order 1234"), optionally at a chosen time.

        With `may_hand_over` false (an agent), an open callback of a colleague for the number
        gets the note but keeps its owner and time: taking it over is a supervisor's call."""
        now = self._clock()
        context = await self._context(number, now)
        if requested_for is not None:
            if requested_for.tzinfo is None:
                raise CallbackError(
                    "requested_for must carry a time zone offset, e.g. 2026-11-25T15:00:00+03:00"
                )
            if not requested_time_ok(requested_for, context.timezone, self._policy.window):
                w = self._policy.window
                raise CallbackError(
                    f"{requested_for.isoformat()} is outside the customer's callback window "
                    f"({w.start:%H:%M}-{w.end:%H:%M} {context.timezone.key}); choose a time inside it"
                )
        async with writing(self._sessions) as session:
            row = await open_callback(session, number)
            teams = await self._teams_of(session, by)
            chosen = choose_owner(replace(context.owner, team=teams[0] if teams else ""))
            if row is None:
                deadline = (
                    requested_for.astimezone(UTC)
                    if requested_for
                    else callback_deadline(
                        now, sla=self._policy.sla, tz=context.timezone, window=self._policy.window
                    )
                )
                row = CallbackRow(
                    number=number,
                    customer_id=customer_id or context.customer_id,
                    state=CallbackState.OPEN.value,
                    source=CallbackSource.AGENT.value,
                    owner_login=owner or chosen.login,
                    owner_reason="chosen" if owner else chosen.reason,
                    team=chosen.team,
                    misses=0,
                    note=note,
                    created_by=by,
                    created_at=now,
                    requested_for=requested_for,
                    deadline_at=deadline,
                    timezone=context.timezone.key,
                )
                session.add(row)
                await session.flush()
                log_entry(
                    session, row, now, by, "created", None, {"owner": row.owner_login, "note": note}
                )
            else:
                theirs = row.owner_login not in (None, by) and row.held_by != by
                if (
                    theirs
                    and not may_hand_over
                    and ((owner and owner != row.owner_login) or requested_for is not None)
                ):
                    raise CallbackForbidden(
                        f"the open callback for {number} belongs to {row.owner_login}: leave a "
                        "note without an owner or a time, or ask a supervisor to hand it over"
                    )
                # one open callback per number: the note and the chosen time join the existing one
                if note:
                    row.note = f"{row.note}\n{note}".strip()
                if requested_for is not None:
                    row.requested_for, row.deadline_at = (
                        requested_for,
                        requested_for.astimezone(UTC),
                    )
                if owner and owner != row.owner_login:
                    log_entry(
                        session,
                        row,
                        now,
                        by,
                        "reassigned",
                        None,
                        {"from": row.owner_login, "to": owner},
                    )
                    row.owner_login, row.owner_reason = owner, "chosen"
                log_entry(session, row, now, by, "note", None, {"note": note})
            await session.flush()
            return callback_view(row)

    async def hold(self, callback_id: int, *, by: str) -> dict[str, Any]:
        """`by` is calling the customer now: others see "being called back by ..." until the
        hold expires (`CallbackPolicy.hold` after it was taken or after `by`'s last unanswered
        attempt ended). The owner may always try again, and so may the holder."""
        async with writing(self._sessions) as session:
            row = await self._open_row(session, callback_id)
            now = self._clock()
            if not may_take_hold(
                row, by, *await phones_of(session, by), now=now, hold=self._policy.hold
            ):
                raise CallbackConflict(
                    f"callback {callback_id} is being called back by "
                    f"{await _named(session, row.held_by)} until "
                    f"{iso_utc(hold_expires(row, self._policy.hold))}"
                )
            row.held_by, row.held_at = by, now
            log_entry(session, row, now, by, "held")
            return await self._view(session, row, now)

    async def reassign(
        self, callback_id: int, *, to: str, by: str, reason: str = ""
    ) -> dict[str, Any]:
        async with writing(self._sessions) as session:
            row = await self._open_row(session, callback_id)
            now = self._clock()
            log_entry(
                session,
                row,
                now,
                by,
                "reassigned",
                None,
                {"from": row.owner_login, "to": to, "reason": reason},
            )
            row.owner_login, row.owner_reason, row.held_by, row.held_at = (
                to,
                "reassigned",
                None,
                None,
            )
            return callback_view(row)

    async def teams_of(self, login: str) -> builtins.list[str]:
        async with self._sessions() as session:
            return await self._teams_of(session, login)

    async def claim(
        self, callback_id: int, *, by: str, may_claim_any: bool = False
    ) -> dict[str, Any]:
        """`by` takes a callback off their line's shared list with one click; the first claim
        wins, a later one is told who has it. `may_claim_any`: a supervisor's, whatever team."""
        async with writing(self._sessions) as session:
            row = await session.scalar(
                select(CallbackRow).where(CallbackRow.id == callback_id).with_for_update()
            )
            if row is None:
                raise CallbackNotFound(f"no callback {callback_id}")
            if row.state != CallbackState.OPEN.value:
                raise CallbackConflict(f"callback {callback_id} is already resolved")
            now = self._clock()
            if row.owner_login == by:
                return await self._view(session, row, now)  # a double click: already theirs
            if row.owner_login is not None:
                raise CallbackClaimed(
                    f"callback {callback_id} was already claimed by "
                    f"{await _named(session, row.owner_login)}",
                    row.owner_login,
                )
            if not may_claim_any and row.team and row.team not in await self._teams_of(session, by):
                raise CallbackForbidden(
                    f"callback {callback_id} is on the shared list of team {row.team!r}, "
                    f"not one of {by}'s teams"
                )
            row.owner_login, row.owner_reason = by, "claimed"
            log_entry(
                session, row, now, by, "claimed", None, {"from": None, "to": by, "team": row.team}
            )
            view = await self._view(session, row, now)
            audience = await team_members(session, row.team)
        self._tell("callback.updated", view, audience)
        return view

    async def assign(
        self, callback_ids: Sequence[int], *, to: str | None, by: str, reason: str = ""
    ) -> builtins.list[dict[str, Any]]:
        """A supervisor gives one or many open callbacks to the agent `to` (None: back to their
        line's shared list). All or nothing; each change is logged with who, from, to and why."""
        ids = sorted(set(callback_ids))
        if not ids:
            raise CallbackError("name at least one callback to assign")
        now = self._clock()
        async with writing(self._sessions) as session:
            if to is not None:
                known = await session.scalar(select(Agent.id).where(Agent.login == to).limit(1))
                if known is None:
                    raise CallbackError(f"no agent {to!r} to assign callbacks to")
            rows = {
                r.id: r
                for r in await session.scalars(
                    select(CallbackRow).where(CallbackRow.id.in_(ids)).with_for_update()
                )
            }
            missing = [i for i in ids if i not in rows]
            if missing:
                raise CallbackNotFound(f"no callback {', '.join(map(str, missing))}")
            closed = [i for i in ids if rows[i].state != CallbackState.OPEN.value]
            if closed:
                raise CallbackConflict(
                    f"callback {', '.join(map(str, closed))} is already resolved"
                )
            tell: builtins.list[tuple[dict[str, Any], builtins.list[str]]] = []
            for i in ids:
                row = rows[i]
                before = row.owner_login
                if before == to:
                    continue
                log_entry(
                    session,
                    row,
                    now,
                    by,
                    "reassigned",
                    None,
                    {"from": before, "to": to, "reason": reason, "team": row.team},
                )
                row.owner_login = to
                row.owner_reason = "reassigned" if to is not None else "team"
                row.held_by, row.held_at = None, None
                audience = [before] if before else await team_members(session, row.team)
                if to is None:
                    audience += await team_members(session, row.team)
                tell.append((callback_view(row), audience))
            views = await self._views(session, [rows[i] for i in ids], now)
        for view, audience in tell:
            self._tell("callback.updated", view, audience)
        return views

    def _tell(self, kind: str, view: dict[str, Any], audience: builtins.list[str]) -> None:
        """The new owner, and those who saw it before (the old owner, a shared list's team)."""
        if self._announce is None:
            return
        owner = view.get("owner")
        for login in dict.fromkeys([*([owner] if owner else []), *audience]):
            self._announce({"type": kind, "agent": login, "callback": view})

    async def _teams_of(self, session: AsyncSession, login: str) -> builtins.list[str]:
        teams = await session.scalar(select(Agent.teams).where(Agent.login == login).limit(1))
        return [str(t) for t in teams or ()]

    async def resolve(self, callback_id: int, *, by: str, note: str) -> dict[str, Any]:
        if not note.strip():
            raise CallbackError("a callback closed by hand needs a note saying what happened")
        async with writing(self._sessions) as session:
            row = await self._open_row(session, callback_id)
            now = self._clock()
            row.state, row.resolved_at, row.resolved_by = CallbackState.RESOLVED.value, now, by
            row.resolution, row.resolution_note = Resolution.MANUAL.value, note
            log_entry(
                session, row, now, by, "resolved", None, {"resolution": "manual", "note": note}
            )
            view = callback_view(row)
            if self._on_resolved is not None:
                await self._on_resolved(session, view)
            return view

    async def escalate_due(self) -> builtins.list[dict[str, Any]]:
        """Open callbacks past their deadline, not escalated yet: mark and return them (from
        stored times, so a restart neither loses nor repeats an escalation)."""
        now = self._clock()
        async with writing(self._sessions) as session:
            rows = list(
                await session.scalars(
                    select(CallbackRow)
                    .where(
                        CallbackRow.state == CallbackState.OPEN.value,
                        CallbackRow.deadline_at <= now,
                        CallbackRow.escalated_at.is_(None),
                    )
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                row.escalated_at = now
                log_entry(
                    session,
                    row,
                    now,
                    "system",
                    "escalated",
                    None,
                    {"deadline": row.deadline_at.isoformat()},
                )
            return [callback_view(row) for row in rows]

    async def expire_holds(self) -> builtins.list[dict[str, Any]]:
        """Holds past their time are let go (logged as `hold_expired`), so everyone sees the
        callback free again; returns the callbacks changed (to announce)."""
        now = self._clock()
        async with writing(self._sessions) as session:
            rows = list(
                await session.scalars(
                    select(CallbackRow)
                    .where(
                        CallbackRow.state == CallbackState.OPEN.value,
                        CallbackRow.held_by.is_not(None),
                        or_(
                            CallbackRow.held_at.is_(None),
                            CallbackRow.held_at <= now - self._policy.hold,
                        ),
                    )
                    .with_for_update(skip_locked=True)
                )
            )
            tell = []
            for row in rows:
                log_entry(session, row, now, "system", "hold_expired", None, {"was": row.held_by})
                audience = [row.held_by] if row.held_by else []
                if not row.owner_login:
                    audience += await team_members(session, row.team)
                row.held_by, row.held_at = None, None
                tell.append(audience)
            views = await self._views(session, rows, now)
        for view, audience in zip(views, tell, strict=True):
            self._tell("callback.updated", view, audience)
        return views

    async def _view(self, session: AsyncSession, row: CallbackRow, now: datetime) -> dict[str, Any]:
        [view] = await self._views(session, [row], now)
        return view

    async def _views(
        self, session: AsyncSession, rows: builtins.list[CallbackRow], now: datetime
    ) -> builtins.list[dict[str, Any]]:
        """Callbacks as people see them: a hold only while it keeps others off (`held_until`),
        named by the holder's display name as well as their login."""
        holders = {r.held_by for r in rows if r.held_by and hold_fresh(r, now, self._policy.hold)}
        names: dict[str, str] = {}
        if holders:
            found = await session.execute(
                select(Agent.login, Agent.name).where(Agent.login.in_(sorted(holders)))
            )
            names = {login: name for login, name in found.all()}
        views = []
        for row in rows:
            view = callback_view(row)
            view["team"] = row.team
            view["shared"] = row.owner_login is None  #: on the team's shared list: claim it
            if row.held_by in holders:
                expires = hold_expires(row, self._policy.hold)
                view["held_until"] = iso_utc(expires)
                view["held_by_name"] = names.get(row.held_by or "") or row.held_by
            else:
                view["held_by"] = view["held_at"] = view["held_until"] = None
                view["held_by_name"] = None
            views.append(view)
        return views

    async def _row(self, session: AsyncSession, callback_id: int) -> CallbackRow:
        row = await session.get(CallbackRow, callback_id)
        if row is None:
            raise CallbackNotFound(f"no callback {callback_id}")
        return row

    async def _open_row(self, session: AsyncSession, callback_id: int) -> CallbackRow:
        row = await self._row(session, callback_id)
        if row.state != CallbackState.OPEN.value:
            raise CallbackConflict(f"callback {callback_id} is already resolved")
        return row


async def _named(session: AsyncSession, login: str | None) -> str:
    """`Иванова (ivanova)`: how a colleague is named in a refusal."""
    if not login:
        return "nobody"
    name = await session.scalar(select(Agent.name).where(Agent.login == login).limit(1))
    return f"{name} ({login})" if name and name != login else login
