"""The agent console and the supervisor's live view (pages), and click-to-call.

The pages are static files that talk to the API and to /ws; nothing about a caller is put into
them on the server. Click-to-call always rings the signed-in person's own phone, taken from the
directory, never one named in the request."""

from __future__ import annotations

import re

from aiohttp import web

from cti.auth import policy
from cti.auth.principal import Principal
from cti.calls.clicktocall import ClickToCall, ClickToCallError, Failure
from web.auth import AUTH, principal_of
from web.bodies import json_body
from web.errors import Problem

CLICKTOCALL = web.AppKey("clicktocall", ClickToCall)

#: what an Idempotency-Key may look like (a UUID, a ULID, a counter with a prefix...)
_KEY = re.compile(r"[A-Za-z0-9._:-]{8,128}")

_STATUS = {
    Failure.BAD_NUMBER: 422,
    Failure.KEY_REUSED: 422,
    Failure.NO_PHONE: 409,
    Failure.BUSY: 409,
    Failure.NOT_CONNECTED: 503,
    Failure.REFUSED: 502,
    Failure.UNKNOWN: 504,
}


def add_routes(app: web.Application, static_dir: str, clicktocall: ClickToCall | None) -> None:
    async def console(request: web.Request) -> web.StreamResponse:
        """GET /console: the agent's console (pop, state, callbacks, click-to-call, calls)."""
        principal_of(request)
        return web.FileResponse(f"{static_dir}/console.html", headers={"Cache-Control": "no-cache"})

    async def supervisor(request: web.Request) -> web.StreamResponse:
        """GET /supervisor: calls, agents, duty and callbacks now (supervisors and admins)."""
        if not policy.sees_everything(principal_of(request)):
            return web.Response(
                status=403,
                text=_FORBIDDEN,
                content_type="text/html",
                headers={"Cache-Control": "no-store"},
            )
        return web.FileResponse(
            f"{static_dir}/supervisor.html", headers={"Cache-Control": "no-cache"}
        )

    app.router.add_get("/console", console)
    app.router.add_get("/supervisor", supervisor)
    app.router.add_post("/api/originate", originate)
    if clicktocall is not None:
        app[CLICKTOCALL] = clicktocall


async def _device_of(request: web.Request, principal: Principal) -> str:
    person = await request.app[AUTH].store.person(principal.login)
    if person is None:
        return ""
    if person.device:
        return person.device
    return f"PJSIP/{person.extension}" if person.extension else ""


async def originate(request: web.Request) -> web.Response:
    """POST /api/originate {"number": "..."} with `Idempotency-Key`: ring my phone, then the
    number. 202 when the PBX took it (the same answer, with `replayed`, for a repeated key)."""
    principal = principal_of(request)
    clicktocall = request.app.get(CLICKTOCALL)
    if clicktocall is None:
        raise Problem(status=503, detail="Click-to-call needs the PBX connection (cti serve).")
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise Problem(
            status=428,
            detail="Send an Idempotency-Key header (e.g. a random UUID per click): a repeated "
            "request with the same key never calls twice.",
        )
    if not _KEY.fullmatch(key):
        raise Problem(status=400, detail="Idempotency-Key: 8-128 letters, digits and . _ : -")
    body = await json_body(request, "originate")
    device = await _device_of(request, principal)
    name = principal.name or principal.login
    try:
        placed = await clicktocall.place(
            login=principal.login,
            device=device,
            number=body["number"],
            key=key,
            caller_id=f'"{_cid(name)}" <{_cid(device.rpartition("/")[2])}>' if device else "",
        )
    except ClickToCallError as exc:
        raise Problem(status=_STATUS[exc.failure], detail=str(exc)) from None
    return web.json_response(placed.to_json(), status=202, headers={"Cache-Control": "no-store"})


def _cid(text: str) -> str:
    """Safe inside an AMI CallerID header: no quotes, brackets or line breaks."""
    return re.sub(r'["<>\r\n\x00]', "", text)[:60]


_FORBIDDEN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Supervisors only · CTI</title>
<link rel="stylesheet" href="/static/live.css"></head>
<body class="login-body"><main class="login-box"><h1>Supervisors and administrators only</h1>
<p><a href="/console">Open your console</a></p></main></body></html>
"""

__all__ = ["CLICKTOCALL", "add_routes", "originate"]
