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
    body = await read_json(request, MAX_BODY, empty=b"{}")
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


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, or a 413 problem naming `limit`; a body is never silently cut short."""
    if request.content_length is not None and request.content_length > limit:
        raise Problem(status=413, detail=f"the body is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise Problem(status=413, detail=f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


#: how deep arrays and objects may nest in a body (far beyond any real request)
MAX_DEPTH = 64


def parse_json(raw: bytes) -> Any:
    """JSON text to a value, or a 400 problem saying precisely what is wrong: not UTF-8, not
    JSON, nested too deep, a number too long, or a string with a lone surrogate."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(
            status=400, title="Invalid JSON", detail=f"the body is not UTF-8: {exc}"
        ) from None
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise Problem(
            status=400,
            title="Invalid JSON",
            detail=f"the body nests arrays/objects {depth} deep; at most {MAX_DEPTH} allowed",
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Problem(
            status=400, title="Invalid JSON", detail=f"the body is not valid JSON: {exc}"
        ) from None
    except (ValueError, RecursionError) as exc:  # int-str digit limit, parser recursion
        raise Problem(
            status=400, title="Invalid JSON", detail=f"the body has a number too long: {exc}"
        ) from None
    _no_lone_surrogates(value)
    return value


async def read_json(request: web.Request, limit: int, *, empty: bytes | None = None) -> Any:
    """The shared body reader of every JSON endpoint: whole body within `limit`, then parsed."""
    raw = await read_body(request, limit)
    if not raw and empty is not None:
        raw = empty
    return parse_json(raw)


def _depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _no_lone_surrogates(value: Any) -> None:
    stack = [("(body)", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                stack.append((f"{where} key", key))
                stack.append((key if isinstance(key, str) else where, sub))
        elif isinstance(item, list):
            stack.extend((where, sub) for sub in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise Problem(
                    status=400,
                    title="Invalid JSON",
                    detail=f"{where}: the string has a lone surrogate (\\ud800-\\udfff escape); "
                    "send valid Unicode",
                ) from None


def _missing_field(message: str) -> str | None:
    # "'number' is a required property" -> number
    if message.endswith("is a required property") and message.startswith("'"):
        return message.split("'")[1]
    return None
