"""Routing over FastAGI on loopback, caller lookup included, beside a bare FastAGI echo handler.

    .venv/bin/python -m bench.routing [--customers 1000000] [--rate 200] [--seconds 30] [--quick]

Setup: a SQLite database migrated with `cti.db.migrate.upgrade`, holding N customers (one phone
each, half of them with an account manager, 5% VIP) and 24 agents in three teams, a duty rota
and DID rules. A server child process builds routing as `cti serve` does
(`cti.routing.setup.build_routing` with the live caller lookup, `CallerDirectory`: every
customer's numbers in memory, loaded before the run) and serves two scripts on one FastAGI
server:

  route   the decision for the call, as the dialplan asks it                     subject
  echo    as many SET VARIABLE commands as the latest decision had, fixed values, no
          lookup, no decision: the cost of the protocol itself                   baseline

The parent plays Asterisk: an open-loop generator starts --rate route sessions per second and
as many echo sessions, interleaved (so both see the same machine at the same moment), each a new
TCP connection that sends a channel's AGI environment and answers every command with
`200 result=1`, as res_agi does. Latency is from the connect to the server closing the
session. Callers: 70% known customers (a random one of N), 30% unknown numbers; DIDs of two
teams and one with no rule.

The figures: p50 / p99 / max per script, and the overhead of routing over the echo at p50 and
p99 (goal: route p99 < 5 ms, overhead < 2 ms); and the decision alone as the server times it
(lookup, policy, channel variables: what routing adds to the protocol), which a busy machine
disturbs far less than the round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEAMS = ("sales", "support", "wholesale")
DIDS = ("74951112233", "78005553535", "74959990000")
VARIABLES = 15  # until the first decision: 3 targets x 4 variables + customer id, name, count


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def phone(n: int) -> str:
    return f"+7916{n:07d}"


# --- the database ---------------------------------------------------------------------------------


def build_database(path: Path, customers: int) -> None:
    from cti.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(upgrade(url))
    db = sqlite3.connect(path)
    now = "2026-11-24 09:00:00"
    agents = []
    for n in range(24):
        team = TEAMS[n % 3]
        agents.append(
            (
                f"agent{n:02d}",
                f"Agent {n:02d}",
                "agent",
                f"{100 + n}",
                f"PJSIP/{100 + n}",
                f"+7903{n:07d}" if n % 4 == 0 else None,
                json.dumps([team]),
                n % 6,
                1 + n % 2,
                now,
            )
        )
    db.executemany(
        "INSERT INTO agents (login, name, role, extension, device, mobile, teams, seniority,"
        " max_calls, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        agents,
    )
    db.executemany(
        "INSERT INTO duty_shifts (login, days, start_time, end_time, created_at)"
        " VALUES (?,?,?,?,?)",
        [
            ("agent01", "mon-fri", "09:00", "20:00", now),
            ("agent02", "daily", "20:00", "09:00", now),
            ("agent03", "sat,sun", "09:00", "20:00", now),
        ],
    )
    step = 100_000
    rng = random.Random(7)
    for start in range(0, customers, step):
        rows = []
        for n in range(start, min(customers, start + step)):
            manager = f"agent{rng.randrange(24):02d}" if n % 2 == 0 else None
            rows.append((n + 1, f"Customer {n}", f"Company {n % 5000}", n % 20 == 0, manager, now))
        db.executemany(
            "INSERT INTO customers (id, name, company, vip, manager_login, created_at)"
            " VALUES (?,?,?,?,?,?)",
            rows,
        )
        db.executemany(
            "INSERT INTO customer_phones (customer_id, e164, raw) VALUES (?,?,?)",
            [(r[0], phone(r[0] - 1), phone(r[0] - 1)) for r in rows],
        )
        db.commit()
        progress(f"  {min(customers, start + step):,} customers")
    db.close()


# --- the server (child process) ------------------------------------------------------------------


async def serve(database: Path) -> None:
    from cti.config import Settings
    from cti.customers.directory import CallerDirectory
    from cti.db.session import create_engine, session_factory
    from cti.routing.dialplan import agi_route
    from cti.routing.fastagi import AgiRequest, FastAgiServer
    from cti.routing.setup import build_routing, matcher_lookup

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        agi_port=0,
        routing_did_rules=("74951112233=sales", "78005553535=support"),
        routing_default_team="wholesale",
    )
    logging.basicConfig(level=logging.ERROR)  # sessions ended early are counted, not printed
    engine = create_engine(settings.database_url)
    directory = CallerDirectory(engine=engine, region=settings.default_region)
    await directory.reload()  # the live lookup: every customer's numbers in memory
    routing, _ = build_routing(
        settings, session_factory(engine), live_calls=tuple, lookup=matcher_lookup(directory.match)
    )
    await routing.load()
    route = agi_route(routing.decide)
    last = [VARIABLES]  # variables of the latest decision: the echo sets as many

    inside: list[float] = []  # the decision alone: lookup, policy, variables (no network)

    async def counted(request: AgiRequest) -> Mapping[str, str]:
        started = time.perf_counter()
        variables = await route(request)
        inside.append((time.perf_counter() - started) * 1000)
        last[0] = len(variables)
        return variables

    async def echo(request: AgiRequest) -> dict[str, str]:
        return {f"CTI_VAR_{n}": f"PJSIP/{100 + n}" for n in range(last[0])}

    server = FastAgiServer(routes={"route": counted, "echo": echo}, host="127.0.0.1", port=0)
    await server.start()
    ready = time.process_time()
    print(json.dumps({"port": server.port}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent ends
    await server.close()
    cpu = time.process_time() - ready
    print(
        json.dumps(
            {
                "decisions": routing.stats.decisions,
                "degraded": routing.stats.degraded,
                "errors": server.stats.errors,
                "cpu_s": round(cpu, 2),
                "decide_p50_ms": round(statistics.median(inside), 3) if inside else None,
                "decide_p99_ms": round(pct(inside, 99), 3) if inside else None,
            }
        ),
        flush=True,
    )
    await engine.dispose()


# --- the load (parent: plays Asterisk) -----------------------------------------------------------


class _Asterisk(asyncio.Protocol):
    """res_agi's side of one session, lean: send the environment, acknowledge every command."""

    def __init__(self, env: bytes, done: asyncio.Future[int]) -> None:
        self._env, self._done = env, done
        self._buffer = b""
        self.commands = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._env)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        lines = self._buffer.count(b"\n")
        if lines:
            self._buffer = self._buffer[self._buffer.rfind(b"\n") + 1 :]
            self.commands += lines
            self._transport.write(b"200 result=1\n" * lines)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_result(self.commands)


