"""`cti webhook add|list|remove|deliveries`: subscriptions of shops and CRMs, from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cti.config import Settings
from cti.webhooks.model import EVENT_TYPES

T = TypeVar("T")


def add_parsers(sub: Any) -> None:
    w = sub.add_parser(
        "webhook", help="webhook subscriptions of shops and CRMs: add, list, remove, deliveries"
    )
    wsub = w.add_subparsers(dest="webhook_command", required=True, metavar="ACTION")
    add = wsub.add_parser(
        "add",
        help="subscribe URL to events; prints the subscription and its secret",
        description="Events: " + ", ".join(EVENT_TYPES) + " (or 'all'). Each POST is signed "
        "with HMAC-SHA256 of '<timestamp>.<body>' in X-CTI-Signature (docs/webhooks.md). "
        "Without --secret one is generated and printed on the last line, only this once.",
    )
    add.add_argument("url")
    add.add_argument(
        "--events", required=True, help="comma-separated, e.g. call.missed,call.answered"
    )
    add.add_argument("--secret", help="the receiver's shared secret (16 to 256 characters)")
    add.add_argument("--description", default="", help="whose receiver this is, e.g. 'retailCRM'")
    lst = wsub.add_parser(
        "list", help="subscriptions, deliveries by state and the last error (no secrets)"
    )
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    rm = wsub.add_parser("remove", help="delete a subscription and its delivery log")
    rm.add_argument("id", type=int)
    log = wsub.add_parser("deliveries", help="a subscription's delivery log, newest first")
    log.add_argument("id", type=int)
    log.add_argument("--state", choices=["pending", "delivered", "failed"])
    log.add_argument("--limit", type=int, default=50)
    log.add_argument("--json", action="store_true", help="one JSON object per line")


async def _with_service(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from cti.db.migrate import upgrade
    from cti.db.session import create_engine, session_factory
    from cti.webhooks.service import WebhookService
    from cti.webhooks.setup import links

    if settings.auto_migrate:
        await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        return await work(WebhookService(sessions=session_factory(engine), links=links(settings)))
    finally:
        await engine.dispose()


async def webhook_command(args: argparse.Namespace, settings: Settings) -> int:
    from cti.webhooks.service import SubscriptionNotFound, WebhookError

    try:
        return await _ACTIONS[args.webhook_command](args, settings)
    except WebhookError as exc:
        print(f"cti webhook: {exc}", file=sys.stderr)
        return 2
    except SubscriptionNotFound as exc:
        print(f"cti webhook: {exc}", file=sys.stderr)
        return 1


async def _add(args: argparse.Namespace, settings: Settings) -> int:
    view, secret = await _with_service(
        settings,
        lambda s: s.add(
            args.url, args.events, secret=args.secret, description=args.description, actor="cli"
        ),
    )
    print(f"webhook #{view['id']} -> {view['url']}: {', '.join(view['events'])}")
    if args.secret is None:
        print(
            "the secret, shown only this once (the receiver verifies signatures with it):",
            file=sys.stderr,
        )
        print(secret)
    return 0


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    rows = await _with_service(settings, lambda s: s.listing())
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
            continue
        error = f"  last error: {row['last_error']}" if row["last_error"] else ""
        print(
            f"#{row['id']:<4} {row['url']}  [{', '.join(row['events'])}]  secret {row['secret_hint']}  "
            f"pending {row['pending']} delivered {row['delivered']} failed {row['failed']}{error}"
        )
    if not rows and not args.json:
        print("no webhooks", file=sys.stderr)
    return 0


async def _remove(args: argparse.Namespace, settings: Settings) -> int:
    await _with_service(settings, lambda s: s.remove(args.id))
    print(f"webhook #{args.id} removed")
    return 0


async def _deliveries(args: argparse.Namespace, settings: Settings) -> int:
    rows = await _with_service(
        settings, lambda s: s.deliveries(args.id, limit=args.limit, state=args.state)
    )
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
            continue
        when = (
            row["delivered_at"]
            or row["next_attempt_at"]
            or row["last_attempt_at"]
            or row["created_at"]
        )
        status = row["last_status"] if row["last_status"] is not None else "-"
        error = f"  {row['last_error']}" if row["last_error"] else ""
        print(
            f"{row['created_at']}  {row['event']:<18} {row['state']:<9} attempts {row['attempts']:<3} "
            f"HTTP {status}  {when}{error}"
        )
    return 0


_ACTIONS: dict[str, Callable[[argparse.Namespace, Settings], Awaitable[int]]] = {
    "add": _add,
    "list": _list,
    "remove": _remove,
    "deliveries": _deliveries,
}

COMMANDS = {"webhook": webhook_command}

__all__ = ["COMMANDS", "add_parsers"]
