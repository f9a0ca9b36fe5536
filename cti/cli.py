"""Every `cti` command, thin: parse the arguments, call a service, print the result."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cti.cli_help import add_examples
from cti.config import Settings, SettingsError, load_settings
from cti.logs import setup_logging
from cti.workspace import demo_settings_here, missing_database, shown

log = logging.getLogger("cti")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cti",
        description="CTI server for Asterisk: AMI events to call records, screen-pops, reports.",
    )
    p.add_argument(
        "--config",
        help="TOML settings file (default: ./cti.toml if present; beside a running demo, "
        "the commands that read data use its cti-demo.toml)",
    )
    p.add_argument(
        "--database", metavar="URL", help="database URL (overrides database_url of the settings)"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the server: AMI consumer, call tracking, web console")
    s.add_argument("--port", type=int, help="HTTP port (overrides http_port)")

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    dbsub.add_parser("upgrade", help="apply the Alembic migrations (safe to run again)")

    r = sub.add_parser(
        "replay",
        help="feed raw AMI captures through the live tracking code; print each finished call",
        description="Replays captures (bytes as on the wire). A NAME.timing file next to a "
        "capture gives receipt times for frames without a Timestamp header.",
    )
    r.add_argument("files", nargs="+", type=Path, metavar="FILE")
    r.add_argument("--json", action="store_true", help="one JSON object per line per finished call")
    r.add_argument("--chunk-size", type=int, metavar="N", help="feed the bytes in chunks of N")
    r.add_argument(
        "--store", action="store_true", help="write the calls to the configured database"
    )

    c = sub.add_parser("calls", help="list stored calls, newest first (the replay format)")
    c.add_argument("--since", help="only calls that started at or after this ISO 8601 time")
    c.add_argument("--limit", type=int, default=50, help="the latest N calls (default 50; 0: all)")
    c.add_argument("--json", action="store_true", help="one JSON object per line")

    sim = sub.add_parser("simulate", help="run the built-in PBX simulator (speaks AMI over TCP)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=5038)
    sim.add_argument("--username", default="cti")
    sim.add_argument(
        "--secret", help="AMI secret clients must send (default: the ami_secret setting)"
    )
    sim.add_argument("--rate", type=float, default=0.0, help="random traffic, calls per second")
    sim.add_argument("--duration", type=float, help="stop the random traffic after N seconds")
    sim.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="NAME",
        help="play a named scenario (repeatable); see --list",
    )
    sim.add_argument("--list", action="store_true", help="list the scenarios and exit")
    sim.add_argument("--speed", type=float, default=1.0, help="time scale (10 = ten times faster)")
    sim.add_argument("--seed", type=int, help="random seed for reproducible traffic")
    sim.add_argument("--record", type=Path, help="write the AMI bytes sent to a client to FILE")

    d = sub.add_parser("demo", help="one process: SQLite, demo data, simulator traffic, web page")
    d.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    d.add_argument("--rate", type=float, default=0.3, help="simulated calls per second")
    d.add_argument(
        "--database",
        dest="demo_database",
        help="database URL (default: cti-demo.db in the current directory)",
    )
    d.add_argument(
        "--agi-port",
        type=int,
        default=0,
        help="FastAGI port of the demo's routing (default: a free port, printed at start; "
        "never the production 4573 unless asked)",
    )
    lis = sub.add_parser(
        "listen",
        help="print an agent's screen-pops as JSON lines (for a desktop CRM's script)",
        description="Connects to the server's /ws feed with a bearer token and prints each pop "
        "message (call.ringing, pop.updated, call.answered, call.transferred, call.ended) as one "
        "JSON object a line; pops already open come first as pop.open. Reconnects and resumes "
        "after a drop, so no message is lost or repeated. Beside a running demo it reads the "
        "demo's port from cti-demo.toml.",
    )
    lis.add_argument(
        "--url", help="the server (default: http://HTTP_HOST:HTTP_PORT of the settings)"
    )
    lis.add_argument(
        "--token",
        help="bearer token (default: CTI_LISTEN_TOKEN, else the settings' first api_tokens); "
        "an agent's own token (`cti token create LOGIN`) gets that agent's pops",
    )
    lis.add_argument("--agent", metavar="LOGIN", help="only this agent's pops")
    lis.add_argument(
        "--all", action="store_true", dest="everything", help="every message, not only pops"
    )

    imp = sub.add_parser(
        "import", help="import a file: cti import KIND FILE (cti import --help lists the kinds)"
    )
    imp.add_subparsers(dest="import_kind", required=True, metavar="KIND")
    for feature in _features():
        feature.add_parsers(sub)
    add_examples(p)
    return p


def importers(sub: Any) -> Any:
    """The `cti import` kinds: a feature adds `cti import KIND` with
    `importers(sub).add_parser(KIND, ...)` and `set_defaults(import_handler=async handler)`."""
    parser = sub.choices["import"]
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


#: modules that bring their own commands: each has `add_parsers(sub)` and a `COMMANDS` dict of
#: name -> async handler(args, settings) -> exit code
FEATURE_COMMANDS: list[str] = [
    "cti.missed.commands",
    "cti.auth.commands",
    "cti.routing.commands",
    "cti.routing.calendar_commands",
    "cti.customers.commands",
    "cti.webhooks.commands",
    "cti.reports.commands",
]


def _features() -> list[Any]:
    import importlib

    return [importlib.import_module(name) for name in FEATURE_COMMANDS]


#: commands that read (or change) stored data: they read a running demo's settings when there
#: is no other settings file, and stop when the SQLite file is not there (never create it)
READS_DATA = frozenset(
    {"calls", "missed", "callbacks", "report", "duty", "agent", "route", "lookup"}
)
#: ...and those that talk to a running server, which find the demo's port the same way
FINDS_DEMO = READS_DATA | {"listen"}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = args.config
    demo = demo_settings_here() if config is None and args.command in FINDS_DEMO else None
    if demo is not None:
        config = str(demo)
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        print(f"cti: {exc}", file=sys.stderr)
        return 2
    if args.database:
        settings = settings.replace(database_url=args.database)
    if args.command in READS_DATA:
        if args.database:
            source = "from --database"
        elif os.environ.get("CTI_DATABASE_URL"):
            source = "from CTI_DATABASE_URL"
        else:
            source = f"from {config}" if config else "the default: no cti.toml here"
        problem = missing_database(settings.database_url, source)
        if problem is not None:
            print(f"cti {args.command}: {problem}", file=sys.stderr)
            return 2
        if demo is not None:
            print(
                f"cti {args.command}: reading the demo's database {shown(settings.database_url)} "
                f"(from {demo})",
                file=sys.stderr,
            )
    setup_logging(settings.log_level, settings.log_format)
    handler = _COMMANDS.get(args.command)
    if handler is None:
        handler = next(f.COMMANDS[args.command] for f in _features() if args.command in f.COMMANDS)
    try:
        return asyncio.run(handler(args, settings)) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `cti calls | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit, no traceback
        return 141
    except SettingsError as exc:
        print(f"cti: {exc}", file=sys.stderr)
        return 2


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from cti.app import StartupError, serve
    from cti.db.migrate import upgrade

    if args.port:
        settings = settings.replace(http_port=args.port)
    settings.tokens()  # an unreadable api_tokens_file stops us here, with a clear message
    if settings.auto_migrate:
        await upgrade(settings.database_url)
    try:
        await serve(settings)
    except StartupError as exc:
        print(f"cti serve: {exc}", file=sys.stderr)
        return 2
    return 0


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    from cti.db.migrate import upgrade

    await upgrade(settings.database_url)
    print("database is at the latest revision")
    return 0


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from cti.app import tracking_rules
    from cti.calls.replay import Replayer

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"cti replay: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.chunk_size is not None and args.chunk_size < 1:
        print("cti replay: --chunk-size must be at least 1", file=sys.stderr)
        return 2
    replayer = Replayer(rules=tracking_rules(settings))
    records = []
    for path in args.files:
        for record in replayer.feed_capture(path, args.chunk_size):
            records.append(record)
            _print_record(record.to_json(), args.json, ZoneInfo(settings.timezone))
    result = replayer.result()
    for warning in result.warnings:
        print(f"cti replay: {warning}", file=sys.stderr)
    if result.open_calls:
        print(
            f"cti replay: {result.open_calls} call(s) still in progress at the end of the capture "
            "(not printed)",
            file=sys.stderr,
        )
    if args.store and records:
        from cti.app import call_store
        from cti.db.migrate import upgrade
        from cti.db.session import create_engine, session_factory

        if settings.auto_migrate:
            await upgrade(settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            # the live server's store: missed calls and callbacks made and resolved in call order
            repository, _ = call_store(settings, session_factory(engine))
            for start in range(0, len(records), 500):
                await repository.save_many(records[start : start + 500])
        finally:
            await engine.dispose()
        print(f"stored {len(records)} call(s)", file=sys.stderr)
    return 0


async def _calls(args: argparse.Namespace, settings: Settings) -> int:
    from cti.db.calls import CallRepository
    from cti.db.session import create_engine, session_factory

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            print(
                f"cti calls: --since {args.since!r} is not ISO 8601 (e.g. 2026-11-25T09:00:00+03:00)",
                file=sys.stderr,
            )
            return 2
        if since.tzinfo is None:
            since = since.astimezone()  # a local wall-clock time as the user typed it
    if settings.auto_migrate:
        from cti.db.migrate import upgrade

        await upgrade(settings.database_url)
    if args.limit < 0:
        print("cti calls: --limit must be 0 (all) or more", file=sys.stderr)
        return 2
    engine = create_engine(settings.database_url)
    try:
        repo = CallRepository(session_factory=session_factory(engine))
        records = await repo.list_calls(since=since, limit=args.limit or None, newest_first=True)
    finally:
        await engine.dispose()
    zone = ZoneInfo(settings.timezone)
    for record in records:
        _print_record(record.to_json(), args.json, zone)
    if not records:
        after = f" since {since.isoformat()}" if since else ""
        print(f"cti calls: no calls{after} in {shown(settings.database_url)}", file=sys.stderr)
    return 0


def office_time(iso: str | None, zone: ZoneInfo) -> str:
    """An ISO 8601 instant as the office's wall-clock time (what the console shows)."""
    if not iso:
        return "-"
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _print_record(data: dict, as_json: bool, zone: ZoneInfo) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False), flush=True)
        return
    outcome = data["outcome"] + (f"/{data['missed_kind']}" if data["missed_kind"] else "")
    if data["short_abandon"]:
        outcome += " (short)"
    print(
        f"{office_time(data['started_at'], zone)}  {data['direction']:<8}  "
        f"{data['caller'] or '-':<14} -> "
        f"{data['did'] or '-':<12}  {outcome:<22} rung {','.join(data['agents_rung']) or '-'}"
        f"  answered {','.join(data['answered_by']) or '-'}"
        f"  wait {data['wait_seconds']:.1f}s talk {data['talk_seconds']:.1f}s",
        flush=True,
    )


