"""Who may use the console and API: bearer tokens, login sessions in an HttpOnly cookie."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from html import escape
from typing import Literal
from urllib.parse import urlsplit

from aiohttp import web

from web.errors import Handler, problem_response

log = logging.getLogger(__name__)

SESSION_COOKIE = "cti_session"
SESSION_TTL_SECONDS = 12 * 3600

AuthMethod = Literal["bearer", "session"]

#: paths anyone may fetch: probes, metrics, the login page and the two assets it loads
PUBLIC_PATHS = frozenset(
    {
        "/health/live",
        "/health/ready",
        "/metrics",
        "/login",
        "/logout",
        "/static/i18n.js",
        "/static/live.css",
    }
)


class SessionStore:
    """Server-side login sessions: a random id in the cookie, its expiry here."""

    def __init__(
        self,
        *,
        ttl: float = SESSION_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_sessions: int = 10_000,
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._max = max_sessions
        self._expiry: dict[str, float] = {}

    def create(self) -> str:
        self._purge()
        if len(self._expiry) >= self._max:
            # the oldest session goes: a flood of logins must not grow memory without bound
            oldest = min(self._expiry, key=self._expiry.__getitem__)
            del self._expiry[oldest]
        session_id = secrets.token_urlsafe(32)
        self._expiry[session_id] = self._clock() + self._ttl
        return session_id

    def is_valid(self, session_id: str) -> bool:
        expiry = self._expiry.get(session_id)
        if expiry is None:
            return False
        if expiry <= self._clock():
            del self._expiry[session_id]
            return False
        return True

    def drop(self, session_id: str) -> None:
        self._expiry.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self) -> None:
        now = self._clock()
        for session_id in [s for s, exp in self._expiry.items() if exp <= now]:
            del self._expiry[session_id]


class Authenticator:
    """Checks bearer tokens (read once at start) and session cookies."""

    def __init__(self, *, tokens: Iterable[str], sessions: SessionStore) -> None:
        self._tokens = tuple(t.encode("utf-8") for t in tokens if t)
        self.sessions = sessions
        if not self._tokens:
            log.warning("no API tokens configured: nobody can sign in (set CTI_API_TOKENS)")

    def token_ok(self, token: str) -> bool:
        offered = token.encode("utf-8")
        ok = False
        for known in self._tokens:  # no early exit: every token costs the same comparison
            ok |= hmac.compare_digest(offered, known)
        return ok and bool(offered)

    def identify(self, request: web.Request) -> AuthMethod | None:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_ok(credentials.strip()):
            return "bearer"
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id and self.sessions.is_valid(session_id):
            return "session"
        return None


AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
AUTH_METHOD = web.RequestKey("auth_method", str)


def same_origin(request: web.Request) -> bool | None:
    """True if Origin names the host this request was sent to, False if not, None if absent."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return _host_port(parts.netloc, parts.scheme) == _host_port(request.host, parts.scheme)


def _host_port(netloc: str, scheme: str) -> str:
    default = "443" if scheme == "https" else "80"
    parts = urlsplit(f"//{netloc.lower()}")
    return f"{parts.hostname}:{parts.port or default}"


def _wants_page(request: web.Request) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    if request.path.startswith("/api/") or request.path == "/ws":
        return False
    return "text/html" in request.headers.get("Accept", "")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pages redirect to /login, API calls get 401 problem+json; public paths pass."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    method = request.app[AUTHENTICATOR].identify(request)
    if method is None:
        if _wants_page(request):
            return web.Response(status=302, headers={"Location": "/login"})
        return problem_response(
            status=401,
            detail="Sign in at /login, or send the header 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="cti"'},
        )
    request[AUTH_METHOD] = method
    return await handler(request)


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login: the form; with ?token= (the demo's clickable link) it signs in directly."""
    auth = request.app[AUTHENTICATOR]
    if "token" in request.query:
        if auth.token_ok(request.query["token"]):
            return _signed_in(request, auth)
        return _rejected(request)
    if auth.identify(request) == "session":
        return web.Response(status=303, headers={"Location": "/"})
    return _login_html(status=200, failed=False)


async def login_submit(request: web.Request) -> web.StreamResponse:
    """POST /login from the form."""
    if same_origin(request) is False:
        return problem_response(status=403, detail="The login form must be sent from this site.")
    form = await request.post()
    token = form.get("token")
    auth = request.app[AUTHENTICATOR]
    if isinstance(token, str) and auth.token_ok(token.strip()):
        return _signed_in(request, auth)
    return _rejected(request)


async def logout(request: web.Request) -> web.StreamResponse:
    """GET or POST /logout: forget the session and clear the cookie."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        request.app[AUTHENTICATOR].sessions.drop(session_id)
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")
    return response


def _signed_in(request: web.Request, auth: Authenticator) -> web.Response:
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        auth.sessions.drop(old)  # a fresh id on every login: no session fixation
    response = web.Response(status=303, headers={"Location": "/"})
    response.set_cookie(
        SESSION_COOKIE,
        auth.sessions.create(),
        max_age=SESSION_TTL_SECONDS,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    log.info("console sign-in from %s", request.remote)
    return response


def _rejected(request: web.Request) -> web.Response:
    log.warning("rejected sign-in from %s: unknown token", request.remote)
    if "text/html" in request.headers.get("Accept", ""):
        return _login_html(status=401, failed=True)
    return problem_response(status=401, detail="That token is not accepted.")


def _login_html(*, status: int, failed: bool) -> web.Response:
    error = (
        f'<p class="login-error" role="alert" data-i18n="login.invalid">'
        f"{escape('That token is not accepted.')}</p>"
        if failed
        else ""
    )
    return web.Response(
        status=status,
        text=_LOGIN_TEMPLATE.replace("{error}", error),
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


# English in the markup for browsers without JavaScript; i18n.js swaps in Russian when chosen
_LOGIN_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title data-i18n="login.title">Sign in · CTI</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/live.css">
<script src="/static/i18n.js" defer></script>
</head>
<body class="login-body">
<main class="login-box">
  <div class="lang-switch" role="group" aria-label="Language">
    <button type="button" data-lang="ru">RU</button><button type="button" data-lang="en">EN</button>
  </div>
  <h1 data-i18n="login.heading">Sign in to the call board</h1>
  <form method="post" action="/login">
    <label for="token" data-i18n="login.token">Access token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
    {error}
    <button type="submit" data-i18n="login.submit">Sign in</button>
  </form>
  <p class="login-hint" data-i18n="login.hint">Ask your administrator for a token.</p>
</main>
</body>
</html>
"""
