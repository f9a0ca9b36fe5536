"""Two `cti serve` processes against one PostgreSQL and one Redis beside one process, under the
same load from the PBX simulator: pop latency p50/p99 (AMI write -> websocket read, agents spread
over the processes), calls and missed calls lost (the simulator's count against the database),
and RSS growth per process.

    .venv/bin/python -m bench.cluster                  # 5,000 agents, 100 calls/s, 10 minutes
    .venv/bin/python -m bench.cluster --quick          # 200 agents, 20 calls/s, 30 s
    .venv/bin/python -m bench.cluster --minutes 2 --agents 1000 --rate 50

Each configuration gets a fresh PostgreSQL database (agents with tokens, customers) and a Redis
prefix of its own; the simulator runs in this process, the websocket clients in one process per
server (two for the single server, so the client side is the same). With two servers one holds
the AMI lease and consumes; the other serves its half of the agents through the Redis fan-out.
Calls: 90% `answered`, 10% `abandoned` (a missed call each) toward random agents.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench._common import REPO, print_machine, progress, throwaway_postgres
from bench.pops import (
    AGENT_BASE,
    SECRET,
    Stamping,
    _free_port,
    client_process,
    http_json,
    known_number,
    metric,
    percentile,
    prepare,
    rss_of,
)

POSTGRES_URL = os.environ.get(
    "CTI_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CTI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def start_server(
    database_url: str, prefix: str, ami_port: int, http_port: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CTI_DATABASE_URL": database_url,
        "CTI_AMI_PORT": str(ami_port),
        "CTI_AMI_SECRET": SECRET,
        "CTI_AGI_PORT": "0",
        "CTI_HTTP_PORT": str(http_port),
        "CTI_REDIS_URL": REDIS_URL,
        "CTI_REDIS_PREFIX": prefix,
        "CTI_AUTO_MIGRATE": "false",
        "CTI_WS_QUEUE_SIZE": "1024",
        "CTI_LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING"),
        # asyncio's debug mode in the servers only: stalls over 100 ms logged to serve-N.log
        **({"PYTHONASYNCIODEBUG": "1"} if os.environ.get("BENCH_LOOP_DEBUG") else {}),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cti.cli", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )


async def stored(database_url: str, linkedids: set[str]) -> tuple[int, int, int]:
    """(calls of this run stored once, calls stored more than once, missed calls of this run)."""
    from sqlalchemy import func, select

    from cti.db.missed_models import MissedCallRow
    from cti.db.models import CallRow
    from cti.db.session import create_engine, session_factory

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = (
                await session.execute(
                    select(CallRow.linkedid, func.count()).group_by(CallRow.linkedid)
                )
            ).all()
            missed = set((await session.scalars(select(MissedCallRow.linkedid))).all())
    finally:
        await engine.dispose()
    once = sum(1 for lid, n in rows if lid in linkedids and n == 1)
    twice = sum(1 for _, n in rows if n > 1)
    return once, twice, len(missed & linkedids)


async def run_one(args: argparse.Namespace, servers: int) -> dict[str, Any]:
    from cti.ami.simulator import PbxSimulator

    home = Path(tempfile.mkdtemp(prefix=f"cti-bench-cluster-{servers}-"))
    database_url, drop = await throwaway_postgres(args.postgres_url, "cluster")
    prefix = f"cti-bench-{uuid.uuid4().hex[:8]}:"
    procs: list[Any] = []
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        progress(
            f"[{servers} process(es)] preparing {args.agents} agents with tokens, {args.customers} customers"
        )
        tokens = await prepare(database_url, args.agents, args.customers)
        stamping = Stamping()
        simulator = PbxSimulator(secret=SECRET, speed=1.0, seed=7)
        original = simulator.session_sent

        def session_sent(session: Any, data: bytes) -> None:
            stamping.sent(data)
            original(session, data)

        simulator.session_sent = session_sent  # type: ignore[method-assign]
        await simulator.start()
        echo_server = await asyncio.start_server(_echo, "127.0.0.1", 0)
        echo_port = echo_server.sockets[0].getsockname()[1]
        urls = []
        for n in range(servers):
            port = _free_port()
            nodes.append(
                start_server(database_url, prefix, simulator.port, port, home / f"serve-{n}.log")
            )
            urls.append(f"http://127.0.0.1:{port}")
            await _ready(urls[-1], nodes[-1], home / f"serve-{n}.log")
        await asyncio.sleep(2)
        progress(f"[{servers} process(es)] connecting {args.agents} websocket clients")
        logins = sorted(tokens.items())
        ctx = mp.get_context("spawn")
        pipes = []
        for n in range(2):  # two client processes either way; each talks to one server
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=client_process,
                args=(urls[n % servers], logins[n::2], echo_port, child),
                daemon=True,
            )
            proc.start()
            procs.append(proc)
            pipes.append(parent)
        for pipe in pipes:
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        roles = [json.loads((await http_json(f"{u}/health/ready"))[1]).get("role") for u in urls]
        await asyncio.sleep(3)
        rss_start = [rss_of(p.pid) for p in nodes]

        duration = args.minutes * 60
        progress(
            f"[{servers} process(es)] {args.rate:g} calls/s for {duration:g} s (roles: {roles})"
        )
        rng = random.Random(11)
        launched: list[tuple[str, str, str]] = []  # (linkedid, login, scenario)
        tasks: set[asyncio.Task[Any]] = set()
        start = next_at = time.monotonic()
        end, shown = start + duration, start
        while next_at < end:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            n = rng.randrange(args.agents)
            caller = (
                known_number(rng.randrange(args.customers))
                if rng.random() < 0.5
                else f"+7495{rng.randrange(10**7):07d}"
            )
            scenario = "abandoned" if rng.random() < 0.1 else "answered"
            extra = {"ring": 1.0, "talk": 2.0} if scenario == "answered" else {}
            linkedid, _, task = simulator.start_scenario(
                scenario, agent=str(AGENT_BASE + n), caller=caller, **extra
            )
            launched.append((linkedid, f"a{AGENT_BASE + n}", scenario))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += rng.expovariate(args.rate)
            if time.monotonic() - shown >= 30:
                shown = time.monotonic()
                rss = ", ".join(f"{rss_of(p.pid) / 2**20:.0f}" for p in nodes)
                progress(f"  {shown - start:4.0f} s: {len(launched):,} calls, RSS MiB: {rss}")
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(10)  # the last pops on their way (a backlog shows as missing pops)
        rss_end = [rss_of(p.pid) for p in nodes]
        pops_sent = sum([await metric(u, "cti_pops_total") for u in urls])
        for pipe in pipes:
            pipe.send("stop")
        got = [
            (await asyncio.get_running_loop().run_in_executor(None, pipe.recv))[1] for pipe in pipes
        ]
        ids = {lid for lid, _, _ in launched}
        for _ in range(60):  # the writer's last batches
            once, twice, missed = await stored(database_url, ids)
            if once + twice >= len(ids):
                break
            await asyncio.sleep(1)
        echo_server.close()
        await simulator.stop()
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        for node in nodes:
            node.terminate()
            try:
                node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.kill()
        await _forget_prefix(prefix)
        await drop()

    wanted = {(lid, login) for lid, login, scenario in launched if scenario == "answered"}
    latencies = []
    seen: dict[tuple[str, str], int] = {}
    for data in got:
        for linkedid, login, at, _wall, _rang in data["pops"]:
            key = (linkedid, login)
            seen[key] = seen.get(key, 0) + 1
            if key in wanted and seen[key] == 1 and linkedid in stamping.written:
                latencies.append((at - stamping.written[linkedid]) / 1e6)
    rtts = [r / 1e6 for data in got for r in data["rtts"]]
    expected_missed = sum(1 for _, _, s in launched if s == "abandoned")
    return {
        "servers": servers,
        "roles": roles,
        "calls": len(launched),
        "calls_lost": len(launched) - once - twice,
        "calls_duplicated": twice,
        "missed_expected": expected_missed,
        "missed_lost": expected_missed - missed,
        "pops_sent": pops_sent,
        "pops_read": len(latencies),
        "pops_missing": len(wanted - set(seen)),
        "pops_duplicated": sum(1 for v in seen.values() if v > 1),
        "pop_p50": percentile(latencies, 50),
        "pop_p99": percentile(latencies, 99),
        "rtt_p50": percentile(rtts, 50),
        "rtt_p99": percentile(rtts, 99),
        "rss_start": rss_start,
        "rss_end": rss_end,
        "closed_early": sum(d["closed"] for d in got),
    }


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line)
    writer.close()


async def _ready(url: str, node: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            status, _ = await http_json(f"{url}/health/ready")
            if status == 200:
                return
        except OSError:
            pass
        if node.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(log.read_text()[-3000:])  # noqa: ASYNC240 - failing anyway
        await asyncio.sleep(0.3)


async def _forget_prefix(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def report(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    print_machine()
    print(
        f"command: python -m bench.cluster --minutes {args.minutes:g} --agents {args.agents} --rate {args.rate:g}"
    )
    print(f"{'':34}" + "".join(f"{r['servers']} process(es)".rjust(22) for r in results))

    def row(label: str, values: list[str]) -> None:
        print(f"{label:34}" + "".join(v.rjust(22) for v in values))

    row("roles", [",".join(map(str, r["roles"])) for r in results])
    row("calls (simulator)", [f"{r['calls']:,}" for r in results])
    row(
        "calls lost / duplicated in the db",
        [f"{r['calls_lost']} / {r['calls_duplicated']}" for r in results],
    )
    row(
        "missed calls expected / lost",
        [f"{r['missed_expected']} / {r['missed_lost']}" for r in results],
    )
    row(
        "pops read / missing / doubled",
        [f"{r['pops_read']:,} / {r['pops_missing']} / {r['pops_duplicated']}" for r in results],
    )
    row("pop p50 (AMI write -> ws read)", [f"{r['pop_p50']:.1f} ms" for r in results])
    row("pop p99", [f"{r['pop_p99']:.1f} ms" for r in results])
    row(
        "loopback echo p50 / p99 (same run)",
        [f"{r['rtt_p50']:.1f} / {r['rtt_p99']:.1f} ms" for r in results],
    )
    for i in range(max(r["servers"] for r in results)):
        row(
            f"RSS process {i + 1}: start -> end",
            [
                f"{r['rss_start'][i] / 2**20:.0f} -> {r['rss_end'][i] / 2**20:.0f} MiB"
                if i < r["servers"]
                else "-"
                for r in results
            ],
        )
    row(
        "RSS growth per minute, per process",
        [
            "/".join(
                f"{(e - s) / 2**20 / args.minutes:.1f}"
                for s, e in zip(r["rss_start"], r["rss_end"], strict=True)
            )
            + " MiB"
            for r in results
        ],
    )
    if len(results) == 2 and results[1]["pop_p50"] and results[0]["pop_p50"]:
        one, two = results
        print(
            f"ratios two/one: pop p50 {two['pop_p50'] / one['pop_p50']:.2f}x, p99 {two['pop_p99'] / one['pop_p99']:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="bench.cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="200 agents, 20 calls/s, 30 s")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=100.0, help="new calls per second")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.agents, args.rate = 0.5, 200, 20.0
    results = [asyncio.run(run_one(args, 1)), asyncio.run(run_one(args, 2))]
    report(args, results)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
