"""Request bodies checked against the JSON Schemas in `schemas/api/`; errors name the field."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker

from web.errors import Problem

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "api"
MAX_BODY = 256 * 1024


@lru_cache(maxsize=64)
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


async def json_body(request: web.Request, schema: str) -> dict[str, Any]:
    """The request's JSON object, valid against `schemas/api/<schema>.json`, or a 400/422 problem
    saying which field is wrong and how."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Problem(status=413, detail=f"the body is over {MAX_BODY} bytes")
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise Problem(status=413, detail=f"the body is over {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(status=400, detail=f"the body is not valid JSON: {exc}") from None
    errors = sorted(validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        field = (
            ".".join(str(p) for p in first.absolute_path)
            or _missing_field(first.message)
            or "(body)"
        )
        raise Problem(status=422, title="Invalid body", detail=f"{field}: {first.message}")
    return body


def _missing_field(message: str) -> str | None:
    # "'number' is a required property" -> number
    if message.endswith("is a required property") and message.startswith("'"):
        return message.split("'")[1]
    return None
