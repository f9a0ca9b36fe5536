"""Write the webhooks' part of schemas/openapi.json from schemas/: the /api/webhooks paths, the
WebhookCreate body (schemas/api/webhook.create.json) and, under OpenAPI 3.1's top-level
`webhooks`, every event payload (schemas/webhooks/*.json). Run after changing those schemas;
tests/integration/test_webhooks_schemas.py fails while the two disagree.

    .venv/bin/python scripts/openapi_webhooks.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "schemas" / "openapi.json"
_DROP = ("$schema", "$id")


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in _DROP}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    names = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        422: "Unprocessable",
    }
    return {str(code): {"$ref": f"#/components/responses/{names[code]}"} for code in codes}


def _id() -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 999999999},
    }


def event_name(kind: str) -> str:
    return "WebhookEvent" + "".join(part.capitalize() for part in kind.replace(".", "_").split("_"))


def webhook_part() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(paths, component schemas, webhooks) as generated from schemas/."""
    summary_fields = {
        "pending": {"type": "integer"},
        "delivered": {"type": "integer"},
        "failed": {"type": "integer"},
        "last_error": {
            "type": ["string", "null"],
            "description": "the newest error of any delivery",
        },
    }
    subscription = {
        "type": "object",
        "required": [
            "id",
            "url",
            "events",
            "description",
            "active",
            "secret_hint",
            "created_at",
            "created_by",
            *summary_fields,
        ],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string"}},
            "description": {"type": "string"},
            "active": {"type": "boolean"},
            "secret_hint": {
                "type": "string",
                "description": "the secret's last two characters, never the secret",
            },
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "created_by": {"type": ["string", "null"]},
            **summary_fields,
        },
    }
    created = {
        "allOf": [
            _ref("WebhookSubscription"),
            {
                "type": "object",
                "required": ["secret"],
                "properties": {
                    "secret": {"type": "string", "description": "shown in this answer only"}
                },
            },
        ]
    }
    delivery = {
        "type": "object",
        "required": [
            "id",
            "event_id",
            "event",
            "state",
            "attempts",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "last_status",
            "last_error",
        ],
        "properties": {
            "id": {"type": "integer"},
            "event_id": {"type": "string"},
            "event": {"type": "string"},
            "state": {"enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "last_attempt_at": {"type": ["string", "null"], "format": "date-time"},
            "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
            "delivered_at": {"type": ["string", "null"], "format": "date-time"},
            "last_status": {
                "type": ["integer", "null"],
                "description": "the receiver's HTTP status",
            },
            "last_error": {"type": ["string", "null"]},
        },
    }
    components: dict[str, Any] = {
        "WebhookCreate": _plain(_load(ROOT / "schemas" / "api" / "webhook.create.json")),
        "WebhookSubscription": subscription,
        "WebhookCreated": created,
        "WebhookList": {
            "type": "object",
            "required": ["webhooks"],
            "properties": {"webhooks": {"type": "array", "items": _ref("WebhookSubscription")}},
        },
        "WebhookDelivery": delivery,
        "WebhookDeliveryList": {
            "type": "object",
            "required": ["deliveries"],
            "properties": {"deliveries": {"type": "array", "items": _ref("WebhookDelivery")}},
        },
    }
    webhooks: dict[str, Any] = {}
    for path in sorted((ROOT / "schemas" / "webhooks").glob("*.json")):
        schema = _load(path)
        kind = path.name.removesuffix(".json")
        name = event_name(kind)
        components[name] = _plain(schema)
        webhooks[kind] = {
            "post": {
                "tags": ["webhooks"],
                "operationId": "webhook" + name.removeprefix("WebhookEvent"),
                "summary": schema.get("title", kind),
                "description": schema.get("description", ""),
                "parameters": [
                    {
                        "name": "X-CTI-Signature",
                        "in": "header",
                        "required": True,
                        "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>' with the secret>",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "X-CTI-Event-Id",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "X-CTI-Event",
                        "in": "header",
                        "required": True,
                        "schema": {"const": kind},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(name)}},
                },
                "responses": {
                    "2XX": {
                        "description": "received; any other answer (or none in 10 s) is retried"
                    }
                },
            }
        }
    admin = "Administrators only (a token with the admin scope)."
    paths: dict[str, Any] = {
        "/api/webhooks": {
            "get": {
                "tags": ["webhooks"],
                "operationId": "listWebhooks",
                "summary": "Webhook subscriptions",
                "description": admin + " Secrets are never shown, only `secret_hint`.",
                "responses": {
                    "200": _json(
                        _ref("WebhookList"), "subscriptions with their deliveries by state"
                    ),
                    **_errors(401, 403),
                },
            },
            "post": {
                "tags": ["webhooks"],
                "operationId": "createWebhook",
                "summary": "Subscribe a URL to events",
                "description": admin
                + " Without `secret` one is generated; the answer shows it this once.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("WebhookCreate")}},
                },
                "responses": {
                    "201": _json(_ref("WebhookCreated"), "the subscription and its secret"),
                    **_errors(400, 401, 403, 422),
                },
            },
        },
        "/api/webhooks/{id}": {
            "get": {
                "tags": ["webhooks"],
                "operationId": "getWebhook",
                "summary": "One subscription",
                "description": admin,
                "parameters": [_id()],
                "responses": {
                    "200": _json(_ref("WebhookSubscription"), "the subscription"),
                    **_errors(401, 403, 404),
                },
            },
            "delete": {
                "tags": ["webhooks"],
                "operationId": "deleteWebhook",
                "summary": "Remove a subscription and its delivery log",
                "description": admin,
                "parameters": [_id()],
                "responses": {"204": {"description": "removed"}, **_errors(401, 403, 404)},
            },
        },
        "/api/webhooks/{id}/deliveries": {
            "get": {
                "tags": ["webhooks"],
                "operationId": "listWebhookDeliveries",
                "summary": "The delivery log, newest first",
                "description": admin
                + " Each delivery: attempts, the receiver's last status and error, "
                "the next attempt.",
                "parameters": [
                    _id(),
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["pending", "delivered", "failed"]},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
                "responses": {
                    "200": _json(_ref("WebhookDeliveryList"), "deliveries"),
                    **_errors(400, 401, 403, 404),
                },
            },
        },
    }
    return paths, components, webhooks