async def one(port: int, script: str, caller: str, did: str, n: int) -> tuple[float, int]:
    from cti.routing.agi_peer import channel_env

    env = channel_env(script=script, uniqueid=f"1795512600.{n}", callerid=caller, extension=did)
    block = ("".join(f"{k}: {v}\n" for k, v in env) + "\n").encode()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    started = time.perf_counter()
    await loop.create_connection(lambda: _Asterisk(block, done), "127.0.0.1", port)
    commands = await done
    return time.perf_counter() - started, commands


async def load(
    port: int, customers: int, rate: float, seconds: float, *, closed: bool = False
) -> dict[str, list[float]]:
    """Open loop: sessions start on schedule whatever the server's pace. Closed (`closed`):
    one session at a time, back to back, the same number: the service time without queueing."""
    rng = random.Random(11)
    total = int(2 * rate * seconds)  # `rate` decisions per second, and as many echo sessions
    loop = asyncio.get_running_loop()
    begin = loop.time() + 0.2
    tasks: list[asyncio.Future[tuple[float, int]]] = []
    scripts: list[str] = []
    for n in range(total):
        delay = begin + n / (2 * rate) - loop.time()
        if delay > 0 and not closed:
            await asyncio.sleep(delay)
        script = ("route", "echo")[n % 2]
        known = rng.random() < 0.7
        caller = phone(rng.randrange(customers)) if known else f"+7926{rng.randrange(10**7):07d}"
        did = rng.choice(DIDS)
        if closed:
            done = loop.create_future()
            done.set_result(await one(port, script, caller, did, n))
            tasks.append(done)
        else:
            tasks.append(loop.create_task(one(port, script, caller, did, n)))
        scripts.append(script)
    results = await asyncio.gather(*tasks)
    out: dict[str, list[float]] = {"route": [], "echo": []}
    for script, (latency, variables) in zip(scripts, results, strict=True):
        if variables == 0:
            raise SystemExit(f"a {script} session set no variable: see the server's log")
        out[script].append(latency * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument(
        "--rate", type=float, default=200.0, help="decisions per second (and as many echo sessions)"
    )
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load not counted")
    p.add_argument("--quick", action="store_true", help="20,000 customers, 5 s")
    p.add_argument(
        "--database", type=Path, help="keep the customers' database here (built if missing)"
    )
    p.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    if args.quick:
        args.customers, args.seconds, args.warmup = 20_000, 5.0, 1.0
    with tempfile.TemporaryDirectory(prefix="cti-bench-routing-") as tmp:
        database = args.database or Path(tmp) / "routing.db"
        if not database.exists():
            progress(f"building {args.customers:,} customers in {database}")
            build_database(database, args.customers)
        progress("starting the FastAGI server (routing built as `cti serve` does)")
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.routing", "--serve", str(database)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "CTI_LOG_LEVEL": "WARNING"},
        )
        assert child.stdin is not None and child.stdout is not None
        port = json.loads(child.stdout.readline())["port"]
        progress(f"warming up {args.warmup:g} s, then {args.seconds:g} s at {args.rate:g}/s")
        asyncio.run(load(port, args.customers, args.rate, args.warmup))
        client_cpu = time.process_time()
        measured = asyncio.run(load(port, args.customers, args.rate, args.seconds))
        client_cpu = time.process_time() - client_cpu
        progress("the same number of sessions one at a time (service time, no queueing)")
        closed = asyncio.run(load(port, args.customers, args.rate, args.seconds, closed=True))
        child.stdin.close()
        server = json.loads(child.stdout.readline())
        child.wait(timeout=30)
    route, echo = measured["route"], measured["echo"]
    sessions = len(route) + len(echo)
    served = 2 * server["decisions"]  # every route session and its echo, warm-up included
    progress(
        f"CPU per session: server {server['cpu_s'] / served * 1000:.2f} ms, load generator "
        f"{client_cpu / sessions * 1000:.2f} ms"
    )
    load1, load5, _ = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.platform()}; load average {load1:.1f} (1 min), {load5:.1f} (5 min)"
    )
    print(
        f"{args.customers:,} customers, {args.rate:g} decisions/s + {args.rate:g} echo/s for "
        f"{args.seconds:g} s "
        f"({len(route)} route + {len(echo)} echo sessions); server: {server}"
    )
    print("| script | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in (("route", route), ("echo", echo)):
        print(
            f"| {name} | {statistics.median(values):.2f} | {pct(values, 99):.2f} | "
            f"{max(values):.2f} |"
        )
    print(
        f"the decision inside the server (lookup, policy, variables; every session): "
        f"p50 {server['decide_p50_ms']} ms, p99 {server['decide_p99_ms']} ms"
    )
    print("one session at a time:")
    print("| script | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: |")
    for name in ("route", "echo"):
        values = closed[name]
        print(
            f"| {name} | {statistics.median(values):.2f} | {pct(values, 99):.2f} | "
            f"{max(values):.2f} |"
        )
    print(
        f"one at a time, routing over echo: p50 "
        f"+{statistics.median(closed['route']) - statistics.median(closed['echo']):.2f} ms, p99 "
        f"+{pct(closed['route'], 99) - pct(closed['echo'], 99):.2f} ms"
    )
    over50 = statistics.median(route) - statistics.median(echo)
    over99 = pct(route, 99) - pct(echo, 99)
    print(
        f"routing over echo: p50 +{over50:.2f} ms, p99 +{over99:.2f} ms "
        f"(route/echo p50 {statistics.median(route) / statistics.median(echo):.2f}x); "
        f"goal p99 < 5 ms: {'met' if pct(route, 99) < 5 else 'NOT met'}, "
        f"overhead < 2 ms: {'met' if over99 < 2 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
