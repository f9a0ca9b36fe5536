"""HTTP edge of missed calls and callbacks: thin handlers over `cti.missed.callbacks.Callbacks`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from cti.auth.policy import may_see_agent_data, sees_everything
from cti.auth.principal import Principal
from cti.customers.numbers import normalize
from cti.missed.callbacks import (
    CallbackClaimed,
    CallbackConflict,
    CallbackError,
    CallbackFilter,
    CallbackForbidden,
    CallbackNotFound,
    Callbacks,
    MissedFilter,
)
from cti.missed.model import CallbackState
from web.auth import principal_of
from web.bodies import json_body
from web.errors import Problem
from web.exports import export_format, table_response

CALLBACKS = web.AppKey("callbacks", Callbacks)
REGION = web.AppKey("default_region", str)

MISSED_COLUMNS = (
    "missed_at",
    "kind",
    "short_abandon",
    "caller",
    "caller_e164",
    "caller_name",
    "customer_id",
    "did",
    "agents_rung",
    "wait_seconds",
    "callback_id",
    "callback_state",
    "callback_owner",
    "linkedid",
)
CALLBACK_COLUMNS = (
    "id",
    "state",
    "number",
    "customer_id",
    "owner",
    "owner_reason",
    "team",
    "source",
    "misses",
    "attempts",
    "note",
    "created_at",
    "deadline_at",
    "timezone",
    "held_by",
    "escalated_at",
    "resolved_at",
    "resolved_by",
    "resolution",
    "resolution_note",
    "resolving_linkedid",
    "did",
)


def setup(app: web.Application, *, callbacks: Callbacks, default_region: str) -> None:
    app[CALLBACKS] = callbacks
    app[REGION] = default_region
    app.router.add_get("/api/missed", list_missed)
    app.router.add_get("/api/callbacks", list_callbacks)
    app.router.add_post("/api/callbacks", create_callback)
    app.router.add_get(r"/api/callbacks/{id:\d{1,9}}", get_callback)
    app.router.add_post(r"/api/callbacks/{id:\d{1,9}}/hold", hold_callback)
    app.router.add_post(r"/api/callbacks/{id:\d{1,9}}/reassign", reassign_callback)
    app.router.add_post(r"/api/callbacks/{id:\d{1,9}}/resolve", resolve_callback)
    app.router.add_post(r"/api/callbacks/{id:\d{1,9}}/claim", claim_callback)
    app.router.add_post("/api/callbacks/assign", assign_callbacks)


def _when(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(
            status=400, detail=f"{name}={raw!r} is not ISO 8601, e.g. 2026-11-25T09:00:00+03:00"
        ) from None
    if value.tzinfo is None:
        raise Problem(
            status=400, detail=f"{name}={raw!r} needs a time zone offset, e.g. +03:00 or Z"
        )
    return value


def _flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise Problem(status=400, detail=f"{name} must be true or false")


def _limit(request: web.Request, default: int, most: int) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise Problem(status=400, detail=f"limit must be a whole number from 1 to {most}")
    return int(raw)


def _respond(
    request: web.Request, rows: list[dict[str, Any]], key: str, columns: tuple[str, ...]
) -> web.Response:
    fmt = export_format(request)
    if fmt != "json":
        return table_response(request, fmt, rows, columns, key)
    return web.json_response({key: rows})


def _mine(principal: Principal, row: dict[str, Any]) -> bool:
    return row.get("callback_owner") == principal.login or bool(
        principal.extensions & set(row.get("agents_rung") or ())
    )


async def list_missed(request: web.Request) -> web.Response:
    principal = principal_of(request)
    kind = request.query.get("kind")
    if kind and kind not in ("abandoned", "no_answer", "busy", "no_agent", "out_of_hours"):
        raise Problem(
            status=400, detail="kind must be abandoned, no_answer, busy, no_agent or out_of_hours"
        )
    f = MissedFilter(
        since=_when(request, "from"),
        until=_when(request, "to"),
        did=request.query.get("did") or None,
        kind=kind,
        agent=request.query.get("agent") or None,
        resolved=_flag(request, "resolved"),
        limit=_limit(request, 1000, 10000),
    )
    rows = await request.app[CALLBACKS].missed(f)
    if not sees_everything(principal):
        rows = [row for row in rows if _mine(principal, row)]
    return _respond(request, rows, "missed", MISSED_COLUMNS)


async def list_callbacks(request: web.Request) -> web.Response:
    principal = principal_of(request)
    owner = request.query.get("owner") or None
    if not sees_everything(principal):
        if owner not in (None, principal.login):
            raise Problem(status=403, detail="agents see only their own callbacks")
        owner = principal.login
    state = request.query.get("state") or None
    if state not in (None, "open", "resolved"):
        raise Problem(status=400, detail="state must be open or resolved")
    shared_teams = None
    if not sees_everything(principal):
        shared_teams = tuple(await request.app[CALLBACKS].teams_of(principal.login))
    f = CallbackFilter(
        owner=owner,
        shared_teams=shared_teams,
        shared=bool(_flag(request, "shared")),
        state=CallbackState(state) if state else None,
        since=_when(request, "from"),
        until=_when(request, "to"),
        did=request.query.get("did") or None,
        overdue=bool(_flag(request, "overdue")),
        limit=_limit(request, 500, 5000),
    )
    return _respond(request, await request.app[CALLBACKS].list(f), "callbacks", CALLBACK_COLUMNS)


async def _visible(request: web.Request) -> tuple[Principal, int, dict[str, Any]]:
    principal = principal_of(request)
    callback_id = int(request.match_info["id"])
    try:
        row = await request.app[CALLBACKS].get(callback_id)
    except CallbackNotFound as exc:
        raise Problem(status=404, detail=str(exc)) from None
    if (
        not may_see_agent_data(principal, row["owner"])
        and row["held_by"] != principal.login
        and not await _on_my_shared_list(request, principal, row)
    ):
        raise Problem(status=404, detail=f"no callback {callback_id}")  # not even whether it exists
    return principal, callback_id, row


async def _on_my_shared_list(
    request: web.Request, principal: Principal, row: dict[str, Any]
) -> bool:
    """An unowned callback of one of the agent's lines: they see it and may claim it."""
    return row["owner"] is None and await _on_my_line(request, principal, row)


