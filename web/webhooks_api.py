"""HTTP edge of webhooks: subscriptions and their delivery logs, administrators only."""

from __future__ import annotations

from aiohttp import web

from cti.webhooks.service import SubscriptionNotFound, WebhookError, WebhookService
from web.auth import require_admin
from web.bodies import json_body
from web.errors import Problem

WEBHOOKS = web.AppKey("webhooks", WebhookService)

_ID = r"{id:[0-9]{1,9}}"


def setup(app: web.Application, *, webhooks: WebhookService) -> None:
    app[WEBHOOKS] = webhooks
    app.router.add_get("/api/webhooks", list_webhooks)
    app.router.add_post("/api/webhooks", create_webhook)
    app.router.add_get(f"/api/webhooks/{_ID}", get_webhook)
    app.router.add_delete(f"/api/webhooks/{_ID}", delete_webhook)
    app.router.add_get(f"/api/webhooks/{_ID}/deliveries", list_deliveries)


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response


async def list_webhooks(request: web.Request) -> web.Response:
    """GET /api/webhooks: every subscription, its deliveries by state and last error."""
    require_admin(request)
    return _no_store(web.json_response({"webhooks": await request.app[WEBHOOKS].listing()}))


async def create_webhook(request: web.Request) -> web.Response:
    """POST /api/webhooks: 201 with the subscription and its secret, shown this once."""
    principal = require_admin(request)
    body = await json_body(request, "webhook.create")
    try:
        view, secret = await request.app[WEBHOOKS].add(
            body["url"],
            body["events"],
            secret=body.get("secret"),
            description=body.get("description", ""),
            actor=principal.login,
        )
    except WebhookError as exc:
        raise Problem(
            status=422, title="Invalid body", detail=f"{exc.field or '(body)'}: {exc}"
        ) from None
    response = web.json_response(
        {**view, "secret": secret}, status=201, headers={"Location": f"/api/webhooks/{view['id']}"}
    )
    return _no_store(response)


async def get_webhook(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        found = await request.app[WEBHOOKS].get(int(request.match_info["id"]))
    except SubscriptionNotFound as exc:
        raise Problem(status=404, detail=str(exc)) from None
    return _no_store(web.json_response(found))


async def delete_webhook(request: web.Request) -> web.Response:
    """DELETE /api/webhooks/{id}: the subscription and its pending deliveries."""
    require_admin(request)
    try:
        await request.app[WEBHOOKS].remove(int(request.match_info["id"]))
    except SubscriptionNotFound as exc:
        raise Problem(status=404, detail=str(exc)) from None
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    """GET /api/webhooks/{id}/deliveries?state=&limit=: the delivery log, newest first."""
    require_admin(request)
    state = request.query.get("state") or None
    raw = request.query.get("limit", "100")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise Problem(status=400, detail="limit must be a whole number from 1 to 1000")
    try:
        rows = await request.app[WEBHOOKS].deliveries(
            int(request.match_info["id"]), limit=int(raw), state=state
        )
    except SubscriptionNotFound as exc:
        raise Problem(status=404, detail=str(exc)) from None
    except WebhookError as exc:
        raise Problem(status=400, detail=str(exc)) from None
    return _no_store(web.json_response({"deliveries": rows}))