async def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from cti.ami import simulator

    if args.list:
        from cti.ami.scenarios import SCENARIOS

        for name in sorted(SCENARIOS):
            print(name)
        return 0
    await simulator.run_simulator_cli(
        host=args.host,
        port=args.port,
        username=args.username,
        secret=args.secret if args.secret is not None else settings.secret(),
        rate=args.rate,
        duration=args.duration,
        scenarios=args.scenarios or [],
        speed=args.speed,
        seed=args.seed,
        record=str(args.record) if args.record else None,
    )
    return 0


async def _listen(args: argparse.Namespace, settings: Settings) -> int:
    from cti.pops.listen import ListenRefused, listen

    token = args.token or os.environ.get("CTI_LISTEN_TOKEN") or next(iter(settings.api_tokens), "")
    if not token:
        print(
            "cti listen: no token; pass --token, set CTI_LISTEN_TOKEN, or create one with "
            "`cti token create LOGIN`",
            file=sys.stderr,
        )
        return 2
    url = args.url or f"http://{settings.http_host}:{settings.http_port}"

    def emit(line: str) -> None:
        print(line, flush=True)

    def warn(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    print(f"cti listen: {url} (Ctrl+C stops)", file=sys.stderr, flush=True)
    try:
        await listen(url, token, agent=args.agent, everything=args.everything, emit=emit, warn=warn)
    except ListenRefused as exc:
        print(f"cti listen: {exc}", file=sys.stderr)
        return 2
    return 0


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    return int(await args.import_handler(args, settings))


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from cti.demo import run_demo

    await run_demo(
        settings,
        port=args.port,
        rate=args.rate,
        database_url=args.demo_database or args.database or "sqlite+aiosqlite:///cti-demo.db",
        agi_port=args.agi_port,
    )
    return 0


_COMMANDS = {
    "serve": _serve,
    "db": _db,
    "replay": _replay,
    "calls": _calls,
    "simulate": _simulate,
    "demo": _demo,
    "import": _import,
    "listen": _listen,
}

if __name__ == "__main__":
    raise SystemExit(main())
