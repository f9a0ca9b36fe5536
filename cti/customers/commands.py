"""`cti import customers|orders|agents FILE.csv` and `cti lookup PHONE`: thin, over the services."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cti.config import Settings

#: files at least this big are validated by worker processes (phone parsing is the slow part)
PARALLEL_FROM_BYTES = 4 * 1024 * 1024
#: seconds between progress lines on stderr
PROGRESS_EVERY = 2.0

_KIND_HELP = {
    "customers": "external_id,name,company,phones,vip,timezone,manager_login,crm_url "
    "(external_id and name required; phones ';'-separated in any format)",
    "orders": "external_id,order_number,date,status,amount,currency",
    "agents": "login,name,role,extension,device,mobile,teams,seniority,max_calls "
    "(login, name, extension required; teams ';'-separated)",
}


def add_parsers(sub: Any) -> None:
    from cti.cli import importers

    kinds = importers(sub)
    for kind, columns in _KIND_HELP.items():
        p = kinds.add_parser(
            kind,
            help=f"{kind} from a CSV file (idempotent; see --help for the columns)",
            description=f"Columns: {columns}. UTF-8 (with or without BOM), comma- or "
            "semicolon-separated (Russian Excel). Rows are matched by external_id (customers, "
            "orders) or login (agents): importing a file again changes nothing. Invalid rows are "
            "reported and skipped; the valid ones are written in one transaction. Exit status: "
            "0 every row imported, 1 some rows rejected (the rest imported), 2 the file could "
            "not be imported (nothing written).",
        )
        p.add_argument("file", type=Path, metavar="FILE.csv")
        p.add_argument("--json", action="store_true", help="print the report as one JSON object")
        p.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
        p.add_argument(
            "--workers",
            type=int,
            metavar="N",
            help="processes validating rows (default: CPUs for files over 4 MB, else 0 = this process)",
        )
        p.set_defaults(import_handler=_import)
    lk = sub.add_parser(
        "lookup",
        help="which customer a phone number belongs to, as the live server matches callers",
        description="One line (or JSON object) per number. Exit status 0 when a customer "
        "matched every number, 1 when one did not.",
    )
    lk.add_argument(
        "phones",
        nargs="+",
        metavar="PHONE",
        help="any format: +7 916 123-45-67, 89161234567, 101, anonymous...",
    )
    lk.add_argument("--json", action="store_true", help="print each match as JSON")


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from cti.customers import importing
    from cti.customers.audit import CLI_ACTOR
    from cti.customers.service import CustomerService
    from cti.db.migrate import upgrade
    from cti.db.session import create_engine, session_factory

    path: Path = args.file
    size = _size(path)
    if size is None:
        print(f"cti import: no such file: {path}", file=sys.stderr)
        return 2
    if settings.auto_migrate:
        await upgrade(settings.database_url)
    kind = importing.KINDS[args.import_kind]
    engine = create_engine(settings.database_url)
    workers = args.workers if args.workers is not None else _default_workers(size)
    pool = _pool(workers)
    try:
        service = CustomerService(
            sessions=session_factory(engine),
            region=settings.default_region,
            office_timezone=settings.timezone,
        )
        with path.open(encoding="utf-8-sig", newline="") as lines:
            report = await service.import_csv(
                kind,
                lines,
                actor=CLI_ACTOR,
                progress=_progress_printer(path.name),
                dry_run=args.dry_run,
                validator=_pooled(pool) if pool else _validate_here(),
                lookahead=max(1, workers * 2),
            )
    except importing.FileError as exc:
        print(f"cti import: {path}: {exc}; nothing was imported", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(
            f"cti import: {path} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start} of a block); save it as 'CSV UTF-8'. Nothing was imported.",
            file=sys.stderr,
        )
        return 2
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        await engine.dispose()
    _print_report(path, report.to_json(), args.json)
    return 1 if report.rejected else 0


def _size(path: Path) -> int | None:
    """The file's size; None if it is not a file (a command's start: blocking is fine)."""
    return path.stat().st_size if path.is_file() else None


def _default_workers(size: int) -> int:
    if size < PARALLEL_FROM_BYTES:
        return 0
    return min(os.cpu_count() or 1, 8)


def _pool(workers: int) -> ProcessPoolExecutor | None:
    if workers <= 0:
        return None
    # spawn: fresh interpreters, no copy of this process's threads and database connections
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _validate_here() -> Any:
    from cti.db.bulk import validate_here

    return validate_here


def _pooled(pool: ProcessPoolExecutor) -> Any:
    from cti.customers.importing import validate_chunk

    async def validate(
        kind: Any, records: Sequence[tuple[int, Mapping[str, str]]], rules: Any
    ) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, validate_chunk, kind.name, list(records), rules)

    return validate


def _progress_printer(name: str) -> Callable[[Any], None]:
    started = last = time.monotonic()

    def show(report: Any) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_EVERY:
            return
        last = now
        rate = report.rows / max(now - started, 1e-9)
        print(
            f"cti import {name}: {report.rows:,} rows read, {len(report.rejected):,} rejected, "
            f"{rate:,.0f} rows/s",
            file=sys.stderr,
            flush=True,
        )

    return show


def _print_report(path: Path, report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": str(path), **report}, ensure_ascii=False))
        return
    verb = "checked (dry run, nothing written)" if report["dry_run"] else "imported"
    print(
        f"{verb} {path.name}: {report['rows']} rows: {report['created']} created, "
        f"{report['updated']} updated, {report['unchanged']} unchanged, "
        f"{report['rejected']} rejected ({report['seconds']:.1f} s)"
    )
    for error in report["errors"]:
        field = f", {error['field']}" if error["field"] else ""
        print(f"  row {error['row']}{field}: {error['reason']}")


async def _lookup(args: argparse.Namespace, settings: Settings) -> int:
    from cti.customers.directory import match_in_database
    from cti.db.migrate import upgrade
    from cti.db.session import create_engine

    if settings.auto_migrate:
        await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    every = True
    try:
        for phone in args.phones:
            data = (await match_in_database(engine, phone, settings.default_region)).to_json()
            print(
                json.dumps(data, ensure_ascii=False) if args.json else _describe(data), flush=True
            )
            every = every and data["customer_id"] is not None
    finally:
        await engine.dispose()
    return 0 if every else 1


def _describe(m: dict[str, Any]) -> str:
    number = m["normalized"] or repr(m["phone"])
    if m["customer_id"] is None:
        what = {
            "internal": f"an internal extension{' of agent ' + m['agent'] if m['agent'] else ''}",
            "service": "a short service number",
            "withheld": "no number (withheld or anonymous)",
            "invalid": "not a phone number",
        }.get(m["kind"], "no customer has this number")
        return f"{number}: {what}"
    line = f"{m['normalized'] or '-'}: {m['name']}"
    if m["company"]:
        line += f" ({m['company']})"
    line += f", customer {m['customer_id']}"
    if m["vip"]:
        line += ", VIP"
    if m["manager_login"]:
        line += f", manager {m['manager_login']}"
    if m["matched_by"] == "national_number":
        line += ", matched by the national number"
    if m["ambiguous"]:
        others = ", ".join(f"{c['customer_id']} {c['name']}" for c in m["candidates"])
        line += f"; also on this number: {others}"
    return line


COMMANDS = {"lookup": _lookup}

__all__ = ["COMMANDS", "add_parsers"]
