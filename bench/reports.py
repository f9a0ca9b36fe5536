"""Supervisor reports over a year of a mid-size contact centre, SQLite and PostgreSQL.

    .venv/bin/python -m bench.reports [--calls 1000000] [--rounds 5] [--quick] [--no-postgres] [--no-browser]

A year (365 days from 2025-11-24) of `cti.reports.generator` calls (1,000,000 by default: ~95%
inbound, ~8% of those missed, the lunch spike, callbacks and agents' states) is generated once,
chunk by chunk, into both databases. Then, alternating in every round and with the median over
the rounds, on each database:

  baseline  SELECT COUNT(*) FROM calls (a plain full count of the same table, same connection pool)
  summary   Reports.summary for the whole year: every KPI (calls, callbacks, agents' time)
  by hour   Reports.breakdown(by="hour") for the year (office-time hours, GROUP BY in SQL)
  by day    Reports.breakdown(by="day") (365 rows)
  by agent  Reports.breakdown(by="agent") (JSON lists unnested in SQL)

and the /reports page for the whole year and for one month in headless Chromium (system /usr/bin/chromium), from
the click on Show to tiles, charts and tables drawn (the page's own "ready" state).

The SQLite file is kept in bench/out/ and reused by later runs with the same --calls (delete it
to regenerate); PostgreSQL gets a throw-away database `cti_bench_reports_<pid>` on
`CTI_BENCH_POSTGRES_URL` (default postgresql+asyncpg://postgres@127.0.0.1:5432/test), dropped at
the end. `--quick` is a smoke run: 20,000 calls, 2 rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench._common import REPO, median, print_machine, progress

FIRST = date(2025, 11, 24)
DAYS = 365
LAST = "2026-11-23"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def _generate(targets: list[Any], calls: int) -> None:
    from cti.reports import generator

    for sessions in targets:
        await generator.write_agents(sessions, FIRST, DAYS, generator.ZoneInfo("Europe/Moscow"))
    done = 0
    started = time.monotonic()
    for chunk in generator.generate(calls, first=FIRST, days=DAYS, chunk_size=50_000):
        for sessions in targets:
            await generator.write_chunk(sessions, chunk)
        done += len(chunk.calls)
        rate = done / (time.monotonic() - started)
        progress(f"generated {done:,}/{calls:,} calls ({rate:,.0f}/s, {len(targets)} database(s))")


async def _analyze(engine: Any) -> None:
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    else:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))


async def _measure(name: str, engine: Any, rounds: int) -> dict[str, list[float]]:
    from cti.db.session import session_factory
    from cti.reports import queries
    from cti.reports.service import ReportQuery, Reports, Viewer

    sessions = session_factory(engine)
    reports = Reports(sessions=sessions, timezone="Europe/Moscow")
    q = ReportQuery(start=FIRST.isoformat(), end=LAST)
    boss = Viewer(login="bench", everything=True)

    async def count() -> Any:
        async with sessions() as s:
            return await queries.count_calls(s)

    subjects = {
        "COUNT(*)": count,
        "summary": lambda: reports.summary(q, boss),
        "by hour": lambda: reports.breakdown(q, boss, "hour"),
        "by day": lambda: reports.breakdown(q, boss, "day"),
        "by agent": lambda: reports.breakdown(q, boss, "agent"),
    }
    times: dict[str, list[float]] = {k: [] for k in subjects}
    for work in subjects.values():  # warm-up: caches and plans, not timed
        await work()
    summary = await reports.summary(q, boss)
    total = await count()
    progress(
        f"{name}: {total:,} calls; year: offered {summary['figures']['offered']:,}, "
        f"SL {summary['figures']['service_level']:.3f}, missed rate {summary['figures']['missed_rate']:.3f}"
    )
    for rnd in range(rounds):
        for key, work in subjects.items():
            started = time.perf_counter()
            await work()
            times[key].append(time.perf_counter() - started)
        progress(
            f"{name} round {rnd + 1}/{rounds}: "
            + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in times.items())
        )
    return times


async def _browser(engine: Any, rounds: int) -> dict[str, list[float]]:
    from aiohttp import web
    from playwright.async_api import async_playwright

    from cti.app import call_store
    from cti.bus import InProcessBus
    from cti.config import Settings
    from cti.db.session import session_factory
    from cti.reports.service import Reports
    from web import reports_api
    from web.app import create_app

    token = "bench-reports-token-" + os.urandom(8).hex()
    sessions = session_factory(engine)

    async def no_calls(limit: int, involving: frozenset[str] | None) -> list[dict[str, Any]]:
        return []

    settings = Settings(api_tokens=(token,))
    _, callbacks = call_store(settings, sessions)  # as `cti serve` builds it
    app = create_app(
        settings=settings,
        bus=InProcessBus(),
        live_calls=list,
        recent_calls=no_calls,
        health=dict,
        metrics=str,
    )
    reports_api.setup(
        app, reports=Reports(sessions=sessions, timezone="Europe/Moscow"), callbacks=callbacks
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    times: dict[str, list[float]] = {"year": [], "month": []}
    try:
        async with async_playwright() as pw:
            chromium = await pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=True,
                args=["--no-sandbox", "--disable-dev-shm-usage"],
            )
            page = await (
                await chromium.new_context(viewport={"width": 1280, "height": 900})
            ).new_page()
            await page.goto(f"{url}/login?token={token}")
            await page.goto(f"{url}/reports")
            await page.wait_for_function(
                "() => ['ready', 'error'].includes(document.body.dataset.state)"
            )

            async def drawn(label: str, rnd: int) -> float:
                started = time.perf_counter()
                await page.click("#period-form button[type=submit]")
                await page.wait_for_function(
                    "() => document.body.dataset.state !== 'loading'", timeout=120_000
                )
                elapsed = time.perf_counter() - started
                state = await page.evaluate("() => document.body.dataset.state")
                if state != "ready":
                    raise RuntimeError(f"the page says {await page.text_content('#error')!r}")
                shown = await page.locator("#missed-body tr").count()
                progress(
                    f"page, {label}, round {rnd}: {elapsed * 1000:.0f} ms ({shown} missed rows shown)"
                )
                return elapsed

            for rnd in range(rounds + 1):  # the first of each is a warm-up
                await page.select_option("#period", "custom")
                await page.wait_for_function("() => document.body.dataset.state !== 'loading'")
                await page.fill("#from", FIRST.isoformat())
                await page.fill("#to", LAST)
                elapsed = await drawn("the year", rnd)
                if rnd:
                    times["year"].append(elapsed)
                await page.select_option("#period", "month")
                await page.wait_for_function("() => document.body.dataset.state !== 'loading'")
                await page.fill("#from", "2026-10-15")
                elapsed = await drawn("October", rnd)
                if rnd:
                    times["month"].append(elapsed)
            await chromium.close()
    finally:
        await runner.cleanup()
    return times


def _report(name: str, times: dict[str, list[float]]) -> None:
    base = median(times["COUNT(*)"])
    print(f"\n{name}")
    print(f"{'':<10} {'median':>10} {'x COUNT(*)':>11}   rounds (ms)")
    for key, values in times.items():
        m = median(values)
        print(
            f"{key:<10} {m * 1000:>8.0f} ms {m / base:>10.1f}x   "
            + ", ".join(f"{v * 1000:.0f}" for v in values)
        )


async def amain(args: argparse.Namespace) -> int:
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    from cti.db.migrate import upgrade
    from cti.db.session import create_engine, normalize_url, session_factory

    calls = 20_000 if args.quick else args.calls
    rounds = 2 if args.quick else args.rounds
    print_machine()
    print(f"calls: {calls:,} over {DAYS} days; rounds: {rounds}; medians")
    data = REPO / "bench" / "out"
    data.mkdir(parents=True, exist_ok=True)
    sqlite_path = Path(args.sqlite or data / f"reports-{calls}.db")
    sqlite_url = f"sqlite+aiosqlite:///{sqlite_path}"
    fresh_sqlite = not sqlite_path.exists()  # noqa: ASYNC240 (once, before anything is timed)
    await upgrade(sqlite_url)
    sqlite = create_engine(sqlite_url)
    pg = admin = None
    pg_name = f"cti_bench_reports_{os.getpid()}"
    if not args.no_postgres:
        admin_url = normalize_url(args.postgres_url)
        admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        pg_url = admin_url.set(database=pg_name).render_as_string(hide_password=False)
        await upgrade(pg_url)
        pg = create_engine(pg_url)
    try:
        targets = ([session_factory(sqlite)] if fresh_sqlite else []) + (
            [session_factory(pg)] if pg else []
        )
        if targets:
            started = time.monotonic()
            await _generate(targets, calls)
            progress(f"generation and inserts: {time.monotonic() - started:.0f} s")
        else:
            progress(f"reusing {sqlite_path}")
        for engine in (sqlite, pg):
            if engine is not None:
                progress(f"ANALYZE {engine.dialect.name}")
                await _analyze(engine)
        results = {}
        if pg is not None:
            results["PostgreSQL"] = await _measure("PostgreSQL", pg, rounds)
        results["SQLite"] = await _measure("SQLite", sqlite, rounds)
        for name, times in results.items():
            _report(name, times)
        if not args.no_browser:
            engine = pg if pg is not None else sqlite
            page = await _browser(engine, 2 if args.quick else 3)
            for label, values in page.items():
                print(
                    f"page (/reports, {label}, {engine.dialect.name}): click to drawn, median "
                    f"{median(values) * 1000:.0f} ms ("
                    + ", ".join(f"{v * 1000:.0f}" for v in values)
                    + " ms)"
                )
    finally:
        await sqlite.dispose()
        if pg is not None:
            await pg.dispose()
        if admin is not None:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            await admin.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reports", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--calls", type=int, default=1_000_000, help="calls in the year (default 1,000,000)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20,000 calls, 2 rounds")
    parser.add_argument(
        "--sqlite", help="the SQLite file (default bench/out/reports-<calls>.db, reused)"
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("CTI_BENCH_POSTGRES_URL", PG_DEFAULT)
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-browser", action="store_true", help="skip the page in Chromium")
    return asyncio.run(amain(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
