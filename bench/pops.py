"""Screen-pop latency: from the AMI event written on the simulator's socket to the pop read by
the agent's websocket client, with many agents connected and calls arriving steadily; beside it,
in the same run, the loopback round trip between the same processes. Also deliveries per second
and per CPU second of the one server process, and its memory per connected agent.

    .venv/bin/python -m bench.pops            # 1,000 agents, 100 calls/s for 60 s
    .venv/bin/python -m bench.pops --quick    # 200 agents, 20 calls/s for 10 s

A real `cti serve` runs in its own process (SQLite, in-memory feed); the PBX simulator and an
echo server run in this one; the websocket clients run in `--client-procs` processes. Each call
is the simulator's `answered` scenario toward a random agent (half the callers are customers in
the directory, so half the pops carry a card read from the database). Latency is measured per pop:
the time the simulator wrote the frame holding the call's DialBegin, to the time the client read
the `call.ringing` message (CLOCK_MONOTONIC is one clock for every process of the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import REPO, print_machine, progress, throwaway_postgres

SECRET = "bench-secret"
AGENT_BASE = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# --- the database: agents with tokens, customers -------------------------------------------------


async def prepare(database_url: str, agents: int, customers: int) -> dict[str, str]:
    """Agents 1000.. (extension and PJSIP device), each with a credential and a token; customers
    with the numbers the calls come from. Returns login -> token."""
    from datetime import UTC, datetime

    from cti.auth.passwords import fast_passwords
    from cti.auth.principal import Scope
    from cti.auth.service import AuthService
    from cti.auth.sql import SqlAuthStore
    from cti.customers.audit import Entity
    from cti.customers.model import Agent
    from cti.customers.service import CustomerService
    from cti.db import agents as agent_store
    from cti.db.audit import record_changes
    from cti.db.migrate import upgrade
    from cti.db.session import create_engine, session_factory

    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        now = datetime.now(UTC)
        rows = [
            (
                None,
                Agent(
                    id=None,
                    login=f"a{AGENT_BASE + n}",
                    name=f"Agent {AGENT_BASE + n}",
                    extension=str(AGENT_BASE + n),
                    device=f"PJSIP/{AGENT_BASE + n}",
                ),
            )
            for n in range(agents)
        ]
        async with sessions() as session, session.begin():
            written = await agent_store.write(session, rows, actor="bench", at=now)
            await record_changes(session, Entity.AGENT, [a.id for a in written if a.id is not None])
        passwords = fast_passwords()
        store = SqlAuthStore(session_factory=sessions)
        auth = AuthService(store=store, passwords=passwords)
        hashed = passwords.hash("bench password")
        tokens = {}
        for n in range(agents):
            login = f"a{AGENT_BASE + n}"
            await store.set_password(login, hashed, time.time())
            _, tokens[login] = await auth.create_token(login, scopes=frozenset({Scope.READ}))
        service = CustomerService(sessions=sessions, region="RU", office_timezone="Europe/Moscow")
        batch = []
        for n in range(customers):
            batch.append(
                {
                    "external_id": f"bench-{n}",
                    "name": f"Клиент {n}",
                    "company": f"ООО Компания {n}",
                    "phones": [known_number(n)],
                    "vip": n % 10 == 0,
                    "manager_login": f"a{AGENT_BASE + n % agents}",
                }
            )
            if len(batch) == 1000:
                await service.bulk(batch, actor="bench")
                batch = []
        if batch:
            await service.bulk(batch, actor="bench")
    finally:
        await engine.dispose()
    return tokens


def known_number(n: int) -> str:
    return f"+7916{n:07d}"


# --- the websocket clients (other processes) ---------------------------------------------------


def client_process(url: str, logins: list[tuple[str, str]], echo_port: int, conn: Any) -> None:
    asyncio.run(_clients(url, logins, echo_port, conn))


async def _clients(url: str, logins: list[tuple[str, str]], echo_port: int, conn: Any) -> None:
    import aiohttp

    pops: list[tuple[str, str, int, float, str]] = []
    counts: dict[str, int] = {}
    rtts: list[int] = []
    stop = asyncio.Event()
    closed = 0

    async def one(session: aiohttp.ClientSession, login: str, token: str) -> None:
        nonlocal closed
        async with session.ws_connect(
            f"{url}/ws",
            headers={"Authorization": f"Bearer {token}"},
            heartbeat=None,
            max_msg_size=0,
        ) as ws:
            ready.append(login)
            if len(ready) == len(logins):
                all_open.set()
            async for msg in ws:
                now, wall = time.monotonic_ns(), time.time()
                text = msg.data
                if not isinstance(text, str):
                    continue
                if '"type":"call.ringing"' in text[:80]:
                    m = json.loads(text)
                    pops.append((m["linkedid"], login, now, wall, m["pop"]["rang_at"]))
                kind = text[text.find('"type":"') + 8 :].split('"', 1)[0]
                counts[kind] = counts.get(kind, 0) + 1
        closed += 1

    async def ping() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", echo_port)
        while not stop.is_set():
            started = time.monotonic_ns()
            writer.write(b"ping\n")
            await writer.drain()
            await reader.readline()
            rtts.append(time.monotonic_ns() - started)
            await asyncio.sleep(0.05)
        writer.close()

    ready: list[str] = []
    all_open = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        for i, (login, token) in enumerate(logins):
            tasks.append(asyncio.create_task(one(session, login, token)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # do not SYN-flood the server's accept queue
        await all_open.wait()
        conn.send(("ready", len(ready)))
        pinger = asyncio.create_task(ping())
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
        stop.set()
        await pinger
        conn.send(("done", {"pops": pops, "counts": counts, "rtts": rtts, "closed": closed}))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the server (a real `cti serve`) ------------------------------------------------------------


def start_server(
    database_url: str, ami_port: int, http_port: int, log: Path, profile: str = ""
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CTI_DATABASE_URL": database_url,
        "CTI_AMI_HOST": "127.0.0.1",
        "CTI_AMI_PORT": str(ami_port),
        "CTI_AMI_SECRET": SECRET,
        "CTI_AGI_PORT": "0",
        "CTI_HTTP_PORT": str(http_port),
        "CTI_LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING"),
        "CTI_WS_QUEUE_SIZE": "1024",
        "CTI_REDIS_URL": "",
        **({"PYTHONASYNCIODEBUG": "1"} if os.environ.get("BENCH_LOOP_DEBUG") else {}),
    }
    out = log.open("wb")
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    command = [sys.executable, *profiler, "-m", "cti.cli", "serve"]
    if os.environ.get("BENCH_SERVER_COMMAND"):  # e.g. a sampling profiler's launcher
        command = [sys.executable, os.environ["BENCH_SERVER_COMMAND"]]
    return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def http_json(url: str) -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def metric(url: str, name: str) -> float:
    _, text = await http_json(f"{url}/metrics")
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


# --- the run --------------------------------------------------------------------------------------


class Stamping:
    """Records when the simulator wrote each call's DialBegin on the socket."""

    def __init__(self) -> None:
        self.written: dict[str, int] = {}
        self.wall: dict[str, float] = {}

    def sent(self, data: bytes) -> None:
        at, wall = time.monotonic_ns(), time.time()
        start = 0
        while (i := data.find(b"Event: DialBegin\r\n", start)) >= 0:
            j = data.find(b"Linkedid: ", i)
            k = data.find(b"\r\n", j)
            if j >= 0:
                linkedid = data[j + 10 : k].decode()
                self.written.setdefault(linkedid, at)
                self.wall.setdefault(linkedid, wall)
            start = i + 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from cti.ami.simulator import PbxSimulator

    home = Path(tempfile.mkdtemp(prefix="cti-bench-pops-"))
    progress(f"working in {home}")
    database_url = f"sqlite+aiosqlite:///{home / 'cti.db'}"
    dropper = None
    if args.postgres_url:
        database_url, dropper = await throwaway_postgres(args.postgres_url, "pops")
    progress(f"preparing {args.agents} agents with tokens and {args.customers} customers")
    tokens = await prepare(database_url, args.agents, args.customers)

    stamping = Stamping()
    simulator = PbxSimulator(secret=SECRET, speed=1.0, seed=7)
    original = simulator.session_sent

    def session_sent(session: Any, data: bytes) -> None:
        stamping.sent(data)
        original(session, data)

    simulator.session_sent = session_sent  # type: ignore[method-assign]
    await simulator.start()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
        writer.close()

    echo_server = await asyncio.start_server(echo, "127.0.0.1", 0)
    echo_port = echo_server.sockets[0].getsockname()[1]

    http_port = _free_port()
    url = f"http://127.0.0.1:{http_port}"
    server = start_server(database_url, simulator.port, http_port, home / "serve.log", args.profile)
    results: dict[str, Any] = {"agents": args.agents, "rate": args.rate, "duration": args.duration}
    procs: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = await http_json(f"{url}/health/ready")
                if status == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((home / "serve.log").read_text()[-3000:])
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        rss_idle = rss_of(server.pid)

        progress(f"connecting {args.agents} websocket clients in {args.client_procs} processes")
        logins = sorted(tokens.items())
        ctx = mp.get_context("spawn")
        pipes = []
        for n in range(args.client_procs):
            mine = logins[n :: args.client_procs]
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=client_process, args=(url, mine, echo_port, child), daemon=True
            )
            proc.start()
            procs.append(proc)
            pipes.append(parent)
        for pipe in pipes:
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        connected = await metric(url, "cti_ws_subscribers")
        idle0 = cpu_seconds(server.pid)
        await asyncio.sleep(5)
        rss_connected = rss_of(server.pid)
        results["idle_cpu_share"] = (cpu_seconds(server.pid) - idle0) / 5

        progress(f"{args.rate:g} calls/s for {args.duration:g} s")
        rng = random.Random(11)
        launched: list[tuple[str, str]] = []  # (linkedid, login)
        cpu0, deliveries0, t0 = (
            cpu_seconds(server.pid),
            await metric(url, "cti_ws_deliveries_total"),
            time.monotonic(),
        )
        next_at = time.monotonic()
        end = next_at + args.duration
        tasks = set()
        while next_at < end:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            n = rng.randrange(args.agents)
            caller = (
                known_number(rng.randrange(args.customers))
                if rng.random() < 0.5
                else f"+7495{rng.randrange(10**7):07d}"
            )
            linkedid, _, task = simulator.start_scenario(
                "answered", agent=str(AGENT_BASE + n), caller=caller, ring=1.0, talk=2.0
            )
            launched.append((linkedid, f"a{AGENT_BASE + n}"))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += rng.expovariate(args.rate)
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(2)
        elapsed = time.monotonic() - t0
        cpu1, deliveries1 = cpu_seconds(server.pid), await metric(url, "cti_ws_deliveries_total")
        rss_loaded = rss_of(server.pid)

        progress(f"throughput: {args.burst_rate:g} calls/s for {args.burst_duration:g} s")
        cpu2, deliveries2, t2 = (
            cpu_seconds(server.pid),
            await metric(url, "cti_ws_deliveries_total"),
            time.monotonic(),
        )
        next_at = time.monotonic()
        end = next_at + args.burst_duration
        while next_at < end:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            n = rng.randrange(args.agents)
            _, _, task = simulator.start_scenario(
                "answered",
                agent=str(AGENT_BASE + n),
                caller=f"+7495{rng.randrange(10**7):07d}",
                ring=0.5,
                talk=0.5,
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += rng.expovariate(args.burst_rate)
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(3)
        t3 = time.monotonic()
        cpu3, deliveries3 = cpu_seconds(server.pid), await metric(url, "cti_ws_deliveries_total")

        for pipe in pipes:
            pipe.send("stop")
        got: list[dict[str, Any]] = []
        for pipe in pipes:
            _, data = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
            got.append(data)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        server.send_signal(signal.SIGINT) if args.profile else server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        echo_server.close()
        await simulator.stop()
        if dropper is not None:
            await dropper()

    wanted = {(lid, login) for lid, login in launched}
    from cti.calls.model import epoch

    latencies, ingest, delivery = [], [], []
    timeline: list[tuple[float, float]] = []
    seen: dict[tuple[str, str], int] = {}
    for data in got:
        for linkedid, login, at, wall, rang_at in data["pops"]:
            key = (linkedid, login)
            seen[key] = seen.get(key, 0) + 1
            if key in wanted and linkedid in stamping.written:
                latencies.append((at - stamping.written[linkedid]) / 1e6)
                timeline.append((stamping.wall[linkedid], latencies[-1]))
                ingest.append((epoch(rang_at) - stamping.wall[linkedid]) * 1000)
                delivery.append((wall - epoch(rang_at)) * 1000)
    rtts = [r / 1e6 for data in got for r in data["rtts"]]
    counts: dict[str, int] = {}
    for data in got:
        for k, v in data["counts"].items():
            counts[k] = counts.get(k, 0) + v
    results.update(
        timeline=sorted(timeline),
        calls=len(launched),
        pops_received=len(latencies),
        duplicate_pops=sum(1 for v in seen.values() if v > 1),
        missing_pops=len(wanted - set(seen)),
        connected=connected,
        closed_early=sum(d["closed"] for d in got),
        latency_p50=percentile(latencies, 50),
        latency_p99=percentile(latencies, 99),
        latency_max=max(latencies) if latencies else float("nan"),
        ingest_p50=percentile(ingest, 50),
        ingest_p99=percentile(ingest, 99),
        delivery_p50=percentile(delivery, 50),
        delivery_p99=percentile(delivery, 99),
        rtt_p50=percentile(rtts, 50),
        rtt_p99=percentile(rtts, 99),
        deliveries_per_s=(deliveries1 - deliveries0) / elapsed,
        cpu_share=(cpu1 - cpu0) / elapsed,
        burst_deliveries_per_s=(deliveries3 - deliveries2) / (t3 - t2),
        burst_cpu_share=(cpu3 - cpu2) / (t3 - t2),
        deliveries_per_cpu_s=(deliveries3 - deliveries2) / max(cpu3 - cpu2, 1e-9),
        rss_idle=rss_idle,
        rss_connected=rss_connected,
        rss_loaded=rss_loaded,
        per_agent_kib=(rss_connected - rss_idle) / args.agents / 1024,
        per_agent_loaded_kib=(rss_loaded - rss_idle) / args.agents / 1024,
        messages=counts,
    )
    return results


def report(r: dict[str, Any]) -> None:
    print_machine()
    print(
        f"agents connected: {r['connected']:.0f} of {r['agents']}; calls: {r['calls']} "
        f"({r['rate']:g}/s for {r['duration']:g} s); pops read: {r['pops_received']}, "
        f"missing {r['missing_pops']}, duplicated {r['duplicate_pops']}; sockets closed early: {r['closed_early']}"
    )
    print(
        f"AMI write -> pop read:   p50 {r['latency_p50']:.2f} ms   p99 {r['latency_p99']:.2f} ms   "
        f"max {r['latency_max']:.2f} ms"
    )
    print(
        f"  of which AMI write -> pop made (ms clock): p50 {r['ingest_p50']:.1f} ms   p99 {r['ingest_p99']:.1f} ms; "
        f"pop made -> read: p50 {r['delivery_p50']:.1f} ms   p99 {r['delivery_p99']:.1f} ms"
    )
    print(
        f"loopback round trip:     p50 {r['rtt_p50']:.2f} ms   p99 {r['rtt_p99']:.2f} ms   "
        "(echo over TCP between the same processes, same run)"
    )
    print(
        f"server share (pop - rtt): p50 {r['latency_p50'] - r['rtt_p50']:.2f} ms   "
        f"p99 {r['latency_p99'] - r['rtt_p99']:.2f} ms"
    )
    print(
        f"server CPU with every agent connected and no calls: {r['idle_cpu_share']:.0%} of one core"
    )
    print(
        f"deliveries/s at {r['rate']:g} calls/s: {r['deliveries_per_s']:,.0f} "
        f"(server CPU {r['cpu_share']:.0%} of one core)"
    )
    print(
        f"deliveries/s, burst: {r['burst_deliveries_per_s']:,.0f} (CPU {r['burst_cpu_share']:.0%}); "
        f"{r['deliveries_per_cpu_s']:,.0f} deliveries per CPU second"
    )
    print(
        f"server RSS: idle {r['rss_idle'] / 2**20:.1f} MiB, {r['agents']} connected "
        f"{r['rss_connected'] / 2**20:.1f} MiB ({r['per_agent_kib']:.1f} KiB per agent), after the "
        f"load {r['rss_loaded'] / 2**20:.1f} MiB ({r['per_agent_loaded_kib']:.1f} KiB per agent, journals full)"
    )
    print("messages received: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["messages"].items())))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="bench.pops", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200 agents, 20 calls/s, 10 s")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="new calls per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of steady calls")
    parser.add_argument(
        "--burst-rate", type=float, default=300.0, help="calls/s of the throughput phase"
    )
    parser.add_argument("--burst-duration", type=float, default=10.0)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="the figures as JSON too")
    parser.add_argument(
        "--postgres-url",
        default="",
        help="run on PostgreSQL: a throw-away database on this server (e.g. "
        "postgresql://postgres@127.0.0.1:5432/test); default SQLite",
    )
    parser.add_argument(
        "--profile", default="", help="run the server under cProfile, stats to FILE"
    )
    args = parser.parse_args()
    if args.quick:
        args.agents, args.rate, args.duration = 200, 20.0, 10.0
        args.burst_rate, args.burst_duration, args.customers, args.client_procs = 100.0, 5.0, 300, 1
    results = asyncio.run(run(args))
    timeline = results.pop("timeline")
    if os.environ.get("BENCH_TIMELINE"):  # (AMI write time, latency) of every pop, for plots
        Path(os.environ["BENCH_TIMELINE"]).write_text(json.dumps(timeline))
    report(results)
    if args.json:
        print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