def _text(value: Any, indent: int, width: int = 110) -> str:
    """`value` as JSON in the file's style: what fits on a line stays on one line."""
    one = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or not value or len(one) + indent <= width:
        return one
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {_text(v, indent + 2, width)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + _text(v, indent + 2, width) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def _upsert(text: str, container: str, indent: int, key: str, value: Any) -> str:
    """Put `"key": value` into the object that opens with the line `container` (members at
    `indent` spaces), replacing the member if there, else as its last member. Only these
    lines change: the rest of the hand-formatted file stays as it is."""
    lines = text.split("\n")
    opening = lines.index(container)
    closing = next(
        n
        for n in range(opening + 1, len(lines))
        if lines[n] == " " * (indent - 2) + "}"
        or lines[n].startswith(" " * (indent - 2) + "}")
        and not lines[n].startswith(" " * indent)
    )
    head = " " * indent + json.dumps(key) + ": "
    member = head + _text(value, indent)
    for n in range(opening + 1, closing):
        if lines[n].startswith(head):
            end = n
            if not lines[n].rstrip().endswith(("}", "},", "]", "],")) or lines[n].rstrip().endswith(
                ("{", "[")
            ):
                end = next(
                    m
                    for m in range(n + 1, closing)
                    if lines[m].startswith(" " * indent + "}")
                    or lines[m].startswith(" " * indent + "]")
                )
            comma = "," if lines[end].rstrip().endswith(",") else ""
            lines[n : end + 1] = [member + comma]
            return "\n".join(lines)
    if closing > opening + 1:  # after the last member
        lines[closing - 1] += ","
    lines.insert(closing, member)
    return "\n".join(lines)


def main() -> int:
    text = OPENAPI.read_text(encoding="utf-8")  # read just before writing: others edit it too
    document = json.loads(text)
    paths, components, webhooks = webhook_part()
    for key, value in paths.items():
        text = _upsert(text, '  "paths": {', 4, key, value)
    for key, value in components.items():
        text = _upsert(text, '    "schemas": {', 6, key, value)
    if "webhooks" in document:
        text = _upsert(text, "{", 2, "webhooks", webhooks)
    else:  # the last member, after components
        end = text.rstrip().rindex("}")
        text = text[:end].rstrip() + ',\n  "webhooks": ' + _text(webhooks, 2) + "\n}\n"
    if not any(tag["name"] == "webhooks" for tag in document["tags"]):
        tag = {
            "name": "webhooks",
            "description": "signed event POSTs to shops and CRMs (docs/webhooks.md), "
            "subscriptions and their delivery logs",
        }
        text = text.replace(
            '\n  ],\n  "paths"',
            ",\n    " + json.dumps(tag, ensure_ascii=False) + '\n  ],\n  "paths"',
            1,
        )
    written = json.loads(text)  # still JSON, and says what was meant
    assert all(written["paths"][k] == v for k, v in paths.items())
    assert all(written["components"]["schemas"][k] == v for k, v in components.items())
    assert written["webhooks"] == webhooks
    OPENAPI.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
