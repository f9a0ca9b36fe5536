"""HTTP edge of the supervisor reports: the /reports page and GET /api/reports/... (JSON, CSV or XLSX).

Thin: parameters to a `ReportQuery`, the signed-in principal to a `Viewer` (an agent gets only
their own figures whatever the query says), `ReportError` to a problem+json naming the parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from cti.auth.policy import sees_everything
from cti.auth.principal import Principal
from cti.missed.callbacks import Callbacks, MissedFilter
from cti.reports.period import ReportError
from cti.reports.service import ReportDenied, ReportQuery, Reports, Viewer
from web.auth import principal_of
from web.errors import Problem
from web.exports import export_format, table_response

REPORTS = web.AppKey("reports", Reports)
REPORT_CALLBACKS = web.AppKey("report_callbacks", Callbacks)

_KINDS = ("abandoned", "no_answer", "busy", "no_agent", "out_of_hours")
_MISSED_COLUMNS = (
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


def setup(
    app: web.Application,
    *,
    reports: Reports,
    callbacks: Callbacks | None,
    static_dir: Path | None = None,
) -> None:
    app[REPORTS] = reports
    pages = static_dir or Path(__file__).parent / "static"
    if callbacks is not None:
        app[REPORT_CALLBACKS] = callbacks

    async def page(request: web.Request) -> web.StreamResponse:
        """GET /reports: the report page; its figures come from the API, scoped per user."""
        principal_of(request)
        return web.FileResponse(pages / "reports.html", headers={"Cache-Control": "no-cache"})

    app.router.add_get("/reports", page)
    app.router.add_get("/api/reports/summary", summary)
    app.router.add_get("/api/reports/breakdown", breakdown)
    app.router.add_get("/api/reports/missed", missed)


def _viewer(principal: Principal) -> Viewer:
    return Viewer(
        login=principal.login,
        everything=sees_everything(principal),
        extensions=principal.extensions,
    )


def _text(request: web.Request, name: str) -> str | None:
    value = request.query.get(name) or None
    if value is not None and (len(value) > 64 or not value.isprintable()):
        raise _bad(ReportError(name, "at most 64 printable characters"))
    return value


def _query(request: web.Request) -> ReportQuery:
    return ReportQuery(
        period=_text(request, "period"),
        on=_text(request, "date"),
        start=_text(request, "from"),
        end=_text(request, "to"),
        did=_text(request, "did"),
        agent=_text(request, "agent"),
    )


def _bad(exc: ReportError) -> Problem:
    return Problem(
        status=400,
        detail=f"{exc.parameter}: {exc.message}",
        extensions={"errors": [{"field": exc.parameter, "reason": exc.message}]},
    )


def _stem(result: dict[str, Any], what: str) -> str:
    return f"{what}-{result['period']['from']}-{result['period']['to']}"


async def _run(request: web.Request, work: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = await work
    except ReportError as exc:
        raise _bad(exc) from None
    except ReportDenied as exc:
        raise Problem(status=403, detail=f"{exc}; leave agent empty to see yours") from None
    return result


async def summary(request: web.Request) -> web.Response:
    """GET /api/reports/summary: every KPI of the period in one object."""
    fmt = export_format(request)
    result = await _run(
        request, request.app[REPORTS].summary(_query(request), _viewer(principal_of(request)))
    )
    if fmt != "json":
        row = {"from": result["period"]["from"], "to": result["period"]["to"], **result["figures"]}
        return table_response(request, fmt, [row], list(row), _stem(result, "summary"))
    return web.json_response(result, headers={"Cache-Control": "no-store"})


async def breakdown(request: web.Request) -> web.Response:
    """GET /api/reports/breakdown?by=agent|did|team|hour|day: one row per group."""
    fmt = export_format(request)
    by = request.query.get("by")
    if not by:
        raise _bad(ReportError("by", "say how to split: agent, did, team, hour or day"))
    result = await _run(
        request, request.app[REPORTS].breakdown(_query(request), _viewer(principal_of(request)), by)
    )
    if fmt != "json":
        rows = [{k: v for k, v in row.items() if k != "goals"} for row in result["rows"]]
        columns = list(rows[0]) if rows else ["label"]
        return table_response(request, fmt, rows, columns, _stem(result, f"by-{result['by']}"))
    return web.json_response(result, headers={"Cache-Control": "no-store"})


#: most missed calls one request returns (newest first)
MAX_MISSED = 10_000


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if not raw:
        return MAX_MISSED
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_MISSED:
        raise _bad(ReportError("limit", f"a whole number from 1 to {MAX_MISSED}"))
    return int(raw)


def _flag(request: web.Request, name: str) -> bool | None:
    raw = (request.query.get(name) or "").lower()
    if raw == "":
        return None
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise _bad(ReportError(name, "use true or false"))


async def missed(request: web.Request) -> web.Response:
    """GET /api/reports/missed: the period's missed calls, filtered by agent, DID, kind, resolved."""
    fmt = export_format(request)
    principal = principal_of(request)
    callbacks = request.app.get(REPORT_CALLBACKS)
    if callbacks is None:
        raise Problem(status=503, detail="Missed calls need the database (cti serve).")
    reports = request.app[REPORTS]
    query = _query(request)
    try:
        period = reports.period(query)
    except ReportError as exc:
        raise _bad(exc) from None
    kind = request.query.get("kind") or None
    if kind is not None and kind not in _KINDS:
        raise _bad(ReportError("kind", f"{kind!r} is not a kind; use {', '.join(_KINDS)}"))
    if sees_everything(principal):
        whose = None
        if query.agent:
            try:
                whose = await reports.agent(query.agent)
            except ReportError as exc:
                raise _bad(exc) from None
    elif query.agent and query.agent != principal.login and query.agent not in principal.extensions:
        raise Problem(
            status=403, detail="agents see only their own missed calls; leave agent empty"
        )
    else:
        whose = (principal.login, principal.extensions)
    limit = _limit(request)
    rows: list[dict[str, Any]] = await callbacks.missed(  # (Callbacks.list shadows list there)
        MissedFilter(
            since=period.start,
            until=period.end,
            did=query.did,
            kind=kind,
            resolved=_flag(request, "resolved"),
            limit=limit if whose is None else MAX_MISSED,
        )
    )
    if whose is not None:
        login, phones = whose
        rows = [
            r
            for r in rows
            if r.get("callback_owner") == login or phones & set(r.get("agents_rung") or ())
        ]
    rows = rows[:limit]
    if fmt != "json":
        name = f"missed-{period.first}-{period.last}"
        return table_response(request, fmt, rows, _MISSED_COLUMNS, name)
    return web.json_response(
        {"period": period.to_json(), "missed": rows}, headers={"Cache-Control": "no-store"}
    )


__all__ = ["REPORTS", "breakdown", "missed", "setup", "summary"]
