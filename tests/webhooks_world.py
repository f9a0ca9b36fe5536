"""A real webhook receiver on loopback that verifies signatures with the snippet from
docs/webhooks.md, and validators of webhook payloads against schemas/webhooks/."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "webhooks"


# --- the verification snippet of docs/webhooks.md, verbatim ---------------------------------
def verify_cti_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp = fields.get("t", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


# --- end of the snippet ----------------------------------------------------------------------


@lru_cache(maxsize=32)
def _validator(kind: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{kind}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def payload_errors(payload: dict[str, Any]) -> list[str]:
    """Why a webhook body does not match schemas/webhooks/<its type>.json (empty: it does)."""
    kind = payload.get("type")
    if not isinstance(kind, str) or not (SCHEMAS / f"{kind}.json").exists():
        return [f"no schema for webhook type {kind!r}"]
    return [
        f"{kind}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator(kind).iter_errors(payload)
    ]


@dataclass
class Hit:
    at: float
    event_id: str
    kind: str
    attempt: int
    payload: dict[str, Any]
    status: int


@dataclass
class Receiver:
    """Answers `failures` (status or "drop") for the first requests of matching event ids."""

    secret: str
    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    bad_signatures: int = 0
    invalid: list[str] = field(default_factory=list)
    fail_first: int = 0  #: fail this many requests in a row, then accept
    fail_ids: set[str] | None = None  #: only for these event ids (None: all)
    fail_status: int = 503
    failed: dict[str, int] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_cti_signature(self.secret, request.headers.get("X-CTI-Signature", ""), body):
            self.bad_signatures += 1
            return web.Response(status=401)
        payload = json.loads(body)
        event_id = request.headers["X-CTI-Event-Id"]
        assert payload["id"] == event_id and payload["type"] == request.headers["X-CTI-Event"]
        self.invalid += payload_errors(payload)
        status = 200
        if (self.fail_ids is None or event_id in self.fail_ids) and self.failed.get(
            event_id, 0
        ) < self.fail_first:
            self.failed[event_id] = self.failed.get(event_id, 0) + 1
            status = self.fail_status
        self.hits.append(
            Hit(
                time.monotonic(),
                event_id,
                payload["type"],
                int(request.headers["X-CTI-Delivery-Attempt"]),
                payload,
                status,
            )
        )
        self.changed.set()
        return web.Response(status=status, text="ok" if status == 200 else "try later")

    def accepted(self) -> list[Hit]:
        return [h for h in self.hits if h.status == 200]

    async def wait_for(self, accepted: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted()) < accepted:
            self.changed.clear()
            left = deadline - time.monotonic()
            assert left > 0, f"only {len(self.accepted())} of {accepted} accepted: {self.hits}"
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass


@asynccontextmanager
async def receiver(secret: str, port: int = 0, **options: Any) -> AsyncIterator[Receiver]:
    found = Receiver(secret=secret, **options)
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{bound}/hook"
    try:
        yield found
    finally:
        await runner.cleanup()
