"""The customer directory at scale: CSV import and caller lookup, SQLite and PostgreSQL.

    .venv/bin/python -m bench.customers [--customers 1000000] [--lookups 20000] [--quick]
                                        [--postgres-url URL | --no-postgres] [--no-sqlite]
                                        [--workers N] [--json FILE]

Data: a generated customers.csv of N customers with two phones each (a Moscow mobile and a
Moscow landline), written in the four formats of the issue in turn (`8 (916) 123-45-67`,
`+7 916 123 45 67`, `79161234567`, `9161234567`); names, companies, a CRM link; 5% VIP, 10%
with a responsible manager (24 agents, imported first), 1% with a time zone.

Per database (a fresh SQLite file; a throw-away PostgreSQL database `cti_bench_customers_<pid>`
on the server of --postgres-url, dropped at the end):

  import    `cti import customers customers.csv --json` as a user runs it (a child process;
            validation in --workers processes, default: the CPUs), wall time, rows/s, peak RSS of
            the command and its workers together                                   subject
  plain     the same customers and phones (E.164 known in advance: no parsing, no checks, no
            audit, no idempotency) through the driver's own bulk path: COPY on PostgreSQL,
            executemany on SQLite, in one transaction, into another fresh database  baseline

  lookup    `CallerDirectory.for_call(raw caller ID)`, the function `cti serve` hands the call
            tracker: normalization + the in-memory index + the match rules          subject
  indexed   the plain indexed query a server without the index would run,
            SELECT c.id, c.name, c.company FROM customer_phones p JOIN customers c
            ON c.id = p.customer_id WHERE p.e164 = :e164, through SQLAlchemy Core on an open
            AsyncConnection, with the E.164 number given (normalization not included)  baseline

Lookups: 80% a random known customer in a random one of the four formats, 20% unknown numbers;
each sample runs both, in random order, so both see the same machine at the same moment. The
first 1,000 samples warm up and are not counted. Reported: p50 and p99 of each, their ratios,
and the goal (p99 < 0.5 ms). Memory: the process's RSS before and after loading the index (and
the time the load took).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import REPO, machine, print_machine, progress, rss_bytes

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MiB = 1024 * 1024
FORMATS = (
    lambda d: f"8 ({d[0:3]}) {d[3:6]}-{d[6:8]}-{d[8:10]}",
    lambda d: f"+7 {d[0:3]} {d[3:6]} {d[6:8]} {d[8:10]}",
    lambda d: f"7{d}",
    lambda d: d,
)


def mobile(n: int) -> str:
    """The national significant number of customer n's mobile (10 digits)."""
    return f"916{n:07d}"


def landline(n: int) -> str:
    return f"495{n:07d}"


# --- data ------------------------------------------------------------------------------------------


def write_agents(path: Path) -> list[str]:
    logins = [f"agent{n:02d}" for n in range(24)]
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["login", "name", "role", "extension", "seniority", "max_calls"])
        for n, login in enumerate(logins):
            out.writerow([login, f"Agent {n:02d}", "agent", 100 + n, n % 6, 2])
    return logins


