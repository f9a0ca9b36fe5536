"""`cti route`, `cti agent`, `cti duty` and `cti import duty`: routing for administrators."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cti.config import Settings
from cti.routing.dialplan import decision_variables
from cti.routing.model import AgentState, RouteDecision, UnknownAgent
from cti.routing.schedules import (
    RowError,
    clock_text,
    next_duty,
    read_rota_csv,
    write_rota_csv,
)
from cti.routing.service import RoutingService
from cti.routing.whatif import BadOverride, parse_override


def add_parsers(sub: Any) -> None:
    r = sub.add_parser(
        "route",
        help="the routing decision for a call: who rings, in what order, and why",
        description="Decides as the live server would, from the database: agents, their stored "
        "states, the duty rota and the customer directory. Phones' device states, calls in "
        "progress and the distribution's memory of recent offers live only in the server "
        "(here phones are unknown, hence tried; nobody is on a call): use --state for them.",
    )
    r.add_argument("caller", metavar="CALLER", help="the caller's number as the PBX presents it")
    r.add_argument("--did", default="", help="the number the caller dialled")
    r.add_argument(
        "--at", help="decide at this ISO 8601 time (default now; no offset: office time)"
    )
    r.add_argument(
        "--state",
        action="append",
        default=[],
        metavar="LOGIN=STATE",
        help="what if: STATE is available, paused[:REASON], dnd, offline, or a phone state: "
        "busy (at the call limit), unreachable, free (repeatable)",
    )
    r.add_argument("--json", action="store_true", help="the decision as JSON")

    a = sub.add_parser("agent", help="agents' own states: set, list, time spent in each")
    asub = a.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    s = asub.add_parser(
        "state",
        help="set an agent's state (the server applies it at once "
        "when set over the API; from here within routing_refresh_seconds)",
    )
    s.add_argument("login", metavar="LOGIN")
    s.add_argument(
        "state",
        metavar="STATE[:REASON]",
        help=f"{', '.join(st.value for st in AgentState)}; a reason after a colon, "
        "e.g. paused:lunch (as in `cti route --state LOGIN=paused:lunch`)",
    )
    s.add_argument("--reason", default="", help=argparse.SUPPRESS)  # the older spelling
    ls = asub.add_parser("states", help="every agent's stored state and time in it")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    h = asub.add_parser("history", help="an agent's state intervals and time per state")
    h.add_argument("login", metavar="LOGIN")
    h.add_argument("--since", help="ISO 8601 (default: today 00:00, office time)")
    h.add_argument("--until", help="ISO 8601 (default: now)")
    h.add_argument("--json", action="store_true", help="the history as JSON")

    d = sub.add_parser("duty", help="the duty rota: who is on duty now, the rows")
    dsub = d.add_subparsers(dest="duty_command", required=True, metavar="ACTION")
    now = dsub.add_parser("now", help="who is on duty now (or --at)")
    now.add_argument("--at", help="ISO 8601 time (no offset: office time)")
    now.add_argument("--json", action="store_true")
    dsub.add_parser("list", help="the rota as CSV (login,days,start,end): edit, then import")

    from cti.cli import importers

    imp = importers(sub).add_parser(
        "duty",
        help="replace the duty rota with a CSV file: login,days,start,end",
        description="Rows: login,days,start,end. days: mon-fri, sat, sat,sun, fri-mon, daily, "
        "or a date 2026-12-31 (an exception: that date's rows replace the weekly rota for "
        "shifts starting on it; login 'nobody' closes the duty). Times HH:MM in the office "
        "time zone; an end at or before the start runs past midnight. Nothing is imported "
        "unless every row is good.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument("--append", action="store_true", help="add the rows to the current rota")
    imp.set_defaults(import_handler=import_duty)


@contextlib.asynccontextmanager
async def _routing(settings: Settings) -> AsyncIterator[RoutingService]:
    from cti.customers.directory import match_in_database
    from cti.db.migrate import upgrade
    from cti.db.session import create_engine, session_factory
    from cti.routing.setup import build_routing, matcher_lookup

    if settings.auto_migrate:
        await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)

    async def match(raw: str) -> Any:  # the live lookup's rules, straight from SQL
        return await match_in_database(engine, raw, settings.default_region)

    try:
        routing, _ = build_routing(
            settings, session_factory(engine), live_calls=tuple, lookup=matcher_lookup(match)
        )
        await routing.load()
        yield routing
    finally:
        await engine.dispose()


def _when(raw: str | None, flag: str, tz: ZoneInfo, default: float) -> float:
    if not raw:
        return default
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(
            f"cti: {flag} {raw!r} is not ISO 8601 (e.g. 2026-11-25T12:30:00+03:00)"
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=tz)).timestamp()


def _fail(message: str) -> int:
    print(f"cti: {message}", file=sys.stderr)
    return 2


async def route_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        overrides = [parse_override(s) for s in args.state]
    except BadOverride as exc:
        return _fail(str(exc))
    async with _routing(settings) as routing:
        at = _when(args.at, "--at", routing.tz, routing.now())
        try:
            decision = await routing.decide(
                args.caller, args.did, at=at, overrides=overrides, record_offer=False
            )
        except BadOverride as exc:
            return _fail(str(exc))
        if args.json:
            data = {**decision.to_json(), "variables": decision_variables(decision)}
            print(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            print(_describe(decision, routing.tz))
    return 0


def _describe(decision: RouteDecision, tz: ZoneInfo) -> str:
    c = decision.customer
    who = "unknown caller"
    if c is not None:
        who = ", ".join(x for x in (c.name, c.company) if x) or f"customer {c.id}"
        who += (" (VIP)" if c.vip else "") + (
            f", manager {c.manager_login}" if c.manager_login else ", no manager"
        )
    when = datetime.fromtimestamp(decision.decided_at, tz).isoformat(timespec="minutes")
    team = f"team {decision.team}" if decision.team else "all agents"
    rule = f"rule {decision.rule}" if decision.rule else "default"
    lines = [
        f"{decision.caller or '(no caller ID)'} -> {decision.did or '(no DID)'} at {when}",
        f"caller: {who}" + ("  [lookup failed: routed as unknown]" if decision.degraded else ""),
        f"{team} ({rule})",
    ]
    if decision.closed:
        lines.append(f"line {decision.closed_reason}")
        if decision.announcement:
            lines.append(f"  announcement: {decision.announcement}")
    for n, t in enumerate(decision.targets, start=1):
        lines.append(f"  {n}. {t.dial:<28} {t.timeout:>3} s  {t.kind.value:<14} {t.reason}")
    skipped = [r.text for r in decision.reasons if r.code != "chosen"]
    if skipped:
        lines.append("why not: " + "; ".join(skipped))
    return "\n".join(lines)


async def agent_command(args: argparse.Namespace, settings: Settings) -> int:
    async with _routing(settings) as routing:
        if args.agent_command == "state":
            name, _, reason = args.state.partition(":")
            known = [st.value for st in AgentState]
            if name.strip().lower() not in known:
                return _fail(
                    f"state {args.state!r}: write STATE[:REASON] with STATE one of "
                    f"{', '.join(known)}, e.g. paused:lunch"
                )
            reason = reason.strip() or args.reason
            try:
                p = await routing.set_state(
                    args.login, AgentState(name.strip().lower()), reason, actor="cli"
                )
            except UnknownAgent as exc:
                return _fail(str(exc))
            at = datetime.fromtimestamp(p.since, routing.tz).strftime("%Y-%m-%d %H:%M:%S")
            reason = f" ({p.reason})" if p.reason else ""
            print(f"{args.login} is {p.state.value}{reason} since {at}")
            return 0
        if args.agent_command == "states":
            for row in routing.states():
                if args.json:
                    print(json.dumps({k: row[k] for k in _STATE_KEYS}, ensure_ascii=False))
                else:
                    spent = _duration(row["seconds_in_state"])
                    reason = f" ({row['reason']})" if row["reason"] else ""
                    print(f"{row['login']:<16} {row['state']}{reason:<16} {spent}")
            return 0
        today = datetime.combine(
            datetime.fromtimestamp(routing.now(), routing.tz).date(), time(), routing.tz
        ).timestamp()
        since = _when(args.since, "--since", routing.tz, today)
        until = _when(args.until, "--until", routing.tz, routing.now())
        if until <= since:
            return _fail("--until must be after --since")
        try:
            history = await routing.state_history(args.login, since=since, until=until)
        except UnknownAgent as exc:
            return _fail(str(exc))
        if args.json:
            print(json.dumps(history, ensure_ascii=False, indent=2))
            return 0
        for total in history["totals"]:
            reason = f" ({total['reason']})" if total["reason"] else ""
            print(f"{total['state']}{reason:<20} {_duration(total['seconds'])}")
        return 0


_STATE_KEYS = ("login", "name", "state", "reason", "since", "seconds_in_state")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return str(timedelta(seconds=round(seconds)))


async def duty_command(args: argparse.Namespace, settings: Settings) -> int:
    async with _routing(settings) as routing:
        if args.duty_command == "list":
            sys.stdout.write(write_rota_csv(routing.rota))
            return 0
        at = _when(args.at, "--at", routing.tz, routing.now())
        running = routing.on_duty(at)
        if not running:
            print(nobody_on_duty(routing, at), file=sys.stderr if args.json else sys.stdout)
        for shift, agent in running:
            row = {"login": shift.login, "name": agent.name if agent else None, **shift.to_json()}
            if args.json:
                print(json.dumps(row, ensure_ascii=False))
            else:
                name = f" ({agent.name})" if agent and agent.name else ""
                print(
                    f"{shift.login}{name}: {shift.days} {clock_text(shift.start)}-"
                    f"{clock_text(shift.end)}"
                )
    return 0


def nobody_on_duty(routing: RoutingService, at: float) -> str:
    """ "nobody is on duty now; next: Петров at 14:00" (or that the rota is empty)."""
    when = datetime.fromtimestamp(at, routing.tz)
    upcoming = next_duty(routing.rota, when)
    if upcoming is None:
        return "nobody is on duty now and nobody is on the rota (see `cti import duty --help`)"
    begins, shifts = upcoming
    names = ", ".join(
        (routing.agents[s.login].name or s.login) if s.login in routing.agents else s.login
        for s in shifts
    )
    day = "" if begins.date() == when.date() else f" on {begins:%a %Y-%m-%d}"
    return f"nobody is on duty now; next: {names} at {begins:%H:%M}{day}"


async def import_duty(args: argparse.Namespace, settings: Settings) -> int:
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror}")
    rows, errors = read_rota_csv(text)
    async with _routing(settings) as routing:
        known = set(routing.agents)
        errors.extend(
            RowError(line, f"no agent with login {shift.login!r}")
            for line, shift in rows
            if shift.login and shift.login not in known
        )
        if errors:
            for e in sorted(errors, key=lambda e: e.line):
                print(f"{args.file}:{e.line}: {e.message}", file=sys.stderr)
            print(f"cti import duty: nothing imported ({len(errors)} bad row(s))", file=sys.stderr)
            return 1
        count = await routing.replace_rota([s for _, s in rows], append=args.append)
    verb = "added" if args.append else "the rota is now"
    print(f"{verb} {count} duty row(s)")
    return 0


COMMANDS = {"route": route_command, "agent": agent_command, "duty": duty_command}