async def _on_my_line(request: web.Request, principal: Principal, row: dict[str, Any]) -> bool:
    """The callback is of one of the agent's lines ("": every agent's)."""
    return not row["team"] or row["team"] in await request.app[CALLBACKS].teams_of(principal.login)


async def get_callback(request: web.Request) -> web.Response:
    _, _, row = await _visible(request)
    return web.json_response(row)


async def create_callback(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await json_body(request, "callback.create")
    number = normalize(body["number"], request.app[REGION])
    if number.e164 is None:
        raise Problem(
            status=422,
            title="Invalid body",
            detail=f"number: {body['number']!r} is not a phone number we can call back",
        )
    requested = None
    if body.get("requested_for"):
        requested = datetime.fromisoformat(body["requested_for"].replace("Z", "+00:00"))
    try:
        row = await request.app[CALLBACKS].create(
            number=number.e164,
            by=principal.login,
            owner=body.get("owner"),
            note=body.get("note", ""),
            requested_for=requested,
            customer_id=body.get("customer_id"),
            may_hand_over=sees_everything(principal),
        )
    except CallbackForbidden as exc:
        raise Problem(status=403, title="Forbidden", detail=str(exc)) from None
    except CallbackError as exc:
        raise Problem(status=422, title="Invalid body", detail=str(exc)) from None
    if not may_see_agent_data(principal, row["owner"]) and principal.login not in (
        row["held_by"],
        row["created_by"],
    ):
        # a colleague's callback for the number got the note: say whose, show nothing of it
        detail = f"your note was added to {row['owner']}'s open callback for this number"
        brief = {"id": row["id"], "owner": row["owner"], "state": row["state"], "detail": detail}
        return web.json_response(brief, status=202)
    return web.json_response(row, status=201)


async def _change(
    request: web.Request, action: str, body: dict[str, Any] | None = None
) -> web.Response:
    principal, callback_id, row = await _visible(request)
    callbacks = request.app[CALLBACKS]
    try:
        if action == "hold":
            changed = await callbacks.hold(callback_id, by=principal.login)
        elif action == "reassign":
            assert body is not None
            changed = await callbacks.reassign(
                callback_id, to=body["owner"], by=principal.login, reason=body.get("reason", "")
            )
        else:
            assert body is not None
            changed = await callbacks.resolve(callback_id, by=principal.login, note=body["note"])
    except CallbackConflict as exc:
        raise Problem(status=409, detail=str(exc)) from None
    except CallbackError as exc:
        raise Problem(status=422, detail=str(exc)) from None
    return web.json_response(changed)


async def hold_callback(request: web.Request) -> web.Response:
    return await _change(request, "hold")


async def reassign_callback(request: web.Request) -> web.Response:
    body = await json_body(request, "callback.reassign")
    return await _change(request, "reassign", body)


async def resolve_callback(request: web.Request) -> web.Response:
    body = await json_body(request, "callback.resolve")
    return await _change(request, "resolve", body)


async def claim_callback(request: web.Request) -> web.Response:
    """POST /api/callbacks/{id}/claim: take a callback off the line's shared list (one click);
    409 naming who when someone claimed it first."""
    principal = principal_of(request)
    callback_id = int(request.match_info["id"])
    callbacks = request.app[CALLBACKS]
    try:
        seen = await callbacks.get(callback_id)
    except CallbackNotFound as exc:
        raise Problem(status=404, detail=str(exc)) from None
    mine = may_see_agent_data(principal, seen["owner"]) or seen["held_by"] == principal.login
    if not mine and not await _on_my_line(request, principal, seen):
        raise Problem(status=404, detail=f"no callback {callback_id}")  # not even whether it exists
    try:
        row = await callbacks.claim(
            callback_id, by=principal.login, may_claim_any=sees_everything(principal)
        )
    except CallbackClaimed as exc:
        raise Problem(status=409, detail=str(exc), extensions={"owner": exc.owner}) from None
    except CallbackForbidden as exc:
        raise Problem(status=403, detail=str(exc)) from None
    except CallbackConflict as exc:
        raise Problem(status=409, detail=str(exc)) from None
    return web.json_response(row)


async def assign_callbacks(request: web.Request) -> web.Response:
    """POST /api/callbacks/assign: a supervisor gives one or many callbacks to an agent (or,
    with owner null, back to their lines' shared lists); all or nothing, each change logged."""
    principal = principal_of(request)
    if not sees_everything(principal):
        raise Problem(status=403, detail="assigning callbacks is a supervisor's call")
    body = await json_body(request, "callback.assign")
    try:
        rows = await request.app[CALLBACKS].assign(
            body["ids"], to=body["owner"], by=principal.login, reason=body.get("reason", "")
        )
    except CallbackNotFound as exc:
        raise Problem(status=404, detail=str(exc)) from None
    except CallbackConflict as exc:
        raise Problem(status=409, detail=str(exc)) from None
    except CallbackError as exc:
        raise Problem(status=422, title="Invalid body", detail=str(exc)) from None
    return web.json_response({"callbacks": rows})
