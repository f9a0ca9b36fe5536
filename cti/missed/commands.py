"""`cti callbacks` and `cti missed`: what is waiting to be called back, for people and scripts."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cti.cli import office_time
from cti.config import Settings


def add_parsers(sub: Any) -> None:
    c = sub.add_parser(
        "callbacks", help="list callbacks (missed calls to return, notes left for colleagues)"
    )
    c.add_argument("--open", action="store_true", help="only open callbacks")
    c.add_argument("--overdue", action="store_true", help="only open callbacks past their deadline")
    c.add_argument("--owner", help="only this agent's (login)")
    c.add_argument(
        "--shared", action="store_true", help="only those on a team's shared list (to claim)"
    )
    c.add_argument("--did", help="only callbacks of calls to this DID")
    c.add_argument("--since", help="created at or after this ISO 8601 time")
    c.add_argument("--json", action="store_true", help="one JSON object per line")
    m = sub.add_parser("missed", help="list missed calls")
    m.add_argument("--since", help="missed at or after this ISO 8601 time")
    m.add_argument("--until", help="missed before this ISO 8601 time")
    m.add_argument("--did", help="only calls to this DID")
    m.add_argument("--kind", choices=["abandoned", "no_answer", "busy", "no_agent", "out_of_hours"])
    m.add_argument("--json", action="store_true", help="one JSON object per line")


def _when(raw: str | None, flag: str) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(
            f"cti: {flag} {raw!r} is not ISO 8601 (e.g. 2026-11-25T09:00:00+03:00)"
        ) from None
    return value if value.tzinfo else value.astimezone()


async def _with_callbacks(settings: Settings, work: Any) -> list[dict[str, Any]]:
    from cti.app import call_store
    from cti.db.migrate import upgrade
    from cti.db.session import create_engine, session_factory

    if settings.auto_migrate:
        await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        _, callbacks = call_store(settings, session_factory(engine))
        return await work(callbacks)
    finally:
        await engine.dispose()


async def callbacks_command(args: argparse.Namespace, settings: Settings) -> int:
    from cti.missed.callbacks import CallbackFilter
    from cti.missed.model import CallbackState

    f = CallbackFilter(
        owner=args.owner,
        did=args.did,
        since=_when(args.since, "--since"),
        overdue=args.overdue,
        shared=args.shared,
        state=CallbackState.OPEN if args.open or args.overdue else None,
    )
    rows = await _with_callbacks(settings, lambda cb: cb.list(f))
    zone = ZoneInfo(settings.timezone)
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            who = row["owner"] or shared_list(row.get("team", ""))
            held = (
                f", being called back by {row['held_by']}"
                if row["held_by"] and row["state"] == "open"
                else ""
            )
            print(
                f"#{row['id']:<5} {row['state']:<8} {row['number']:<14} owner {who:<12} due {office_time(row['deadline_at'], zone)}"
                f"  misses {row['misses']} attempts {row['attempts']}{held}"
            )
    if not rows and not args.json:
        print("no callbacks", file=sys.stderr)
    return 0


def shared_list(team: str) -> str:
    """How a callback nobody owns yet reads: the shared list it is on (`@sales`, `@all`)."""
    return f"@{team or 'all'}"


async def missed_command(args: argparse.Namespace, settings: Settings) -> int:
    from cti.missed.callbacks import MissedFilter

    f = MissedFilter(
        since=_when(args.since, "--since"),
        until=_when(args.until, "--until"),
        did=args.did,
        kind=args.kind,
    )
    rows = await _with_callbacks(settings, lambda cb: cb.missed(f))
    zone = ZoneInfo(settings.timezone)
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            short = " (short)" if row["short_abandon"] else ""
            print(
                f"{office_time(row['missed_at'], zone)}  {row['caller'] or '-':<14} -> {row['did']:<12} {row['kind']}{short}"
                f"  rung {','.join(row['agents_rung']) or '-'}  callback #{row['callback_id'] or '-'}"
                f" {row['callback_state'] or ''}"
            )
    if not rows and not args.json:
        print("no missed calls", file=sys.stderr)
    return 0


COMMANDS = {"callbacks": callbacks_command, "missed": missed_command}
