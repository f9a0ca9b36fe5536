"""HTTP edge of the customer directory: customers, their history and calls, the caller lookup,
bulk upserts and CSV uploads. Thin handlers over `cti.customers.service`; agents are in
`web.agents_api`. Domain errors become problem+json here; field errors list every field."""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from cti.auth.policy import require
from cti.customers import access, importing
from cti.customers.errors import (
    Conflict,
    DuplicatePhones,
    InvalidFields,
    NotAllowed,
    NotFound,
)
from cti.customers.service import DirectoryServices
from web.auth import principal_of
from web.bodies import read_json
from web.errors import Problem

DIRECTORY = web.AppKey("directory", DirectoryServices)

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "api"
#: a JSON body at most (a bulk request of 5,000 customers fits)
MAX_JSON = 16 * 1024 * 1024
#: an uploaded CSV file at most (1M customers with two phones is about 130 MB)
MAX_CSV = 512 * 1024 * 1024
#: rows per step of an upload: the event loop gets control back between steps
UPLOAD_CHUNK = 500
_LIMIT = re.compile(r"[0-9]{1,4}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, directory: DirectoryServices) -> None:
    app[DIRECTORY] = directory
    r = app.router
    r.add_get("/api/customers", list_customers)
    r.add_post("/api/customers", create_customer)
    r.add_get("/api/customers/lookup", lookup)
    r.add_post("/api/customers/lookup/choice", choose_caller)
    r.add_post("/api/customers/bulk", bulk_upsert)
    r.add_post("/api/customers/import", upload("customers"))
    r.add_post("/api/customers/orders/import", upload("orders"))
    r.add_post("/api/agents/import", upload("agents"))
    r.add_get(r"/api/customers/{id:\d{1,10}}", get_customer)
    r.add_put(r"/api/customers/{id:\d{1,10}}", replace_customer)
    r.add_patch(r"/api/customers/{id:\d{1,10}}", patch_customer)
    r.add_delete(r"/api/customers/{id:\d{1,10}}", delete_customer)
    r.add_post(r"/api/customers/{id:\d{1,10}}/merge", merge_customer)
    r.add_get(r"/api/customers/{id:\d{1,10}}/history", customer_history)
    r.add_get(r"/api/customers/{id:\d{1,10}}/calls", customer_calls)


# --- bodies and errors --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _registry() -> Registry:  # type: ignore[type-arg]
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=32)
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry(), format_checker=FormatChecker())


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_errors(error: ValidationError) -> list[dict[str, str]]:
    """One entry per field at fault, named as in the body: `phones[1]`, `orders[0].amount`."""
    at = _field(error.absolute_path)
    join = (lambda name: f"{at}.{name}") if at else (lambda name: name)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return [{"field": join(m), "reason": "is required"} for m in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        return [
            {"field": join(k), "reason": "is not a known field"}
            for k in sorted(set(error.instance) - set(known))
        ]
    if error.context:  # allOf/anyOf: the innermost errors say more
        return [e for sub in error.context for e in schema_errors(sub)]
    return [{"field": at or "(body)", "reason": error.message}]


def invalid(errors: list[dict[str, str]]) -> Problem:
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
    return Problem(
        status=422, title="Invalid request", detail=detail, extensions={"errors": errors}
    )


async def json_body(request: web.Request, schema: str) -> Any:
    """The JSON body, valid against schemas/api/<schema>.json, or a problem naming each field."""
    body = await read_json(request, MAX_JSON)
    errors = [e for err in validator(schema).iter_errors(body) for e in schema_errors(err)]
    if errors:
        raise invalid(sorted(errors, key=lambda e: e["field"]))
    return body


def domain_errors(handler: Handler) -> Handler:
    """The directory's domain errors as problem+json."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except InvalidFields as exc:
            raise invalid([{"field": e.field, "reason": e.reason} for e in exc.errors]) from None
        except NotFound as exc:
            raise Problem(status=404, detail=str(exc)) from None
        except DuplicatePhones as exc:
            raise Problem(
                status=409,
                title="Number of another customer",
                detail=f"{exc}; open the existing card, or send again with ?allow_duplicates=1",
                extensions={
                    "errors": [{"field": e.field, "reason": e.reason} for e in exc.errors],
                    "existing": exc.existing,
                },
            ) from None
        except Conflict as exc:
            extensions = (
                {"errors": [{"field": exc.field, "reason": str(exc)}]} if exc.field else None
            )
            raise Problem(status=409, detail=str(exc), extensions=extensions) from None
        except NotAllowed as exc:
            errors = [{"field": e.field, "reason": e.reason} for e in exc.errors]
            raise Problem(
                status=403,
                detail="; ".join(f"{e['field']}: {e['reason']}" for e in errors) or str(exc),
                extensions={"errors": errors} if errors else None,
            ) from None
        except importing.FileError as exc:
            raise Problem(
                status=422, title="Unreadable file", detail=f"{exc}; nothing was imported"
            ) from None

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the database could not store or compare it
        return False
    return True


def limit_of(request: web.Request, default: int = 50, most: int = 1000) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    value = int(raw) if _LIMIT.fullmatch(raw) else 0
    if not 1 <= value <= most:
        raise Problem(status=400, detail=f"limit must be a whole number from 1 to {most}")
    return value


#: ids are 32-bit in the database: a bigger one names nobody (and must not reach PostgreSQL)
MAX_ID = 2**31 - 1


def _id(request: web.Request) -> int:
    value = int(request.match_info["id"])
    if value > MAX_ID:
        raise Problem(status=404, detail=f"no customer with id {value}")
    return value


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        data,
        status=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        dumps=lambda v: json.dumps(v, ensure_ascii=False),
    )


# --- customers ----------------------------------------------------------------------------------


@domain_errors
async def list_customers(request: web.Request) -> web.Response:
    """GET /api/customers?limit=&after_id=&manager_login=&q=: a page by id; `next_after_id`
    continues it (null: the last page)."""
    limit = limit_of(request)
    raw_after = request.query.get("after_id", "0")
    if (
        not (raw_after.isascii() and raw_after.isdigit() and len(raw_after) <= 10)
        or int(raw_after) > MAX_ID
    ):
        raise Problem(status=400, detail="after_id must be a customer id (a whole number)")
    for name in ("manager_login", "q"):
        value = request.query.get(name, "")
        if _CONTROL.search(value) or not _utf8(value):
            raise invalid(
                [{"field": name, "reason": "contains control characters or is not valid text"}]
            )
    page = await request.app[DIRECTORY].customers.listing(
        principal=principal_of(request),
        limit=limit,
        after_id=int(raw_after),
        manager_login=request.query.get("manager_login") or None,
        search=(request.query.get("q") or "").strip()[:200] or None,
    )
    following = page[-1]["id"] if len(page) == limit else None
    return reply({"customers": page, "next_after_id": following})


@domain_errors
async def get_customer(request: web.Request) -> web.Response:
    """GET /api/customers/{id}: the card: phones, order summary with the latest orders, time zone."""
    return reply(await request.app[DIRECTORY].customers.get(_id(request), principal_of(request)))


@domain_errors
async def create_customer(request: web.Request) -> web.Response:
    """POST /api/customers: 201 with the customer and its Location."""
    principal = principal_of(request)
    body = await json_body(request, "customer")
    created = await request.app[DIRECTORY].customers.create(
        body,
        actor=principal.login,
        principal=principal,
        allow_duplicates=_allow_duplicates(request),
    )
    return reply(created, status=201, headers={"Location": f"/api/customers/{created['id']}"})


@domain_errors
async def replace_customer(request: web.Request) -> web.Response:
    """PUT /api/customers/{id}: every field as given (the others reset to their defaults)."""
    principal = principal_of(request)
    body = await json_body(request, "customer")
    return reply(
        await request.app[DIRECTORY].customers.replace(
            _id(request),
            body,
            actor=principal.login,
            principal=principal,
            allow_duplicates=_allow_duplicates(request),
        )
    )


@domain_errors
async def patch_customer(request: web.Request) -> web.Response:
    """PATCH /api/customers/{id}: only the fields given change (a handover: manager_login)."""
    principal = principal_of(request)
    body = await json_body(request, "customer.patch")
    return reply(
        await request.app[DIRECTORY].customers.patch(
            _id(request),
            body,
            actor=principal.login,
            principal=principal,
            allow_duplicates=_allow_duplicates(request),
        )
    )


@domain_errors
async def delete_customer(request: web.Request) -> web.Response:
    """DELETE /api/customers/{id}: supervisors and administrators; 204."""
    principal = principal_of(request)
    require(
        access.may_manage_customers(principal),
        "only supervisors and administrators delete customers",
    )
    await request.app[DIRECTORY].customers.delete(_id(request), actor=principal.login)
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


@domain_errors
async def merge_customer(request: web.Request) -> web.Response:
    """POST /api/customers/{id}/merge {"from": other_id}: the other customer's numbers, orders,
    calls, callbacks and history move to this one, which fills its empty fields from the
    other; the other is deleted. Supervisors and administrators."""
    principal = principal_of(request)
    require(
        access.may_manage_customers(principal),
        "only supervisors and administrators merge customers",
    )
    body = await json_body(request, "customer.merge")
    merged = await request.app[DIRECTORY].customers.merge(
        _id(request), int(body["from"]), actor=principal.login
    )
    return reply(merged)


def _allow_duplicates(request: web.Request) -> bool:
    """`?allow_duplicates=1`: the console's "add anyway" after a 409 naming the other customer."""
    return request.query.get("allow_duplicates", "") in ("1", "true", "yes")


@domain_errors
async def customer_history(request: web.Request) -> web.Response:
    """GET /api/customers/{id}/history?limit=: every change, newest first, with who and when."""
    entries = await request.app[DIRECTORY].customers.history(
        _id(request), limit=limit_of(request, 100), principal=principal_of(request)
    )
    return reply({"history": entries})


@domain_errors
async def customer_calls(request: web.Request) -> web.Response:
    """GET /api/customers/{id}/calls?limit=: the customer's recent calls, newest first."""
    calls = await request.app[DIRECTORY].customers.calls(
        _id(request), limit=limit_of(request), principal=principal_of(request)
    )
    return reply({"calls": calls})


@domain_errors
async def lookup(request: web.Request) -> web.Response:
    """GET /api/customers/lookup?phone=: the match the live server would make for this caller."""
    phone = request.query.get("phone")
    if phone is None:
        raise invalid([{"field": "phone", "reason": "is required (?phone=...)"}])
    if len(phone) > 64:
        raise invalid([{"field": "phone", "reason": "is longer than 64 characters"}])
    directory = request.app[DIRECTORY]
    match = await directory.callers.match(phone)
    return reply(await directory.customers.seen_match(match, principal_of(request)))


@domain_errors
async def choose_caller(request: web.Request) -> web.Response:
    """POST /api/customers/lookup/choice {"phone", "customer_id"}: who is calling from a number
    several customers share; the lookup (pops, routing) answers with them from now on, until a
    customer with that number changes. The new lookup result."""
    principal = principal_of(request)
    body = await json_body(request, "caller.choice")
    found = await request.app[DIRECTORY].customers.choose(
        body["phone"], int(body["customer_id"]), actor=principal.login
    )
    return reply(found)


@domain_errors
async def bulk_upsert(request: web.Request) -> web.Response:
    """POST /api/customers/bulk {"customers": [...]}: upsert by external_id; invalid items are
    reported by index and skipped, the valid ones are written together."""
    principal = principal_of(request)
    require(
        access.may_manage_customers(principal), "only supervisors and administrators upsert in bulk"
    )
    body = await json_body(request, "customers.bulk")
    report = await request.app[DIRECTORY].customers.bulk(body["customers"], actor=principal.login)
    data = report.to_json()
    data["errors"] = [{"index": e.pop("row"), **e} for e in data["errors"]]
    return reply(data)


def upload(kind_name: str) -> Handler:
    kind = importing.KINDS[kind_name]

    @domain_errors
    async def import_file(request: web.Request) -> web.Response:
        """POST a CSV file (the body as text/csv, or a multipart form field `file`); ?dry_run=1
        checks it without writing. The report is the one `cti import --json` prints."""
        principal = principal_of(request)
        if kind is importing.AGENTS:
            require(access.may_change_agents(principal), "only administrators import agents")
        else:
            require(
                access.may_manage_customers(principal), "only supervisors and administrators import"
            )
        dry_run = request.query.get("dry_run", "") in ("1", "true", "yes")
        directory = request.app[DIRECTORY]
        async with _spooled(request) as lines:
            try:
                report = await directory.customers.import_csv(
                    kind, lines, actor=principal.login, dry_run=dry_run, chunk=UPLOAD_CHUNK
                )
            except UnicodeDecodeError:
                raise Problem(
                    status=422,
                    title="Unreadable file",
                    detail="the file is not UTF-8; save it as 'CSV UTF-8'",
                ) from None
        return reply(report.to_json())

    import_file.__name__ = f"import_{kind_name}"
    return import_file


#: what a malformed multipart body raises while it is read
_MALFORMED = (ValueError, AssertionError, RuntimeError, HttpProcessingError)


async def _read(read: Callable[[], Awaitable[bytes]]) -> bytes:
    try:
        return await read()
    except _MALFORMED as exc:
        raise Problem(
            status=400, detail=f"the body is malformed ({exc.__class__.__name__})"
        ) from None


@asynccontextmanager
async def _spooled(request: web.Request) -> AsyncIterator[IO[str]]:
    """The uploaded CSV in a temporary file (streamed there, never held whole in memory)."""
    with tempfile.TemporaryFile() as spool:
        size = 0
        read: Callable[[], Awaitable[bytes]] = lambda: request.content.read(65536)  # noqa: E731
        if request.content_type.startswith("multipart/"):
            part: Any = None
            try:
                reader = await request.multipart()
                while (found := await reader.next()) is not None:
                    if getattr(found, "name", None) == "file":
                        part = found
                        break
            except _MALFORMED as exc:  # no boundary, broken parts or headers
                raise Problem(
                    status=400, detail=f"the multipart body is malformed ({exc})"
                ) from None
            if part is None:
                raise invalid([{"field": "file", "reason": "the form has no file field"}])
            read = lambda: part.read_chunk(65536)  # noqa: E731
        while chunk := await _read(read):
            size += len(chunk)
            if size > MAX_CSV:
                raise Problem(
                    status=413,
                    detail=f"the file is over {MAX_CSV // (1024 * 1024)} MB; use `cti import` on the server",
                )
            spool.write(chunk)
        spool.seek(0)
        yield io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")


__all__ = [
    "DIRECTORY",
    "add_routes",
    "domain_errors",
    "json_body",
    "limit_of",
    "reply",
    "schema_errors",
]
