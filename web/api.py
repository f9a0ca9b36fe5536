"""Thin JSON handlers: recent and live calls (what the principal may see), who am I, the
OpenAPI description, health probes, Prometheus metrics."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from cti.auth import policy
from web.auth import principal_of
from web.errors import Problem

log = logging.getLogger(__name__)

LiveCalls = Callable[[], list[dict[str, Any]]]
#: (limit, involving): the newest `limit` finished calls; `involving` None means every call,
#: else only those involving one of these extensions (see CallRepository.list_calls)
RecentCalls = Callable[[int, frozenset[str] | None], Awaitable[list[dict[str, Any]]]]
Health = Callable[[], dict[str, Any]]
Metrics = Callable[[], str]

LIVE_CALLS = web.AppKey[LiveCalls]("live_calls")
RECENT_CALLS = web.AppKey[RecentCalls]("recent_calls")
HEALTH = web.AppKey[Health]("health")
METRICS = web.AppKey[Metrics]("metrics")

LIMIT_DEFAULT = 50
LIMIT_MAX = 1000

_DIGITS = re.compile(r"[0-9]{1,4}")

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: the API description: schemas/openapi.json in the source tree (the single copy)
OPENAPI_PATH = Path(__file__).resolve().parents[1] / "schemas" / "openapi.json"


def parse_limit(raw: str | None) -> int:
    """?limit=N: an integer 1..1000, 50 when absent."""
    if raw is None:
        return LIMIT_DEFAULT
    # plain ASCII digits only: int() would also take "+5", "1_000" and other scripts' digits
    limit = int(raw) if _DIGITS.fullmatch(raw) else 0
    if not 1 <= limit <= LIMIT_MAX:
        shown = raw if len(raw) <= 20 else raw[:20] + "…"
        raise Problem(
            status=400,
            title="Invalid limit",
            detail=f"limit must be a whole number from 1 to {LIMIT_MAX}; got {shown!r}.",
        )
    return limit


async def recent_calls(request: web.Request) -> web.Response:
    """GET /api/calls?limit=N: the last N finished calls the caller may see, newest first."""
    limit = parse_limit(request.query.get("limit"))
    involving = policy.visible_extensions(principal_of(request))
    calls = await request.app[RECENT_CALLS](limit, involving)
    return web.json_response({"calls": calls}, headers={"Cache-Control": "no-store"})


async def live_calls(request: web.Request) -> web.Response:
    """GET /api/calls/live: calls in progress now that the caller may see."""
    principal = principal_of(request)
    calls = [c for c in request.app[LIVE_CALLS]() if policy.may_see_call(principal, c)]
    return web.json_response({"calls": calls}, headers={"Cache-Control": "no-store"})


async def me(request: web.Request) -> web.Response:
    """GET /api/me: who the server takes this request for."""
    return web.json_response(principal_of(request).to_json(), headers={"Cache-Control": "no-store"})


async def openapi(request: web.Request) -> web.StreamResponse:
    """GET /api/openapi.json: the OpenAPI 3.1 description (public: it holds no data)."""
    if not OPENAPI_PATH.is_file():
        raise Problem(
            status=404,
            detail="The OpenAPI description ships in the source tree (schemas/openapi.json); "
            "this installation does not have it.",
        )
    return web.FileResponse(
        OPENAPI_PATH, headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
    )


async def health_live(request: web.Request) -> web.Response:
    """GET /health/live: the process answers HTTP."""
    return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def health_ready(request: web.Request) -> web.Response:
    """GET /health/ready: 200 when every dependency reports ok, else 503 with the details."""
    try:
        report = request.app[HEALTH]()
    except Exception:
        log.exception("health check failed")
        report = {"status": "error", "detail": "the health check itself failed; see the log"}
    status = 200 if report.get("status") == "ok" else 503
    return web.json_response(report, status=status, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text exposition format."""
    return web.Response(
        body=request.app[METRICS]().encode("utf-8"),
        headers={"Content-Type": PROMETHEUS_CONTENT_TYPE, "Cache-Control": "no-store"},
    )
