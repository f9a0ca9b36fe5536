"""Calendars at the web edge: agents' shifts and lines' business hours and holidays.

Everyone signed in reads them (an agent sees when they work); supervisors and administrators
replace them (SPEC: supervisors edit schedules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from cti.auth.principal import Scope
from cti.calls.model import iso
from cti.routing.calendar import read_calendar_csv, read_ical
from cti.routing.model import UnknownAgent
from cti.routing.schedules import RowError, ScheduleError
from cti.routing.shifts import TEAM_PREFIX, read_shifts_csv
from cti.routing.timetable import TimeRow, make_row
from web.bodies import MAX_BODY, json_body
from web.errors import Problem
from web.routing_api import ROUTING, _allowed, _json, _number


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/shifts", list_shifts)
    app.router.add_put("/api/shifts", replace_shifts)
    app.router.add_get("/api/shifts/now", shifts_now)
    app.router.add_get("/api/hours", list_hours)
    app.router.add_put("/api/hours", replace_hours)
    app.router.add_put("/api/hours/holidays", replace_holidays)
    app.router.add_get("/api/hours/status", hours_status)


def shift_json(row: TimeRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "who": row.owner,
        "days": row.days,
        "hours": "off" if row.closed else row.hours,
        "note": row.label,
        "exception": row.is_exception,
    }


def hours_json(row: TimeRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "line": row.owner,
        "days": row.days,
        "hours": row.hours,
        "name": row.label,
        "exception": row.is_exception,
    }


def _at(request: web.Request, default: float) -> float:
    raw = request.query.get("at", "").strip()
    if not raw:
        return default
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(
            status=400,
            detail=f"at: {raw[:40]!r} is not ISO 8601; write e.g. 2027-01-04T11:00 (office time) "
            "or 2027-01-04T08:00Z",
        ) from None
    tz = request.app[ROUTING].tz
    return (value if value.tzinfo else value.replace(tzinfo=tz)).timestamp()


def _bad_rows(errors: list[RowError], what: str = "line") -> Problem:
    """Every bad row (`line` of a CSV body, `row` of a JSON one), and nothing changed."""
    return Problem(
        status=422,
        detail="nothing changed: "
        + "; ".join(f"{what} {e.line}: {e.message}" for e in errors[:20]),
        extensions={"errors": [{what: e.line, "reason": e.message} for e in errors[:100]]},
    )


async def _text(request: web.Request) -> str:
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise Problem(status=413, detail=f"the body is over {MAX_BODY} bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(status=400, detail="the body is not UTF-8 text") from None


def _rows(body: dict[str, Any], owner: str, label: str) -> list[TimeRow]:
    rows = []
    errors = []
    for n, row in enumerate(body["rows"], start=1):
        try:
            rows.append(make_row(row[owner], row["days"], row["hours"], row.get(label, "")))
        except ScheduleError as exc:
            errors.append(RowError(n, str(exc)))
    if errors:
        raise _bad_rows(errors, "row")
    return rows


# --- agents' shifts -------------------------------------------------------------------------


async def list_shifts(request: web.Request) -> web.Response:
    """GET /api/shifts: every row of agents' shifts."""
    _allowed(request, Scope.READ)
    return _json({"rows": [shift_json(r) for r in request.app[ROUTING].shift_rows]})


async def replace_shifts(request: web.Request) -> web.Response:
    """PUT /api/shifts: all rows, as {"rows": [{who, days, hours, note}]} or text/csv."""
    _allowed(request, Scope.WRITE, everyone=True)
    routing = request.app[ROUTING]
    if request.content_type == "text/csv":
        numbered, errors = read_shifts_csv(await _text(request))
        if errors:
            raise _bad_rows(errors)
        what = "line"
    else:
        numbered = list(enumerate(_rows(await json_body(request, "shifts"), "who", "note"), 1))
        what = "row"
    teams = {t for a in routing.agents.values() for t in a.teams}
    unknown = [
        RowError(n, f"no agent is in team {r.owner[1:]!r}")
        for n, r in numbered
        if r.owner.startswith(TEAM_PREFIX) and r.owner[1:] not in teams
    ]
    if unknown:
        raise _bad_rows(unknown, what)
    rows = [r for _, r in numbered]
    try:
        count = await routing.replace_agent_shifts(rows)
    except UnknownAgent as exc:
        raise Problem(status=422, detail=f"nothing changed: {exc}") from None
    return _json({"count": count, "rows": [shift_json(r) for r in routing.shift_rows]})


