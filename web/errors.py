"""Every 4xx/5xx leaves as application/problem+json (RFC 9457); no stack trace reaches a client."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Problem(Exception):
    """Raised by handlers at the web edge for a client-visible error with a helpful detail."""

    def __init__(
        self,
        *,
        status: int,
        detail: str,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})  #: extra members, e.g. "errors" naming fields


def problem_response(
    *,
    status: int,
    detail: str,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> web.Response:
    """A problem+json response; `type` stays about:blank, so `title` is the status phrase.
    `extensions` add members (RFC 9457 section 3.2) without replacing the standard ones."""
    body = {
        **(extensions or {}),
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    response = web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={**(headers or {}), "Content-Type": f"{PROBLEM_CONTENT_TYPE}; charset=utf-8"},
    )
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# headers of an aiohttp HTTPException that still mean something once the body is ours
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn Problem, aiohttp's HTTP errors and unexpected exceptions into problem+json."""
    try:
        response = await handler(request)
    except Problem as exc:
        return problem_response(
            status=exc.status,
            title=exc.title,
            detail=exc.detail,
            headers=exc.headers,
            extensions=exc.extensions,
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like pass through untouched
        return problem_response(
            status=exc.status,
            detail=_detail_of(exc),
            headers={k: exc.headers[k] for k in _KEPT_HEADERS if k in exc.headers},
        )
    except Exception:
        # the path only: a query string may hold a token (/login?token=...)
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return problem_response(
            status=500, detail="The server failed to handle this request; see the server log."
        )
    return response


def _detail_of(exc: web.HTTPException) -> str:
    """aiohttp's default body is "404: Not Found"; say something a person can act on instead."""
    text = exc.text or ""
    default = f"{exc.status}: {exc.reason}"
    if text and text != default:
        return text
    if exc.status == 404:
        return "There is nothing at this address."
    if exc.status == 405:
        return "This address does not accept that method; see the Allow header."
    return exc.reason or HTTPStatus(exc.status).phrase
