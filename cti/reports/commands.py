"""`cti report`: the supervisor's KPIs in the terminal, or the API's JSON with --json."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cti.config import Settings
from cti.reports.period import BREAKDOWNS


def add_parsers(sub: Any) -> None:
    r = sub.add_parser(
        "report",
        help="KPIs of inbound calls and callbacks (service level, missed rate, ASA...)",
        description="Figures of a period in the office time zone; the same as GET /api/reports/... "
        "Without --from/--to/--period: today.",
    )
    r.add_argument("--from", dest="start", metavar="DATE", help="first office day, YYYY-MM-DD")
    r.add_argument(
        "--to", dest="end", metavar="DATE", help="last office day (inclusive), YYYY-MM-DD"
    )
    r.add_argument("--period", help="day, week or month around --date (default today)")
    r.add_argument("--date", metavar="DATE", help="a day inside --period")
    r.add_argument("--by", help=f"split by {', '.join(BREAKDOWNS)}")
    r.add_argument("--did", help="only calls to this DID")
    r.add_argument("--agent", help="only this agent's figures (login or extension)")
    r.add_argument("--json", action="store_true", help="print the report as one JSON document")


async def report_command(args: argparse.Namespace, settings: Settings) -> int:
    from cti.db.migrate import upgrade
    from cti.db.session import create_engine, session_factory
    from cti.reports.period import ReportError, check_breakdown
    from cti.reports.service import ReportQuery, Viewer
    from cti.reports.setup import build_reports

    query = ReportQuery(
        period=args.period,
        on=args.date,
        start=args.start,
        end=args.end,
        did=args.did,
        agent=args.agent,
        names=("--from", "--to"),
    )
    try:
        by = check_breakdown(args.by, "--by")
    except ReportError as exc:
        print(f"cti report: {exc}", file=sys.stderr)
        return 2
    if settings.auto_migrate:
        await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        reports = build_reports(settings, session_factory(engine))
        viewer = Viewer(login="cli", everything=True)  # whoever can read the database sees it all
        try:
            result = await (
                reports.breakdown(query, viewer, by) if by else reports.summary(query, viewer)
            )
        except ReportError as exc:
            flag = {"period": "--period", "date": "--date", "agent": "--agent"}.get(
                exc.parameter, exc.parameter
            )
            print(f"cti report: {flag}: {exc.message}", file=sys.stderr)
            return 2
    finally:
        await engine.dispose()
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print(render(result))
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _sec(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    hours, rest = divmod(int(round(value)), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _mark(status: str | None) -> str:
    return {"good": " ok", "warning": " !", "bad": " !!"}.get(status or "", "")


def render(result: dict[str, Any]) -> str:
    """The report for people: a summary block, or a table of the breakdown."""
    p = result["period"]
    t = result["settings"]["service_level_seconds"]
    head = f"{p['from']} .. {p['to']} ({p['timezone']})"
    if "rows" not in result:
        f, g = result["figures"], result["goals"]
        lines = [
            head,
            f"offered {f['offered']}  answered {f['answered']}  missed {f['missed']} "
            f"(abandoned {f['missed_abandoned']}, no answer {f['missed_no_answer']}, busy {f['missed_busy']}, "
            f"no agent {f['missed_no_agent']}, "
            f"out of hours {f['missed_out_of_hours']})  short abandons {f['short_abandons']}",
            f"service level {t:g} s: {_pct(f['service_level'])} of offered{_mark(g['service_level']['status'])}, "
            f"{_pct(f['service_level_answered'])} of answered",
            f"missed rate {_pct(f['missed_rate'])}{_mark(g['missed_rate']['status'])}  "
            f"abandon rate {_pct(f['abandon_rate'])}",
            f"speed of answer {_sec(f['average_speed_of_answer'])}  wait avg {_sec(f['average_wait'])} "
            f"longest {_sec(f['longest_wait'])}  talk avg {_sec(f['average_talk'])}",
            f"callbacks {f['callbacks']}: median {_sec(f['callback_median'])}, p90 {_sec(f['callback_p90'])}, "
            f"within SLA {_pct(f['callbacks_within_sla'])}{_mark(g['callbacks_within_sla']['status'])}; "
            f"open {f['callbacks_open']}, overdue {f['callbacks_overdue']}",
            f"fallbacks {f['fallbacks']} (to the duty operator {f['duty_fallbacks']})",
            "agents' time: "
            + ", ".join(f"{k[5:]} {_sec(v)}" for k, v in f.items() if k.startswith("time_")),
        ]
        return "\n".join(lines)
    lines = [
        f"{head}, by {result['by']}",
        f"{'':<20} {'offered':>8} {'answered':>8} {'missed':>7} {'SL':>7} {'SL ans':>7} {'missed%':>8} "
        f"{'ASA':>7} {'talk':>7}",
    ]
    for row in result["rows"]:
        lines.append(
            f"{str(row['label'])[:20]:<20} {row['offered']:>8} {row['answered']:>8} {row['missed']:>7} "
            f"{_pct(row['service_level']):>7} {_pct(row['service_level_answered']):>7} {_pct(row['missed_rate']):>8} "
            f"{_sec(row['average_speed_of_answer']):>7} {_sec(row['average_talk']):>7}"
        )
    return "\n".join(lines)


COMMANDS = {"report": report_command}