async def shifts_now(request: web.Request) -> web.Response:
    """GET /api/shifts/now[?at=]: every agent on or off shift, and why."""
    _allowed(request, Scope.READ)
    routing = request.app[ROUTING]
    at = _at(request, routing.now())
    agents = []
    for login, agent in routing.agents.items():
        status = routing.shift_of(login, at)
        agents.append(
            {
                "login": login,
                "name": agent.name,
                "on_shift": None if status is None else status.on,
                "why": "no shifts: always working" if status is None else status.why,
                "until": iso(status.ends_at.timestamp()) if status and status.ends_at else None,
            }
        )
    return _json({"at": iso(at), "timezone": str(routing.tz), "agents": agents})


# --- lines' business hours and holidays ----------------------------------------------------


async def list_hours(request: web.Request) -> web.Response:
    """GET /api/hours: every line's opening hours and dated rows (holidays, shortened days)."""
    _allowed(request, Scope.READ)
    return _json({"rows": [hours_json(r) for r in request.app[ROUTING].calendar.rows]})


async def replace_hours(request: web.Request) -> web.Response:
    """PUT /api/hours: the whole calendar, as {"rows": [{line, days, hours, name}]} or text/csv."""
    _allowed(request, Scope.WRITE, everyone=True)
    if request.content_type == "text/csv":
        numbered, errors = read_calendar_csv(await _text(request))
        if errors:
            raise _bad_rows(errors)
        rows = [r for _, r in numbered]
    else:
        rows = _rows(await json_body(request, "hours"), "line", "name")
    routing = request.app[ROUTING]
    count = await routing.replace_line_hours(rows)
    return _json({"count": count, "rows": [hours_json(r) for r in routing.calendar.rows]})


async def replace_holidays(request: web.Request) -> web.Response:
    """PUT /api/hours/holidays[?line=*]: the dated rows from text/calendar (all-day events) or
    text/csv; the weekly hours stay."""
    _allowed(request, Scope.WRITE, everyone=True)
    line = _number(request, "line") or "*"
    text = await _text(request)
    if request.content_type == "text/csv":
        numbered, errors = read_calendar_csv(text)
        errors += [
            RowError(n, "a weekly row: business hours go to PUT /api/hours")
            for n, r in numbered
            if not r.is_exception
        ]
        if errors:
            raise _bad_rows(errors)
        rows = [r for _, r in numbered]
    elif request.content_type == "text/calendar":
        rows, problems = read_ical(text, line=line)
        if problems:
            raise Problem(
                status=422,
                detail="nothing changed: " + "; ".join(problems[:20]),
                extensions={"errors": [{"reason": p} for p in problems[:100]]},
            )
    else:
        raise Problem(
            status=415,
            detail="send the holidays as text/calendar (an .ics file) or text/csv "
            "(line,days,hours,name)",
        )
    routing = request.app[ROUTING]
    count = await routing.replace_line_hours(rows, only_dates=True)
    return _json({"count": count, "rows": [hours_json(r) for r in routing.calendar.rows]})


async def hours_status(request: web.Request) -> web.Response:
    """GET /api/hours/status?did=[&at=]: whether the DID's line is open, why, when it opens."""
    _allowed(request, Scope.READ)
    routing = request.app[ROUTING]
    did = _number(request, "did")
    team, status = routing.line_status(did, _at(request, routing.now()))
    return _json({"did": did, "team": team, **status.to_json()})
