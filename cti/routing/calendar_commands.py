"""`cti shifts`, `cti hours` and `cti import shifts|hours|holidays`: the calendars on the CLI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cti.config import Settings
from cti.routing.calendar import read_calendar_csv, read_ical, write_calendar_csv
from cti.routing.commands import _fail, _routing, _when
from cti.routing.model import UnknownAgent
from cti.routing.schedules import RowError
from cti.routing.shifts import TEAM_PREFIX, read_shifts_csv, write_shifts_csv


def add_parsers(sub: Any) -> None:
    s = sub.add_parser("shifts", help="agents' shifts: who works when, who is on shift now")
    ssub = s.add_subparsers(dest="shifts_command", required=True, metavar="ACTION")
    now = ssub.add_parser("now", help="every agent on or off shift now (or --at)")
    now.add_argument("--at", help="ISO 8601 time (no offset: office time)")
    now.add_argument("--json", action="store_true", help="one JSON object per line")
    ssub.add_parser("list", help="the shifts as CSV (who,days,hours,note): edit, then import")

    h = sub.add_parser("hours", help="lines' business hours and holidays: open now, the rows")
    hsub = h.add_subparsers(dest="hours_command", required=True, metavar="ACTION")
    st = hsub.add_parser("status", help="whether a line is open now (or --at), and why")
    st.add_argument("--did", default="", help="the dialled number (its DID rule picks the team)")
    st.add_argument("--at", help="ISO 8601 time (no offset: office time)")
    st.add_argument("--json", action="store_true")
    hsub.add_parser("list", help="the calendar as CSV (line,days,hours,name): edit, then import")

    from cti.cli import importers

    kinds = importers(sub)
    imp = kinds.add_parser(
        "shifts",
        help="replace agents' shifts with a CSV file: who,days,hours,note",
        description="Rows: who,days,hours,note. who: a login or @team. days: mon-fri, sat,sun, "
        "daily, a date 2026-12-31 or a range 2026-07-01..2026-07-14. hours: 09:00-18:00 (an "
        "end at or before the start runs past midnight) or off (dates only: vacation, sick "
        "day). A dated row replaces the weekly pattern that day (a swapped shift); an agent's "
        "own rows win over their team's. Nothing is imported unless every row is good.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument("--append", action="store_true", help="add the rows to the current ones")
    imp.set_defaults(import_handler=import_shifts)
    hours = kinds.add_parser(
        "hours",
        help="replace lines' business hours and holidays with a CSV file: line,days,hours,name",
        description="Rows: line,days,hours,name. line: a DID, a team, or * (every line). "
        "Weekly rows are the opening hours; dated rows are holidays (hours 'closed') or "
        "shortened and working days (hours). Office time zone. Nothing is imported unless "
        "every row is good.",
    )
    hours.add_argument("file", type=Path, metavar="FILE.csv")
    hours.add_argument("--append", action="store_true", help="add the rows to the current ones")
    hours.set_defaults(import_handler=import_hours)
    hol = kinds.add_parser(
        "holidays",
        help="replace the holidays (dated rows) with an iCalendar (.ics) or CSV file",
        description="An .ics file's all-day events become holidays of --line, named by their "
        "SUMMARY (e.g. a production calendar); a .csv file is line,days,hours,name with dated "
        "rows only. The weekly business hours are kept.",
    )
    hol.add_argument("file", type=Path, metavar="FILE.ics|FILE.csv")
    hol.add_argument("--line", default="*", help="the line the holidays close (default *: all)")
    hol.add_argument("--append", action="store_true", help="add to the current holidays")
    hol.set_defaults(import_handler=import_holidays)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        print(f"cti: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return None


def _report(path: Path, errors: list[RowError], kind: str) -> int:
    for e in sorted(errors, key=lambda e: e.line):
        print(f"{path}:{e.line}: {e.message}", file=sys.stderr)
    print(f"cti import {kind}: nothing imported ({len(errors)} bad row(s))", file=sys.stderr)
    return 1


async def import_shifts(args: argparse.Namespace, settings: Settings) -> int:
    text = _read(args.file)
    if text is None:
        return 2
    rows, errors = read_shifts_csv(text)
    async with _routing(settings) as routing:
        known, teams = set(routing.agents), {t for a in routing.agents.values() for t in a.teams}
        for line, row in rows:
            if row.owner.startswith(TEAM_PREFIX):
                if row.owner[1:] not in teams:
                    errors.append(RowError(line, f"no agent is in team {row.owner[1:]!r}"))
            elif row.owner not in known:
                errors.append(RowError(line, f"no agent with login {row.owner!r}"))
        if errors:
            return _report(args.file, errors, "shifts")
        try:
            count = await routing.replace_agent_shifts([r for _, r in rows], append=args.append)
        except UnknownAgent as exc:
            return _fail(str(exc))
    print(f"{'added' if args.append else 'the shifts are now'} {count} row(s)")
    return 0


async def import_hours(args: argparse.Namespace, settings: Settings) -> int:
    text = _read(args.file)
    if text is None:
        return 2
    rows, errors = read_calendar_csv(text)
    if errors:
        return _report(args.file, errors, "hours")
    async with _routing(settings) as routing:
        count = await routing.replace_line_hours([r for _, r in rows], append=args.append)
    print(f"{'added' if args.append else 'the calendar is now'} {count} row(s)")
    return 0


async def import_holidays(args: argparse.Namespace, settings: Settings) -> int:
    if args.file.suffix.lower() in (".ics", ".ical", ".ifb"):
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            return _fail(f"cannot read {args.file}: {exc.strerror}")
        rows, problems = read_ical(data, line=args.line)
        if not rows and problems:
            for p in problems:
                print(f"{args.file}: {p}", file=sys.stderr)
            print("cti import holidays: nothing imported", file=sys.stderr)
            return 1
        for p in problems:
            print(f"{args.file}: skipped: {p}", file=sys.stderr)
    else:
        text = _read(args.file)
        if text is None:
            return 2
        numbered, errors = read_calendar_csv(text)
        errors += [
            RowError(n, "weekly rows are business hours: import them with cti import hours")
            for n, r in numbered
            if not r.is_exception
        ]
        if errors:
            return _report(args.file, errors, "holidays")
        rows = [r for _, r in numbered]
    async with _routing(settings) as routing:
        count = await routing.replace_line_hours(rows, append=args.append, only_dates=True)
    print(f"{'added' if args.append else 'the holidays are now'} {count} row(s)")
    return 0


async def shifts_command(args: argparse.Namespace, settings: Settings) -> int:
    async with _routing(settings) as routing:
        if args.shifts_command == "list":
            sys.stdout.write(write_shifts_csv(routing.shift_rows))
            return 0
        at = _when(args.at, "--at", routing.tz, routing.now())
        for login, agent in routing.agents.items():
            status = routing.shift_of(login, at)
            row = {
                "login": login,
                "name": agent.name,
                "on_shift": None if status is None else status.on,
                "why": "no shifts: always working" if status is None else status.why,
            }
            if args.json:
                print(json.dumps(row, ensure_ascii=False))
            else:
                mark = "-" if status is None else "on " if status.on else "off"
                print(f"{login:<16} {mark:<4} {row['why']}")
    return 0


async def hours_command(args: argparse.Namespace, settings: Settings) -> int:
    async with _routing(settings) as routing:
        if args.hours_command == "list":
            sys.stdout.write(write_calendar_csv(routing.calendar.rows))
            return 0
        at = _when(args.at, "--at", routing.tz, routing.now())
        team, status = routing.line_status(args.did, at)
        if args.json:
            print(json.dumps({"did": args.did, "team": team, **status.to_json()}))
        else:
            line = args.did or "(no DID)"
            print(f"{line} ({f'team {team}' if team else 'all agents'}): {status.reason}")
    return 0


COMMANDS = {"shifts": shifts_command, "hours": hours_command}
