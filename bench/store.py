"""Full pipeline with persistence: finished calls/s to SQLite and to PostgreSQL.

    .venv/bin/python -m bench.store [--calls N] [--rounds R] [--batch 500] [--quick]
                                    [--postgres-url URL | --no-postgres] [--no-sqlite]
                                    [--store repository|server]

The stream is built like bench.ingest's (copies of the shared call captures with fresh ids,
see bench/_capture.py), N calls (default 20,000). The pipeline is the server's own:
`EventStream` -> `CallService.handle` (tracker + effects) with `CallService.write_forever`
running as a task that stores finished calls through `CallRepository.save_many` in batches of
`--batch`; the feed yields to the event loop after every read, as a socket read would. A run
ends when every call is stored. `--store server` stores through `cti.app.call_store` instead,
the server's own store (the calls plus, in the same transaction, the missed calls and
callbacks they make), as `cti serve` does.

Measured side by side, per round (database order alternates between rounds):

  no-db    the same pipeline with no store (ingestion + tracking + effects)      baseline
  sqlite   the pipeline writing to a fresh SQLite file (WAL, synchronous=NORMAL)
  no-db    again
  postgres the pipeline writing to PostgreSQL (a throw-away database, dropped at the end)
  no-db    again

each database run being compared with the mean of the two baseline runs around it; and, for
each database, the write path alone on the same rows (the records of the stream), in
alternating order:

  repo     CallRepository.save_many, batches of `--batch`                       subject
  plain    the driver's own executemany of a plain INSERT, same batches, one
           transaction per batch (aiosqlite / asyncpg, no SQLAlchemy)           baseline

The figures: calls/s with persistence and its ratio to calls/s without (same round), and
save_many rows/s with its ratio to the plain executemany rows/s. Medians over the rounds.

PostgreSQL: `postgresql+asyncpg://postgres@127.0.0.1:5432/test` unless CTI_BENCH_POSTGRES_URL
or --postgres-url says otherwise. Nothing in that database is touched: the benchmark creates
its own database `cti_bench_<pid>` on the same server, migrates it with `cti.db.migrate.upgrade`
and drops it when done. Without CREATEDB, --pg-same-db migrates the given database itself
(refused if it already has a `calls` table) and downgrades it to empty afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

from bench import _capture
from bench._common import fresh_heap, median, package_versions, print_machine, progress, spread

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


# --- the pipeline ------------------------------------------------------------------------------


async def run_pipeline(
    capture: _capture.BigCapture, chunk_size: int, repo: Any, batch: int
) -> dict:
    """Feed the stream through EventStream -> CallService (and its writer when `repo`)."""
    from cti.ami.ingest import EventStream
    from cti.calls.endpoints import TrackingRules
    from cti.calls.service import CallService
    from cti.calls.tracker import CallTracker

    rules = TrackingRules()
    tracker = CallTracker(rules=rules)
    service = CallService(
        tracker=tracker,
        store=repo,
        bus=None,
        batch_size=batch,
        buffer_limit=max(100_000, capture.calls + 1),
    )
    stream = EventStream(
        on_event=service.handle, variables=(*rules.did_variables, *rules.recording_variables)
    )
    feed = stream.feed
    now = time.time
    sleep = asyncio.sleep
    writer = asyncio.create_task(service.write_forever()) if repo is not None else None
    chunks = capture.chunks(chunk_size)
    fresh_heap()
    start = time.perf_counter()
    try:
        for chunk in chunks:
            feed(chunk, now())
            await sleep(0)
        if writer is not None:
            while service.unsaved:
                if writer.done():
                    writer.result()
                if service.store_errors:
                    raise SystemExit(
                        f"the store failed ({service.store_errors} errors, see the log above)"
                    )
                await service.flush(timeout=1)
        seconds = time.perf_counter() - start
    finally:
        if writer is not None:
            writer.cancel()
            try:
                await writer
            except asyncio.CancelledError:
                pass
    if service.finished != capture.calls:
        raise SystemExit(f"pipeline finished {service.finished} calls, expected {capture.calls}")
    if repo is not None and (service.stored != capture.calls or service.store_errors):
        raise SystemExit(
            f"stored {service.stored} of {capture.calls} calls, {service.store_errors} store errors"
        )
    return {"seconds": seconds, "calls": service.finished, "stored": service.stored}


def collect_records(capture: _capture.BigCapture) -> list:
    """The finished calls of the stream (setup for the write-only runs; not timed)."""
    from cti.calls.endpoints import TrackingRules
    from cti.calls.replay import Replayer

    replayer = Replayer(rules=TrackingRules())
    out: list = []
    for chunk in capture.chunks(65536):
        replayer.stream.feed(chunk, time.time())
        out.extend(replayer.records)
        replayer.records.clear()
    return out


async def run_repo_only(repo: Any, records: Sequence, batch: int) -> float:
    fresh_heap()
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        await repo.save_many(records[i : i + batch])
    return time.perf_counter() - start


# --- databases ---------------------------------------------------------------------------------


class Target:
    """One database: set up, emptied before each run, torn down at the end."""

    name = ""
    url = ""
    store = "repository"  #: or "server": cti.app.call_store, what `cti serve` writes with

    async def setup(self) -> None: ...
    async def empty(self) -> None: ...
    async def count(self) -> int: ...
    async def plain_insert(self, rows: list[dict], batch: int) -> float: ...
    async def teardown(self) -> None: ...

    def repo(self):
        from cti.db.calls import CallRepository
        from cti.db.session import create_engine, session_factory

        self.engine = create_engine(self.url)
        sessions = session_factory(self.engine)
        if self.store == "server":
            # the server's own store: calls, and in the same transaction the missed calls and
            # callbacks they make or resolve (cti.app.call_store, shared by `cti serve`)
            from cti.app import call_store
            from cti.config import Settings

            repository, _callbacks = call_store(Settings(database_url=self.url), sessions)
            return repository
        return CallRepository(session_factory=sessions)

    async def close_repo(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            await engine.dispose()
            self.engine = None


def _columns(rows: list[dict]) -> list[str]:
    return list(rows[0])


class SqliteTarget(Target):
    name = "sqlite"

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="cti-bench-")
        self.path = Path(self._dir.name) / "bench.db"
        self.url = f"sqlite+aiosqlite:///{self.path}"

    async def setup(self) -> None:
        from cti.db.migrate import upgrade

        await upgrade(self.url)

    async def _connect(self):
        import aiosqlite

        conn = await aiosqlite.connect(self.path, timeout=30, isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        return conn

    async def empty(self) -> None:
        conn = await self._connect()
        try:
            async with conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
            ) as cur:
                tables = [row[0] for row in await cur.fetchall()]
            await conn.execute("PRAGMA foreign_keys=OFF")
            for table in tables:
                await conn.execute(f'DELETE FROM "{table}"')
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            await conn.close()

    async def count(self) -> int:
        conn = await self._connect()
        try:
            async with conn.execute("SELECT count(*) FROM calls") as cur:
                return (await cur.fetchone())[0]
        finally:
            await conn.close()

    @staticmethod
    def driver_rows(rows: list[dict]) -> list[tuple]:
        def conv(v: Any) -> Any:
            if isinstance(v, list):
                return json.dumps(v)
            if hasattr(v, "tzinfo") and hasattr(v, "strftime"):
                return v.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            if isinstance(v, bool):
                return int(v)
            return v

        return [tuple(conv(v) for v in row.values()) for row in rows]

    async def plain_insert(self, rows: list[dict], batch: int) -> float:
        cols = _columns(rows)
        sql = f"INSERT INTO calls ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        values = self.driver_rows(rows)
        conn = await self._connect()
        try:
            fresh_heap()
            start = time.perf_counter()
            for i in range(0, len(values), batch):
                await conn.execute("BEGIN")
                await conn.executemany(sql, values[i : i + batch])
                await conn.execute("COMMIT")
            return time.perf_counter() - start
        finally:
            await conn.close()

    async def teardown(self) -> None:
        await self.close_repo()
        self._dir.cleanup()


class PostgresTarget(Target):
    name = "postgres"

    def __init__(self, admin_url: str, same_db: bool) -> None:
        from sqlalchemy.engine import make_url

        self.admin = make_url(admin_url).set(drivername="postgresql+asyncpg")
        self.same_db = same_db
        self.dbname = self.admin.database if same_db else f"cti_bench_{os.getpid()}"
        self.url = self.admin.set(database=self.dbname).render_as_string(hide_password=False)
        self.created = False

    def _dsn(self, url) -> str:
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def setup(self) -> None:
        import asyncpg

        from cti.db.migrate import upgrade

        if not self.same_db:
            conn = await asyncpg.connect(self._dsn(self.admin))
            try:
                await conn.execute(f'CREATE DATABASE "{self.dbname}"')
                self.created = True
            finally:
                await conn.close()
        else:
            conn = await asyncpg.connect(self._dsn(self.admin))
            try:
                if await conn.fetchval("SELECT to_regclass('calls')") is not None:
                    raise SystemExit(
                        f"--pg-same-db: database {self.dbname} already has a calls table; "
                        "refusing to touch it"
                    )
            finally:
                await conn.close()
            self.created = True
        await upgrade(self.url)

    async def _connect(self):
        import asyncpg
        from sqlalchemy.engine import make_url

        return await asyncpg.connect(self._dsn(make_url(self.url)))

    async def empty(self) -> None:
        conn = await self._connect()
        try:
            tables = [
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename != 'alembic_version'"
                )
            ]
            names = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    async def count(self) -> int:
        conn = await self._connect()
        try:
            return await conn.fetchval("SELECT count(*) FROM calls")
        finally:
            await conn.close()

    async def plain_insert(self, rows: list[dict], batch: int) -> float:
        cols = _columns(rows)
        params = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
        sql = f"INSERT INTO calls ({', '.join(cols)}) VALUES ({params})"
        values = [
            tuple(json.dumps(v) if isinstance(v, list) else v for v in row.values()) for row in rows
        ]
        conn = await self._connect()
        try:
            fresh_heap()
            start = time.perf_counter()
            for i in range(0, len(values), batch):
                async with conn.transaction():
                    await conn.executemany(sql, values[i : i + batch])
            return time.perf_counter() - start
        finally:
            await conn.close()

    async def teardown(self) -> None:
        import asyncpg

        await self.close_repo()
        if not self.created:
            return
        conn = await asyncpg.connect(self._dsn(self.admin))
        try:
            if self.same_db:
                from cti.db.migrate import downgrade

                await conn.close()
                await downgrade(self.url, "base")
                conn = await asyncpg.connect(self._dsn(self.admin))
                await conn.execute("DROP TABLE IF EXISTS alembic_version")
            else:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        finally:
            await conn.close()


# --- main --------------------------------------------------------------------------------------


async def amain(args: argparse.Namespace) -> int:
    from cti.db.calls import record_to_row

    progress(f"building a stream of >= {args.calls:,} calls")
    capture = _capture.build(
        calls=args.calls, on_progress=lambda i, n: progress(f"  rendered {i}/{n} copies")
    )
    progress(
        f"stream: {capture.events:,} events, {capture.calls:,} calls, "
        f"{len(capture.data) / 2**20:,.0f} MiB"
    )
    progress("collecting the stream's records for the write-only runs")
    records = collect_records(capture)
    if len(records) != capture.calls:
        raise SystemExit(f"replay gave {len(records)} records, expected {capture.calls}")
    rows = [record_to_row(r) for r in records]

    targets: list[Target] = []
    if not args.no_sqlite:
        targets.append(SqliteTarget())
    if not args.no_postgres:
        targets.append(PostgresTarget(args.postgres_url, args.pg_same_db))
    for t in targets:
        t.store = args.store

    ready: list[Target] = []
    skipped: dict[str, str] = {}
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for t in targets:
            progress(f"setting up {t.name}: {t.url if t.name == 'sqlite' else t.dbname}")
            try:
                await t.setup()
            except SystemExit:
                raise
            except Exception as exc:  # an unreachable server is reported, not fatal
                skipped[t.name] = f"{exc.__class__.__name__}: {exc}"
                progress(f"  {t.name} skipped: {skipped[t.name]}")
                continue
            ready.append(t)
            results[t.name] = {k: [] for k in ("base", "pipe", "ratio", "repo", "plain", "wratio")}

        async def baseline(rnd: int) -> float:
            run = await run_pipeline(capture, args.chunk_size, None, args.batch)
            rate = capture.calls / run["seconds"]
            progress(
                f"round {rnd}/{args.rounds} no-db    : pipeline  {rate:>9,.0f} calls/s ({run['seconds']:.2f} s)"
            )
            return rate

        for rnd in range(1, args.rounds + 1):
            # baseline, sqlite, baseline, postgres, baseline: each database run sits between
            # two baseline runs and is compared with their mean
            before = await baseline(rnd)
            order = ready if rnd % 2 else ready[::-1]
            for t in order:
                r = results[t.name]
                await t.empty()
                repo = t.repo()
                try:
                    pipe = await run_pipeline(capture, args.chunk_size, repo, args.batch)
                finally:
                    await t.close_repo()
                stored = await t.count()
                if stored != capture.calls:
                    raise SystemExit(
                        f"{t.name}: {stored} rows after the run, expected {capture.calls}"
                    )
                pipe_rate = capture.calls / pipe["seconds"]
                progress(
                    f"round {rnd}/{args.rounds} {t.name:8}: pipeline  {pipe_rate:>9,.0f} calls/s ({pipe['seconds']:.2f} s)"
                )
                after = await baseline(rnd)
                base_rate = (before + after) / 2
                before = after
                r["base"].append(base_rate)
                r["pipe"].append(pipe_rate)
                r["ratio"].append(pipe_rate / base_rate)
                progress(
                    f"round {rnd}/{args.rounds} {t.name:8}: ratio to the mean of the baselines around it {pipe_rate / base_rate:.2f}x"
                )

                # the write path alone, plain executemany and save_many in alternating order
                repo_s = plain_s = 0.0
                for side in ("plain", "repo") if rnd % 2 else ("repo", "plain"):
                    await t.empty()
                    if side == "plain":
                        plain_s = await t.plain_insert(rows, args.batch)
                    else:
                        repo = t.repo()
                        try:
                            repo_s = await run_repo_only(repo, records, args.batch)
                        finally:
                            await t.close_repo()
                    if await t.count() != capture.calls:
                        raise SystemExit(f"{t.name}: {side} did not store every row")
                r["plain"].append(len(rows) / plain_s)
                r["repo"].append(len(rows) / repo_s)
                r["wratio"].append(plain_s / repo_s)
                progress(
                    f"round {rnd}/{args.rounds} {t.name:8}: writes only: plain executemany "
                    f"{len(rows) / plain_s:,.0f} rows/s, save_many {len(rows) / repo_s:,.0f} rows/s "
                    f"ratio {plain_s / repo_s:.2f}x"
                )
    finally:
        for t in targets:
            try:
                await t.teardown()
            except Exception as exc:
                progress(f"teardown of {t.name} failed: {exc!r}")

    print()
    what = (
        "CallRepository.save_many"
        if args.store == "repository"
        else "cti.app.call_store (calls + missed calls + callbacks)"
    )
    print(f"bench.store: full pipeline (ingest + track + CallService + {what})")
    print_machine()
    print(f"packages: {package_versions('sqlalchemy', 'aiosqlite', 'asyncpg')}")
    print(
        f"stream: {capture.calls:,} calls, {capture.events:,} events, "
        f"{len(capture.data) / 2**20:,.1f} MiB; chunk {args.chunk_size} B, batch {args.batch}; "
        f"{args.rounds} rounds, medians (min..max); GIL switch interval {sys.getswitchinterval() * 1000:g} ms"
    )
    summary: dict[str, Any] = {}
    for name, r in results.items():
        if not r["pipe"]:
            continue
        s = {k: median(v) for k, v in r.items()}
        summary[name] = s
        print(
            f"{name:8}: pipeline with persistence {s['pipe']:>8,.0f} calls/s ({spread(r['pipe'])}) "
            f"vs without {s['base']:>8,.0f} calls/s ({spread(r['base'])}): "
            f"ratio {s['ratio']:.2f}x ({min(r['ratio']):.2f}..{max(r['ratio']):.2f})"
        )
        print(
            f"{'':8}  writes only: {args.store} save_many {s['repo']:>8,.0f} rows/s ({spread(r['repo'])}) vs "
            f"plain executemany INSERT {s['plain']:>8,.0f} rows/s ({spread(r['plain'])}): "
            f"ratio {s['wratio']:.2f}x ({min(r['wratio']):.2f}..{max(r['wratio']):.2f})"
        )
    for name, why in skipped.items():
        print(f"{name:8}: skipped ({why})")
    if args.json:
        print(
            json.dumps(
                {"calls": capture.calls, "summary": summary, "rounds": results, "skipped": skipped},
                indent=1,
            )
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.store",
        description="Full pipeline with persistence: calls/s to SQLite and PostgreSQL, "
        "side by side with the same pipeline without a database.",
    )
    parser.add_argument(
        "--calls", type=int, default=20_000, help="calls in the stream (default 20,000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--batch", type=int, default=500, help="calls per save_many (default 500)")
    parser.add_argument(
        "--chunk-size", type=int, default=65536, help="bytes per read (default 65536)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CTI_BENCH_POSTGRES_URL", DEFAULT_PG),
        help=f"PostgreSQL server to use (env CTI_BENCH_POSTGRES_URL; default {DEFAULT_PG}); "
        "a throw-away database is created on it",
    )
    parser.add_argument(
        "--pg-same-db",
        action="store_true",
        help="use the given database itself instead of creating one "
        "(refuses if it already has a calls table; drops the tables at the end)",
    )
    parser.add_argument(
        "--store",
        choices=("repository", "server"),
        default="repository",
        help="what stores the calls: 'repository' = CallRepository.save_many alone (default); "
        "'server' = cti.app.call_store, the server's store (calls plus, in the same transaction, "
        "the missed calls and callbacks they make)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="sys.setswitchinterval for the run (default: Python's 0.005); for checking how "
        "much the SQLite writer thread waits for the GIL while the feed holds it",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 calls, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.rounds = 1_000, 2
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
