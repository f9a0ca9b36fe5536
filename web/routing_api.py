"""Routing at the web edge: the decision for CURL() dialplans, agents' states, the duty rota.

Who may: the decision and every agent's state are for supervisors and administrators (the
dialplan's token is one of theirs); an agent reads and sets their own state; supervisors and
administrators edit the duty rota (SPEC: supervisors edit duty schedules)."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

from aiohttp import web

from cti.auth import policy
from cti.auth.principal import Principal, Scope
from cti.calls.model import iso
from cti.routing.dialplan import decision_variables, hash_body
from cti.routing.model import AgentState, UnknownAgent, UnknownShift
from cti.routing.schedules import DutyShift, ScheduleError, make_shift, read_rota_csv
from cti.routing.service import RoutingService
from cti.routing.whatif import BadOverride, parse_override
from web.auth import principal_of
from web.bodies import json_body
from web.errors import Problem

ROUTING = web.AppKey("routing", RoutingService)

#: longest caller ID or DID accepted (E.164 is 16 characters; SIP users may be longer)
_MAX_NUMBER = 64


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/route", route)
    app.router.add_get("/api/agents/states", agent_states)
    app.router.add_post("/api/agents/{login}/state", set_agent_state)
    app.router.add_get("/api/agents/{login}/state-history", state_history)
    app.router.add_get("/api/duty/now", duty_now)
    app.router.add_get("/api/duty", list_shifts)
    app.router.add_post("/api/duty", add_shift)
    app.router.add_put("/api/duty", replace_rota)
    app.router.add_put("/api/duty/{id}", update_shift)
    app.router.add_delete("/api/duty/{id}", delete_shift)


# --- who may do what (SPEC: agents set their own state; supervisors see everyone and edit the
# duty schedules; the dialplan's token belongs to a supervisor or administrator) ---------------


def _allowed(
    request: web.Request, scope: Scope, *, everyone: bool = False, login: str = ""
) -> Principal:
    """The principal, if it holds `scope` and (when `everyone`) sees every agent, or is `login`."""
    principal = principal_of(request)
    if not policy.may_use(principal, scope):
        raise Problem(status=403, detail=f"This credential lacks the {scope.value!r} scope.")
    if everyone and not policy.sees_everything(principal) and principal.login != login:
        raise Problem(status=403, detail="Only supervisors and administrators may do this.")
    return principal


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data,
        status=status,
        headers={"Cache-Control": "no-store"},
        dumps=lambda d: json.dumps(d, ensure_ascii=False),
    )


def _number(request: web.Request, name: str) -> str:
    value = request.query.get(name, "").strip()
    if len(value) > _MAX_NUMBER or any(ch in value for ch in "\r\n\0"):
        raise Problem(status=400, detail=f"{name} must be at most {_MAX_NUMBER} characters.")
    return value


async def route(request: web.Request) -> web.Response:
    """GET /api/route?caller=&did=[&linkedid=|&uniqueid=][&format=hash][&dry_run=1][&state=..]

    The decision the dialplan acts on. `format=hash` answers `key=value&...` for
    CURLOPT(hashcompat)=yes and HASH(); `dry_run=1` (or any `state=LOGIN=STATE` what-if)
    neither remembers the decision nor counts the offer."""
    _allowed(request, Scope.READ, everyone=True)
    routing = request.app[ROUTING]
    caller, did = _number(request, "caller"), _number(request, "did")
    key = _number(request, "linkedid") or _number(request, "uniqueid") or None
    try:
        overrides = [parse_override(s) for s in request.query.getall("state", [])]
    except BadOverride as exc:
        raise Problem(status=400, detail=str(exc)) from None
    dry = request.query.get("dry_run", "").lower() in ("1", "true", "yes") or bool(overrides)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "hash"):
        raise Problem(status=400, detail="format must be json or hash.")
    try:
        decision = await routing.decide(
            caller,
            did,
            key=None if dry else key,
            overrides=overrides,
            record_offer=not dry,
        )
    except BadOverride as exc:
        raise Problem(status=400, detail=str(exc)) from None
    variables = decision_variables(decision)
    if fmt == "hash":
        return web.Response(
            text=hash_body(variables),
            content_type="text/plain",
            headers={"Cache-Control": "no-store"},
        )
    return _json({**decision.to_json(), "variables": variables})


async def agent_states(request: web.Request) -> web.Response:
    """GET /api/agents/states: every agent's state, time in state, phone and calls now (an
    agent sees their own)."""
    principal = _allowed(request, Scope.READ)
    states = request.app[ROUTING].states()
    if not policy.sees_everything(principal):
        states = [s for s in states if s["login"] == principal.login]
    return _json({"agents": states})


async def set_agent_state(request: web.Request) -> web.Response:
    """POST /api/agents/{login}/state {"state": "paused", "reason": "lunch"}: an agent sets
    their own; supervisors and administrators anyone's."""
    login = request.match_info["login"]
    principal = _allowed(request, Scope.WRITE, everyone=True, login=login)
    body = await json_body(request, "agent.state")
    state, reason = AgentState(body["state"]), body.get("reason", "")
    try:
        presence = await request.app[ROUTING].set_state(
            login, state, reason, actor=f"{principal.via.value}:{principal.login}"
        )
    except UnknownAgent as exc:
        raise Problem(status=404, detail=str(exc)) from None
    return _json(
        {
            "login": login,
            "state": presence.state.value,
            "reason": presence.reason,
            "since": iso(presence.since),
        }
    )


