"""HTTP edge of every table export: `?format=csv|xlsx` in the reader's language (`?lang=ru|en`,
else Accept-Language, else the `language` setting) and the office's time zone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from cti.exports.cells import LANGUAGES, ExportStyle, pick_language
from cti.exports.csv import to_csv
from cti.exports.xlsx import to_xlsx
from web.app import SETTINGS
from web.errors import Problem

#: what ?format= may ask for besides json
TABLE_FORMATS = ("csv", "xlsx")
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_format(request: web.Request) -> str:
    """`?format=`: json (default), csv or xlsx; anything else is a 400 naming the field."""
    fmt = request.query.get("format", "json")
    if fmt not in ("json", *TABLE_FORMATS):
        raise Problem(
            status=400,
            detail="format: use json, csv or xlsx",
            extensions={"errors": [{"field": "format", "reason": "use json, csv or xlsx"}]},
        )
    return fmt


def export_style(request: web.Request) -> ExportStyle:
    settings = request.app.get(SETTINGS)
    default = settings.language if settings is not None else "en"
    zone = settings.timezone if settings is not None else "UTC"
    lang = pick_language(request.query.get("lang"), request.headers.get("Accept-Language"), default)
    if lang not in LANGUAGES:
        raise Problem(
            status=400,
            detail="lang: use ru or en",
            extensions={"errors": [{"field": "lang", "reason": "use ru or en"}]},
        )
    return ExportStyle(lang=lang, zone=ZoneInfo(zone))


def table_response(
    request: web.Request,
    fmt: str,
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    name: str,
) -> web.Response:
    """`rows` as a CSV or XLSX download named `name`.csv / .xlsx."""
    style = export_style(request)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        "Cache-Control": "no-store",
        "Content-Language": style.lang,
    }
    if fmt == "xlsx":
        body = to_xlsx(rows, columns, style, sheet=name)
        return web.Response(body=body, content_type=_XLSX, headers=headers)
    return web.Response(
        text=to_csv(rows, columns, style), content_type="text/csv", charset="utf-8", headers=headers
    )