def write_customers(path: Path, count: int, logins: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(
            [
                "external_id",
                "name",
                "company",
                "phones",
                "vip",
                "timezone",
                "manager_login",
                "crm_url",
            ]
        )
        for n in range(count):
            phones = f"{FORMATS[n % 4](mobile(n))}; {FORMATS[(n + 1) % 4](landline(n))}"
            out.writerow(
                [
                    f"crm-{n}",
                    f"Иван Сергеевич Кузнецов {n}",
                    f"ООО «Уютный дом {n % 50_000}»",
                    phones,
                    "1" if n % 20 == 0 else "0",
                    "Asia/Yekaterinburg" if n % 100 == 7 else "",
                    logins[n % len(logins)] if n % 10 == 3 else "",
                    f"https://crm.example.com/customers/crm-{n}",
                ]
            )


# --- databases -------------------------------------------------------------------------------------


async def _admin(url: str, sql: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    from cti.db.session import create_engine

    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


class Database:
    """A fresh database of one kind; `fresh()` gives another one beside it."""

    def __init__(self, kind: str, workdir: Path, pg_url: str) -> None:
        self.kind, self._workdir, self._pg = kind, workdir, pg_url
        self._made: list[str] = []

    async def fresh(self, label: str) -> str:
        from cti.db.migrate import upgrade
        from cti.db.session import normalize_url

        if self.kind == "sqlite":
            url = f"sqlite+aiosqlite:///{self._workdir / f'{label}.db'}"
        else:
            name = f"cti_bench_customers_{os.getpid()}_{label}"
            await _admin(self._pg, f'DROP DATABASE IF EXISTS "{name}"')
            await _admin(self._pg, f'CREATE DATABASE "{name}"')
            self._made.append(name)
            url = normalize_url(self._pg).set(database=name).render_as_string(hide_password=False)
        await upgrade(url)
        return url

    async def drop_all(self) -> None:
        for name in self._made:
            await _admin(self._pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- import ----------------------------------------------------------------------------------------


def _tree_rss(pid: int) -> int:
    """RSS of a process and its children (the import's validation workers), bytes."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def run_import(url: str, path: Path, kind: str, workers: int | None) -> dict[str, Any]:
    """`cti import KIND FILE --json` in a child process: wall and CPU time (the command and its
    validation workers), peak RSS of them together."""
    env = {**os.environ, "CTI_DATABASE_URL": url, "CTI_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "cti.cli", "import", kind, str(path), "--json"]
    if workers is not None:
        command += ["--workers", str(workers)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err, text=True)
        peak = 0
        while child.poll() is None:
            peak = max(peak, _tree_rss(child.pid))
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(
                f"cti import {kind} failed ({child.returncode}):\n{err.read()[-2000:]}"
            )
        report = json.loads(out.read())
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss": peak, "report": report}


async def plain_load(url: str, count: int) -> float:
    """The floor: customers and phones through the driver's bulk path, nothing else."""
    from datetime import UTC, datetime

    from cti.db.customers import _CUSTOMERS, _PHONES
    from cti.db.fastcopy import insert_rows
    from cti.db.session import create_engine, session_factory

    engine = create_engine(url)
    now = datetime.now(UTC)
    columns = ("id", "external_id", "name", "company", "vip", "crm_url", "created_at", "updated_at")
    phone_columns = ("customer_id", "e164", "raw", "nsn", "valid")
    started = time.perf_counter()
    try:
        async with session_factory(engine)() as session, session.begin():
            for start in range(0, count, 10_000):
                block = range(start, min(start + 10_000, count))
                rows = [
                    (
                        n + 1,
                        f"crm-{n}",
                        f"Иван Сергеевич Кузнецов {n}",
                        f"ООО «Уютный дом {n % 50_000}»",
                        n % 20 == 0,
                        f"https://crm.example.com/customers/crm-{n}",
                        now,
                        now,
                    )
                    for n in block
                ]
                await insert_rows(session, _CUSTOMERS, columns, rows)
                phones = [
                    (n + 1, f"+7{nsn}", nsn, nsn, True)
                    for n in block
                    for nsn in (mobile(n), landline(n))
                ]
                await insert_rows(session, _PHONES, phone_columns, phones)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


# --- lookups ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def lookups(url: str, count: int, samples: int, seed: int) -> dict[str, Any]:
    from sqlalchemy import text

    from cti.customers.directory import CallerDirectory
    from cti.db.session import create_engine

    engine = create_engine(url)
    try:
        gc.collect()
        before = rss_bytes()
        callers = CallerDirectory(engine=engine, region="RU")
        started = time.perf_counter()
        await callers.reload()
        load_seconds = time.perf_counter() - started
        gc.collect()
        after = rss_bytes()
        rng = random.Random(seed)
        plain = text(
            "SELECT c.id, c.name, c.company FROM customer_phones p "
            "JOIN customers c ON c.id = p.customer_id WHERE p.e164 = :e164"
        )
        ours: list[float] = []
        base: list[float] = []
        wrong = 0
        clock = time.perf_counter
        async with engine.connect() as conn:
            for i in range(samples + 1000):
                if rng.random() < 0.8:
                    n = rng.randrange(count)
                    nsn = mobile(n) if rng.random() < 0.5 else landline(n)
                    expected: str | None = f"Иван Сергеевич Кузнецов {n}"
                else:
                    nsn = f"903{rng.randrange(10_000_000):07d}"
                    expected = None
                raw, e164 = FORMATS[rng.randrange(4)](nsn), f"+7{nsn}"
                first = rng.random() < 0.5
                for side in (0, 1) if first else (1, 0):
                    if side == 0:
                        t = clock()
                        card = await callers.for_call(raw)
                        ours_s = clock() - t
                    else:
                        t = clock()
                        (await conn.execute(plain, {"e164": e164})).all()
                        base_s = clock() - t
                if (card["name"] if card else None) != expected:
                    wrong += 1
                if i >= 1000:
                    ours.append(ours_s)
                    base.append(base_s)
        if wrong:
            raise SystemExit(f"{wrong} lookups found the wrong customer")
        stats = callers.stats()
    finally:
        await engine.dispose()
    p = {
        name: {
            "p50": percentile(v, 0.5) * 1e3,
            "p99": percentile(v, 0.99) * 1e3,
            "mean": statistics.fmean(v) * 1e3,
        }
        for name, v in (("lookup", ours), ("indexed", base))
    }
    return {
        **p,
        "ratio_p50": p["lookup"]["p50"] / p["indexed"]["p50"],
        "ratio_p99": p["lookup"]["p99"] / p["indexed"]["p99"],
        "samples": samples,
        "index_customers": stats["customers"],
        "index_phones": stats["phones"],
        "load_seconds": load_seconds,
        "rss_before": before,
        "rss_after": after,
        "index_bytes": after - before,
    }


# --- the run ---------------------------------------------------------------------------------------


async def bench_one(
    kind: str, args: argparse.Namespace, workdir: Path, files: dict[str, Path]
) -> dict[str, Any]:
    db = Database(kind, workdir, args.postgres_url)
    try:
        url = await db.fresh("import")
        progress(f"{kind}: cti import agents + customers ({args.customers:,} rows)")
        run_import(url, files["agents"], "agents", 0)
        imported = run_import(url, files["customers"], "customers", args.workers)
        report = imported["report"]
        if report["created"] != args.customers or report["rejected"]:
            raise SystemExit(
                f"import created {report['created']} of {args.customers}, {report['rejected']} rejected"
            )
        progress(f"{kind}: import took {imported['seconds']:.1f} s; plain load beside it")
        plain_url = await db.fresh("plain")
        plain = await plain_load(plain_url, args.customers)
        progress(f"{kind}: plain load {plain:.1f} s; {args.lookups:,} lookups")
        measured = await lookups(url, args.customers, args.lookups, args.seed)
        return {
            "database": kind,
            "import_seconds": imported["seconds"],
            "import_rows_per_second": args.customers / imported["seconds"],
            "import_peak_rss": imported["peak_rss"],
            "import_cpu_seconds": imported["cpu_seconds"],
            "plain_seconds": plain,
            "import_ratio": imported["seconds"] / plain,
            **measured,
        }
    finally:
        await db.drop_all()


def print_results(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print_machine()
    print(
        f"customers: {args.customers:,} (two phones each); lookups: {args.lookups:,}; workers: {args.workers or 'CPUs'}"
    )
    for r in results:
        print(f"\n{r['database']}:")
        print(
            f"  import    {r['import_seconds']:8.1f} s  {r['import_rows_per_second']:9,.0f} rows/s  "
            f"peak RSS {r['import_peak_rss'] / MiB:,.0f} MiB   goal < 120 s"
        )
        print(f"            {r['import_cpu_seconds']:8.1f} CPU-s (the command and its workers)")
        print(
            f"  plain     {r['plain_seconds']:8.1f} s  (driver bulk load)   import / plain = {r['import_ratio']:.1f}x"
        )
        lk, ix = r["lookup"], r["indexed"]
        print(f"  lookup    p50 {lk['p50']:.3f} ms  p99 {lk['p99']:.3f} ms   goal p99 < 0.5 ms")
        print(f"  indexed   p50 {ix['p50']:.3f} ms  p99 {ix['p99']:.3f} ms")
        print(f"  lookup / indexed: p50 {r['ratio_p50']:.2f}x  p99 {r['ratio_p99']:.2f}x")
        print(
            f"  index     {r['index_customers']:,} customers, {r['index_phones']:,} phones, loaded in "
            f"{r['load_seconds']:.1f} s, RSS +{r['index_bytes'] / MiB:,.0f} MiB "
            f"({r['rss_before'] / MiB:,.0f} -> {r['rss_after'] / MiB:,.0f} MiB)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--lookups", type=int, default=20_000)
    p.add_argument("--quick", action="store_true", help="20,000 customers, 2,000 lookups")
    p.add_argument("--postgres-url", default=os.environ.get("CTI_BENCH_POSTGRES_URL", DEFAULT_PG))
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument(
        "--workers", type=int, help="validation processes of cti import (default: its own)"
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    if args.quick:
        args.customers, args.lookups = 20_000, 2_000
    kinds = [
        k for k, off in (("sqlite", args.no_sqlite), ("postgres", args.no_postgres)) if not off
    ]
    with tempfile.TemporaryDirectory(prefix="cti-bench-customers-") as tmp:
        workdir = Path(tmp)
        files = {"agents": workdir / "agents.csv", "customers": workdir / "customers.csv"}
        progress(f"writing {files['customers'].name} with {args.customers:,} customers")
        logins = write_agents(files["agents"])
        write_customers(files["customers"], args.customers, logins)
        progress(f"{files['customers'].stat().st_size / MiB:,.0f} MiB written")
        results = [asyncio.run(bench_one(kind, args, workdir, files)) for kind in kinds]
    print_results(results, args)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "args": vars(args) | {"json": str(args.json)},
                    "results": results,
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