def _when(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(
            status=400, detail=f"{name} must be ISO 8601, e.g. 2026-11-25T09:00:00+03:00."
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=request.app[ROUTING].tz)  # office time
    return value.timestamp()


async def state_history(request: web.Request) -> web.Response:
    """GET /api/agents/{login}/state-history?since=&until=: intervals and time per state
    (default: today, office time). An agent sees their own."""
    _allowed(request, Scope.READ, everyone=True, login=request.match_info["login"])
    routing = request.app[ROUTING]
    now = routing.now()
    midnight = datetime.combine(datetime.fromtimestamp(now, routing.tz).date(), time(), routing.tz)
    since = _when(request, "since", midnight.timestamp())
    until = _when(request, "until", now)
    if until <= since:
        raise Problem(status=400, detail="until must be after since.")
    if until - since > timedelta(days=366).total_seconds():
        raise Problem(status=400, detail="Ask for at most a year at a time.")
    try:
        history = await routing.state_history(request.match_info["login"], since=since, until=until)
    except UnknownAgent as exc:
        raise Problem(status=404, detail=str(exc)) from None
    return _json(history)


async def duty_now(request: web.Request) -> web.Response:
    """GET /api/duty/now: who is on duty now (office time), with their availability."""
    _allowed(request, Scope.READ)
    routing = request.app[ROUTING]
    states = {s["login"]: s for s in routing.states()}
    on_duty = [
        {
            "login": shift.login,
            "name": agent.name if agent else None,
            "shift": shift.to_json(),
            "available": states.get(shift.login, {}).get("available", False),
            "why_not": states.get(shift.login, {}).get("why_not"),
        }
        for shift, agent in routing.on_duty()
    ]
    return _json({"at": iso(routing.now()), "timezone": str(routing.tz), "on_duty": on_duty})


async def list_shifts(request: web.Request) -> web.Response:
    """GET /api/duty: the rota, weekly rows and date exceptions."""
    _allowed(request, Scope.READ)
    return _json({"shifts": [s.to_json() for s in request.app[ROUTING].rota]})


def _shift(body: dict[str, Any]) -> DutyShift:
    """A row already valid against duty.shift.json, checked as the rota reads it."""
    try:
        return make_shift(body["login"] or "nobody", body["days"], body["start"], body["end"])
    except ScheduleError as exc:
        raise Problem(status=422, detail=str(exc)) from None


def _shift_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        raise Problem(status=404, detail=f"no duty row with id {raw!r}")
    return int(raw)


async def add_shift(request: web.Request) -> web.Response:
    """POST /api/duty {"login": "ivanova", "days": "mon-fri", "start": "12:00", "end": "14:00"}."""
    _allowed(request, Scope.WRITE, everyone=True)
    shift = _shift(await json_body(request, "duty.shift"))
    try:
        stored = await request.app[ROUTING].add_shift(shift)
    except UnknownAgent as exc:
        raise Problem(status=422, detail=str(exc)) from None
    return _json(stored.to_json(), status=201)


async def update_shift(request: web.Request) -> web.Response:
    """PUT /api/duty/{id} with the row's four fields."""
    _allowed(request, Scope.WRITE, everyone=True)
    shift_id = _shift_id(request)
    shift = _shift(await json_body(request, "duty.shift"))
    try:
        stored = await request.app[ROUTING].update_shift(shift_id, shift)
    except UnknownShift as exc:
        raise Problem(status=404, detail=str(exc)) from None
    except UnknownAgent as exc:
        raise Problem(status=422, detail=str(exc)) from None
    return _json(stored.to_json())


async def delete_shift(request: web.Request) -> web.Response:
    """DELETE /api/duty/{id}."""
    _allowed(request, Scope.WRITE, everyone=True)
    try:
        await request.app[ROUTING].delete_shift(_shift_id(request))
    except UnknownShift as exc:
        raise Problem(status=404, detail=str(exc)) from None
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


async def replace_rota(request: web.Request) -> web.Response:
    """PUT /api/duty: the whole rota, as {"shifts": [...]} or as text/csv (login,days,start,end).
    Nothing changes unless every row is good; the errors name each bad row."""
    _allowed(request, Scope.WRITE, everyone=True)
    if request.content_type == "text/csv":
        rows, errors = read_rota_csv(await request.text())
        shifts = [shift for _, shift in rows]
        if errors:
            raise Problem(
                status=422,
                detail="; ".join(f"line {e.line}: {e.message}" for e in errors[:20]),
            )
    else:
        body = await json_body(request, "duty.rota")
        shifts = []
        for n, row in enumerate(body["shifts"], start=1):
            try:
                shifts.append(_shift(row))
            except Problem as exc:
                raise Problem(status=422, detail=f"shift {n}: {exc.detail}") from None
    try:
        count = await request.app[ROUTING].replace_rota(shifts)
    except UnknownAgent as exc:
        raise Problem(status=422, detail=str(exc)) from None
    return _json({"count": count, "shifts": [s.to_json() for s in request.app[ROUTING].rota]})
