"""Builds the aiohttp application: shared resources on AppKeys, middlewares, routes."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from cti.auth.memory import MemoryAuthStore
from cti.auth.service import AuthService
from cti.calls.clicktocall import ClickToCall
from cti.config import Settings
from cti.customers.service import DirectoryServices
from cti.pops.hub import FeedHub
from cti.routing.service import RoutingService
from web import agents_api, api, calendars_api, console_api, customers_api, routing_api
from web.api import (
    HEALTH,
    LIVE_CALLS,
    METRICS,
    RECENT_CALLS,
    Health,
    LiveCalls,
    Metrics,
    RecentCalls,
)
from web.auth import (
    AUTH,
    EDGE,
    EdgeSecurity,
    auth_middleware,
    login_page,
    login_submit,
    logout,
)
from web.errors import problem_middleware
from web.feed_access import FEED_GUARD, FeedGuard
from web.routing_api import ROUTING
from web.ws import BUS, HUB, WS_CONNECTIONS, WS_LIMITS, LiveBus, WsLimits, close_all, websocket

STATIC_DIR = Path(__file__).parent / "static"

SETTINGS = web.AppKey("settings", Settings)

# same-origin everything; ws: is covered by 'self' in CSP level 3 browsers
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: /login?token=... must never reach a log file."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            request.remote,
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
        )


def create_app(
    *,
    settings: Settings,
    bus: LiveBus,
    live_calls: LiveCalls,
    recent_calls: RecentCalls,
    health: Health,
    metrics: Metrics,
    auth: AuthService | None = None,
    ws_limits: WsLimits | None = None,
    hub: FeedHub | None = None,
    clicktocall: ClickToCall | None = None,
    directory: DirectoryServices | None = None,
    routing: RoutingService | None = None,
) -> web.Application:
    """The console, API and feed; serve it with web.run_app or an AppRunner on settings.http_*.

    `auth` decides who a request is (`cti serve` passes one on the database); without it only
    the break-glass tokens of `settings.api_tokens` sign in, with sessions kept in memory.
    `hub` routes what `bus` carries to the websockets (`cti serve` builds one with the pops;
    without it, an in-memory one listening to `bus`); `clicktocall` places calls (AMI).
    """
    app = web.Application(
        middlewares=[problem_middleware, auth_middleware],
        # enforced here, not left to whoever starts the runner
        handler_args={"access_log_class": PathOnlyAccessLogger},
    )
    app[SETTINGS] = settings
    app[BUS] = bus
    app[LIVE_CALLS] = live_calls
    app[RECENT_CALLS] = recent_calls
    app[HEALTH] = health
    app[METRICS] = metrics
    app[AUTH] = (
        auth
        if auth is not None
        else AuthService(store=MemoryAuthStore(), break_glass_tokens=settings.tokens())
    )
    app[EDGE] = EdgeSecurity.from_settings(settings)
    app[WS_LIMITS] = (
        ws_limits if ws_limits is not None else WsLimits(queue_size=settings.ws_queue_size)
    )
    if hub is None:
        hub = FeedHub(live_calls=live_calls, grace=settings.ws_resume_seconds)
        bus.listen(hub.publish)
    app[HUB] = hub
    app[WS_CONNECTIONS] = set()
    guard = app[FEED_GUARD] = FeedGuard()
    unlisten = app[AUTH].access.listen(guard.changed)

    async def stop_listening(app: web.Application) -> None:
        unlisten()

    app.on_cleanup.append(stop_listening)
    app.on_shutdown.append(close_all)
    app.on_response_prepare.append(_security_headers)
    _add_routes(app)
    console_api.add_routes(app, str(STATIC_DIR), clicktocall)
    if directory is not None:  # the customer directory: customers, agents, caller lookup
        customers_api.add_routes(app, directory)
        agents_api.add_routes(app)
    if routing is not None:
        app[ROUTING] = routing
        routing_api.add_routes(app)
        calendars_api.add_routes(app)
    return app


def _add_routes(app: web.Application) -> None:
    app.router.add_get("/", live_page)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_get("/logout", logout)
    app.router.add_post("/logout", logout)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/api/calls", api.recent_calls)
    app.router.add_get("/api/calls/live", api.live_calls)
    app.router.add_get("/api/me", api.me)
    app.router.add_get("/api/openapi.json", api.openapi)
    app.router.add_get("/docs/api", api_page)
    app.router.add_get("/health/live", api.health_live)
    app.router.add_get("/health/ready", api.health_ready)
    app.router.add_get("/metrics", api.metrics)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False, show_index=False)


async def api_page(request: web.Request) -> web.StreamResponse:
    """GET /docs/api: the OpenAPI description, readable (rendered by /static/api.js)."""
    return web.FileResponse(STATIC_DIR / "api.html", headers={"Cache-Control": "no-cache"})


async def live_page(request: web.Request) -> web.StreamResponse:
    """GET /: the live calls board."""
    return web.FileResponse(STATIC_DIR / "live.html", headers={"Cache-Control": "no-cache"})


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # "no-referrer" would make Chromium send "Origin: null" on form posts
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
