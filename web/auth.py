"""Who may use the console and API: login + password sessions (HttpOnly cookie), bearer tokens,
Origin checks, and the client address and scheme as seen through trusted proxies."""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from aiohttp import web

from cti.auth import policy
from cti.auth.principal import Principal, Role, Scope, Via
from cti.auth.service import AuthService, LoginRefused, LoginThrottled, SignedIn
from cti.config import Settings
from web.errors import Handler, Problem, problem_response

log = logging.getLogger(__name__)

SESSION_COOKIE = "cti_session"

#: paths anyone may fetch: probes, metrics, the login page and its two assets, the API description
PUBLIC_PATHS = frozenset(
    {
        "/health/live",
        "/health/ready",
        "/metrics",
        "/login",
        "/logout",
        "/static/i18n.js",
        "/static/live.css",
        "/api/openapi.json",
    }
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: longest login and password the form takes (longer: refused before any hashing)
_MAX_LOGIN, _MAX_PASSWORD = 64, 1024

AUTH = web.AppKey("auth", AuthService)
PRINCIPAL = web.RequestKey("principal", Principal)
#: "bearer" or "session"; kept for handlers written before PRINCIPAL (prefer principal_of())
AUTH_METHOD = web.RequestKey("auth_method", str)


@dataclass(frozen=True)
class EdgeSecurity:
    """Settings of the web edge: who may embed us, whom we believe about the client."""

    allowed_origins: frozenset[str]
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    cookie_secure: bool | None  #: None: auto (HTTPS directly or via a trusted proxy)

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeSecurity:
        origins = frozenset(_origin_key(o) for o in settings.allowed_origins if o.strip())
        proxies = tuple(
            ipaddress.ip_network(p.strip(), strict=False)
            for p in settings.trusted_proxies
            if p.strip()
        )
        return cls(origins - {None}, proxies, settings.secure_cookie_mode())  # type: ignore[arg-type]

    def trusts(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)


EDGE = web.AppKey("edge_security", EdgeSecurity)


# --- where a request comes from -------------------------------------------------------------


def client_address(request: web.Request) -> str:
    """The client's address: the peer, or through trusted proxies the last X-Forwarded-For hop
    that is not one of them (a client can prepend anything; only what our proxies add counts)."""
    edge = request.app[EDGE]
    peer = request.remote or ""
    if not edge.trusts(peer):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not edge.trusts(hop):
            return hop
    return hops[0] if hops else peer


def is_https(request: web.Request) -> bool:
    if request.secure:
        return True
    edge = request.app[EDGE]
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https" and edge.trusts(request.remote)


def _origin_key(origin: str) -> str | None:
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


def origin_allowed(request: web.Request) -> bool | None:
    """None without an Origin header; True for this server's own host or an allowed origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    key = _origin_key(origin)
    if key is None:
        return False
    if key in request.app[EDGE].allowed_origins:
        return True
    scheme, _, hostport = key.partition("://")
    return hostport == _host_port(request.host, scheme)


def _host_port(host: str, scheme: str) -> str:
    default = "443" if scheme == "https" else "80"
    try:
        parts = urlsplit(f"//{host.lower()}")
        return f"{parts.hostname}:{parts.port or default}"
    except ValueError:
        return ""


# --- who is asking ---------------------------------------------------------------------------


async def identify(request: web.Request) -> Principal | None:
    """From the credentials only: a Bearer header if present (no fallback), else the cookie."""
    auth = request.app[AUTH]
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme:
        if scheme.lower() != "bearer":
            return None
        return await auth.bearer(credentials.strip())
    session = request.cookies.get(SESSION_COOKIE)
    return await auth.session(session) if session else None


def session_ends_at(request: web.Request) -> float | None:
    """When the request's session expires (None for a Bearer token: it has no expiry)."""
    if request.headers.get("Authorization"):
        return None
    session = request.cookies.get(SESSION_COOKIE)
    return request.app[AUTH].session_ends_at(session) if session else None


def principal_of(request: web.Request) -> Principal:
    """The authenticated principal (set by auth_middleware on every non-public path)."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise Problem(status=401, detail="Sign in first.")
    return principal


def require_admin(request: web.Request) -> Principal:
    """For handlers that change configuration: administrators with the admin scope."""
    principal = principal_of(request)
    if not policy.may_change_configuration(principal):
        raise Problem(status=403, detail="Only administrators may change the configuration.")
    return principal


def _wants_page(request: web.Request) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    if request.path.startswith("/api/") or request.path == "/ws":
        return False
    return "text/html" in request.headers.get("Accept", "")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every path but the public ones needs a principal; token scopes and CSRF checked here."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    principal = await identify(request)
    if principal is None:
        if _wants_page(request):
            return web.Response(status=302, headers={"Location": "/login"})
        return problem_response(
            status=401,
            detail="Sign in at /login, or send the header 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="cti"'},
        )
    safe = request.method in SAFE_METHODS
    needed = Scope.READ if safe else Scope.WRITE
    if not policy.may_use(principal, needed):
        return problem_response(
            status=403, detail=f"This token lacks the '{needed.value}' scope this request needs."
        )
    if principal.via is Via.SESSION and not safe and origin_allowed(request) is not True:
        # SameSite=Strict already keeps the cookie off cross-site requests; this is the second lock
        return problem_response(
            status=403, detail="This request must come from a page of this site."
        )
    request[PRINCIPAL] = principal
    request[AUTH_METHOD] = "session" if principal.via is Via.SESSION else "bearer"
    try:
        return await handler(request)
    except policy.Denied as exc:
        return problem_response(status=403, detail=f"Not allowed: {exc}.")


# --- signing in and out ----------------------------------------------------------------------


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login: the form; with ?token= (the demo's link, break-glass tokens) it signs in."""
    auth = request.app[AUTH]
    if "token" in request.query:
        try:
            signed = await auth.sign_in_with_token(
                request.query["token"], address=client_address(request)
            )
        except LoginThrottled as exc:
            return _throttled(request, exc)
        except LoginRefused:
            return _rejected(request, "login.invalid_token", "That token is not accepted.")
        return _signed_in(request, signed)
    session = request.cookies.get(SESSION_COOKIE)
    known = await auth.session(session) if session else None
    if known is not None:
        return web.Response(status=303, headers={"Location": landing(known)})
    # ?ended=1: a page whose feed was closed with 4401 (sign-out, expiry, disabled, revoked)
    return _login_html(status=200, ended=request.query.get("ended") == "1")


async def login_submit(request: web.Request) -> web.StreamResponse:
    """POST /login with `login` and `password` (form fields)."""
    if origin_allowed(request) is False:
        return problem_response(status=403, detail="The login form must be sent from this site.")
    try:
        form = await request.post()
    except ValueError:  # e.g. multipart/form-data without a boundary
        return problem_response(status=400, detail="Send the sign-in form as a form body.")
    login, password = form.get("login"), form.get("password")
    if not isinstance(login, str) or not isinstance(password, str):
        return problem_response(status=400, detail="Send the form fields 'login' and 'password'.")
    login = login.strip()
    if not login or len(login) > _MAX_LOGIN or len(password) > _MAX_PASSWORD:
        return _rejected(request, "login.invalid", "Wrong login or password.", login=login)
    try:
        signed = await request.app[AUTH].sign_in(login, password, address=client_address(request))
    except LoginThrottled as exc:
        return _throttled(request, exc, login=login)
    except LoginRefused:
        return _rejected(request, "login.invalid", "Wrong login or password.", login=login)
    return _signed_in(request, signed)


async def logout(request: web.Request) -> web.StreamResponse:
    """GET or POST /logout: end the session on the server and clear the cookie."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        await request.app[AUTH].sign_out(session)
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")
    return response


def landing(principal: Principal) -> str:
    """Where a person lands after signing in: an agent on their console, others on the board."""
    return "/console" if principal.role is Role.AGENT else "/"


def _signed_in(request: web.Request, signed: SignedIn) -> web.Response:
    response = web.Response(status=303, headers={"Location": landing(signed.principal)})
    mode = request.app[EDGE].cookie_secure
    response.set_cookie(
        SESSION_COOKIE,
        signed.session_token,  # a fresh token at every login: no session fixation
        max_age=max(1, int(request.app[AUTH].policy.ttl)),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=is_https(request) if mode is None else mode,
    )
    return response


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def _rejected(request: web.Request, key: str, text: str, *, login: str = "") -> web.Response:
    if _wants_html(request):
        return _login_html(status=401, error=(key, text), login=login)
    return problem_response(status=401, detail=text)


def _throttled(request: web.Request, exc: LoginThrottled, *, login: str = "") -> web.Response:
    seconds = max(1, math.ceil(exc.retry_after))
    text = f"Too many failed attempts. Try again in {seconds} s."
    headers = {"Retry-After": str(seconds)}
    if _wants_html(request):
        response = _login_html(status=429, error=("login.throttled", text), login=login)
        response.headers.update(headers)
        return response
    return problem_response(status=429, detail=text, headers=headers)


def _login_html(
    *, status: int, error: tuple[str, str] | None = None, login: str = "", ended: bool = False
) -> web.Response:
    shown = (
        f'<p class="login-error" role="alert" data-i18n="{error[0]}">{escape(error[1])}</p>'
        if error
        else _ENDED
        if ended
        else ""
    )
    html = _LOGIN_TEMPLATE.replace("{error}", shown).replace("{login}", escape(login, quote=True))
    return web.Response(
        status=status,
        text=html,
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


_ENDED = (
    '<p class="login-ended" role="status" data-i18n="login.ended">'
    "Your access ended (signed out, expired or disabled). Sign in again.</p>"
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
    <label for="login" data-i18n="login.login">Login</label>
    <input id="login" name="login" type="text" value="{login}" autocomplete="username" maxlength="64" required autofocus>
    <label for="password" data-i18n="login.password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" maxlength="1024" required>
    {error}
    <button type="submit" data-i18n="login.submit">Sign in</button>
  </form>
  <p class="login-hint" data-i18n="login.hint">Ask your administrator for an account.</p>
</main>
</body>
</html>
"""

__all__ = [
    "AUTH",
    "AUTH_METHOD",
    "EDGE",
    "PRINCIPAL",
    "PUBLIC_PATHS",
    "SESSION_COOKIE",
    "EdgeSecurity",
    "auth_middleware",
    "client_address",
    "identify",
    "is_https",
    "login_page",
    "login_submit",
    "logout",
    "origin_allowed",
    "principal_of",
    "require_admin",
]
