"""The event loop with 20,000 live calls: /health/live latency of a real `cti serve` while the AMI
stream holds that many calls open and keeps a steady rate of events on them, against the same
server with no live call, measured in the same run.

    .venv/bin/python -m bench.liveload                 # 20,000 live calls, 2,000 requests a phase
    .venv/bin/python -m bench.liveload --quick         # 2,000 live calls, 500 requests
    .venv/bin/python -m bench.liveload --redis-url redis://127.0.0.1:6379/11   # with the mirror

A real `cti serve` runs in its own process (SQLite); the PBX simulator runs in this one and, beside
its own idle PBX, writes hand-made frames on the AMI socket: each live call is an inbound trunk
channel (Newchannel, a caller the directory looks up), and the steady stream is ringing agents
(DialBegin / DialEnd NOANSWER / Hangup of the agent's leg), channel state changes on the live
calls, and short calls that start and end (written to the database). Phases, in this order:
baseline (no live call) - load - subject (N live calls) - hang up all - baseline again; each phase
sends one /health/live request every `--interval` seconds, one at a time, with the steady stream
running. The figures are ratios of the subject to the mean of the two baselines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import REPO, print_machine, progress

SECRET = "bench-secret"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def frame(event: str, **fields: str) -> bytes:
    lines = [f"Event: {event}", f"Timestamp: {time.time():.6f}"]
    lines += [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class LiveLoad:
    """Writes hand-made events on every AMI session of the simulator."""

    def __init__(self, simulator: Any, rng: random.Random) -> None:
        self.sim = simulator
        self.rng = rng
        self.live: list[str] = []  #: uniqueids (== linkedids) of the open trunk channels
        self.channel: dict[str, str] = {}
        self.seq = 0
        self.sent = 0

    def send(self, data: bytes) -> None:
        for session in tuple(self.sim._sessions):
            if session.wants_events:
                session.send(data)
        self.sent += 1

    def _uid(self) -> str:
        self.seq += 1
        return f"9{int(time.time())}.{self.seq}"

    def open_call(self) -> bytes:
        uid = self._uid()
        self.live.append(uid)
        self.channel[uid] = f"PJSIP/trunk-{self.seq:08x}"
        caller = f"+7495{self.rng.randrange(10**7):07d}"
        return frame(
            "Newchannel",
            Channel=self.channel[uid],
            ChannelState="4",
            ChannelStateDesc="Ring",
            CallerIDNum=caller,
            CallerIDName="Bench",
            Context="from-trunk",
            Exten="74951234567",
            Uniqueid=uid,
            Linkedid=uid,
        )

    def hangup(self, uid: str, channel: str) -> bytes:
        return frame("Hangup", Channel=channel, Uniqueid=uid, Linkedid=uid, Cause="16")

    def steady_event(self) -> bytes:
        """One step of the steady stream: an agent rung on a live call, a state change, or a
        short call (start and end)."""
        kind = self.rng.random()
        if not self.live or kind < 0.2:
            uid = self._uid()
            chan = f"PJSIP/trunk-s{self.seq:08x}"
            return frame(
                "Newchannel",
                Channel=chan,
                ChannelState="4",
                ChannelStateDesc="Ring",
                CallerIDNum=f"+7495{self.rng.randrange(10**7):07d}",
                CallerIDName="Short",
                Context="from-trunk",
                Exten="74951234567",
                Uniqueid=uid,
                Linkedid=uid,
            ) + frame("Hangup", Channel=chan, Uniqueid=uid, Linkedid=uid, Cause="16")
        linkedid = self.rng.choice(self.live)
        if kind < 0.6:
            agent = str(1000 + self.rng.randrange(100))
            dest = self._uid()
            dchan = f"PJSIP/{agent}-{self.seq:08x}"
            tchan = self.channel[linkedid]
            common = {
                "Channel": tchan,
                "Uniqueid": linkedid,
                "Linkedid": linkedid,
                "DestChannel": dchan,
                "DestUniqueid": dest,
                "DestLinkedid": linkedid,
            }
            return (
                frame(
                    "Newchannel",
                    Channel=dchan,
                    ChannelState="5",
                    ChannelStateDesc="Ringing",
                    CallerIDNum=agent,
                    CallerIDName="",
                    Context="from-internal",
                    Exten="s",
                    Uniqueid=dest,
                    Linkedid=linkedid,
                )
                + frame("DialBegin", **common, DestExten=agent, DialString=f"PJSIP/{agent}")
                + frame("DialEnd", **common, DialStatus="NOANSWER")
                + frame("Hangup", Channel=dchan, Uniqueid=dest, Linkedid=linkedid, Cause="19")
            )
        state = self.rng.choice(("Ring", "Up"))
        return frame(
            "Newstate",
            Channel=self.channel[linkedid],
            ChannelState="6" if state == "Up" else "4",
            ChannelStateDesc=state,
            CallerIDNum="",
            CallerIDName="",
            Uniqueid=linkedid,
            Linkedid=linkedid,
        )

    async def steady(self, rate: float, stop: asyncio.Event) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            self.send(self.steady_event())
            next_at += self.rng.expovariate(rate)

    async def open_calls(self, n: int, batch: int = 200) -> None:
        for i in range(0, n, batch):
            self.send(b"".join(self.open_call() for _ in range(min(batch, n - i))))
            await asyncio.sleep(0.02)

    async def hang_up_all(self, batch: int = 500) -> None:
        live, self.live = self.live, []
        for i in range(0, len(live), batch):
            self.send(
                b"".join(self.hangup(uid, self.channel.pop(uid)) for uid in live[i : i + batch])
            )
            await asyncio.sleep(0.02)


def start_server(
    database_url: str, ami_port: int, http_port: int, log: Path, redis_url: str, profile: str
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
        "CTI_REDIS_URL": redis_url,
    }
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    command = [sys.executable, *profiler, "-m", "cti.cli", "serve"]
    out = log.open("wb")
    return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


async def metrics(session: Any, url: str) -> dict[str, float]:
    async with session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    found = {}
    for name in ("cti_live_calls", "cti_ami_connects_total", "cti_ami_ping_timeouts_total"):
        match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M)
        if match:
            found[name] = float(match.group(1))
    return found


async def probe(session: Any, url: str, count: int, interval: float) -> list[float]:
    """`count` /health/live requests, one at a time, one every `interval` s: latencies in ms."""
    out = []
    next_at = time.monotonic()
    for _ in range(count):
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        started = time.perf_counter()
        async with session.get(f"{url}/health/live") as resp:
            await resp.read()
            if resp.status != 200:
                raise SystemExit(f"/health/live answered {resp.status}")
        out.append((time.perf_counter() - started) * 1000)
        next_at += interval
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from cti.ami.simulator import PbxSimulator
    from cti.db.migrate import upgrade

    home = Path(tempfile.mkdtemp(prefix="cti-bench-liveload-"))
    progress(f"working in {home}")
    database_url = f"sqlite+aiosqlite:///{home / 'cti.db'}"
    await upgrade(database_url)
    simulator = PbxSimulator(secret=SECRET, speed=1.0, seed=7)
    await simulator.start()
    load = LiveLoad(simulator, random.Random(5))
    with socket_port() as http_port:
        pass
    url = f"http://127.0.0.1:{http_port}"
    server = start_server(
        database_url, simulator.port, http_port, home / "serve.log", args.redis_url, args.profile
    )
    results: dict[str, Any] = {"calls": args.calls, "rate": args.rate}
    stop = asyncio.Event()
    steady: asyncio.Task[None] | None = None
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with session.get(f"{url}/health/ready") as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((home / "serve.log").read_text()[-3000:])
                await asyncio.sleep(0.2)
            await simulator.wait_for_listener()
            steady = asyncio.create_task(load.steady(args.rate, stop))
            await asyncio.sleep(2)
            progress(f"baseline: {args.requests} requests, no live call")
            base1 = await probe(session, url, args.requests, args.interval)
            before = await metrics(session, url)
            progress(f"opening {args.calls:,} live calls")
            t0 = time.monotonic()
            await load.open_calls(args.calls)
            seen, still = -1.0, 0
            while still < 6:  # every call in, or no change for 3 s (calls lost: reported)
                live = (await metrics(session, url)).get("cti_live_calls", 0)
                if live >= args.calls:
                    break
                still = still + 1 if live == seen else 0
                seen = live
                await asyncio.sleep(0.5)  # noqa: ASYNC110  (polling another process)
            results["load_seconds"] = time.monotonic() - t0
            await asyncio.sleep(args.settle)
            progress(f"subject: {args.requests} requests, {args.calls:,} live calls")
            subject = await probe(session, url, args.requests, args.interval)
            during = await metrics(session, url)
            progress("hanging up every live call")
            await load.hang_up_all()
            while (await metrics(session, url)).get("cti_live_calls", 0) > 5:  # noqa: ASYNC110
                await asyncio.sleep(0.5)  # (polling another process)
            await asyncio.sleep(args.settle)
            progress(f"baseline again: {args.requests} requests")
            base2 = await probe(session, url, args.requests, args.interval)
            after = await metrics(session, url)
    finally:
        stop.set()
        if steady is not None:
            await steady
        server.send_signal(signal.SIGINT) if args.profile else server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        await simulator.stop()
    base = base1 + base2
    results.update(
        base_p50=percentile(base, 50),
        base_p99=percentile(base, 99),
        base1_p99=percentile(base1, 99),
        base2_p99=percentile(base2, 99),
        p50=percentile(subject, 50),
        p99=percentile(subject, 99),
        max=max(subject),
        base_max=max(base),
        live_during=during.get("cti_live_calls", float("nan")),
        ping_timeouts=during.get("cti_ami_ping_timeouts_total", 0),
        reconnects=during.get("cti_ami_connects_total", 0)
        - before.get("cti_ami_connects_total", 0),
        reconnects_total=after.get("cti_ami_connects_total", 0),
        events_sent=load.sent,
    )
    return results


class socket_port:
    """A free TCP port on 127.0.0.1 (closed again before the server binds it)."""

    def __enter__(self) -> int:
        import socket

        self._s = socket.socket()
        self._s.bind(("127.0.0.1", 0))
        return int(self._s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._s.close()


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    print_machine()
    print(
        f"{r['calls']:,} live calls (taken in in {r['load_seconds']:.1f} s; "
        f"{r['live_during']:,.0f} live during the subject phase), steady stream {r['rate']:g} "
        f"frames/s; {args.requests} /health/live requests per phase, one every "
        f"{args.interval * 1000:g} ms; redis: {'yes' if args.redis_url else 'no'}"
    )
    print(
        f"/health/live, no live call:    p50 {r['base_p50']:.2f} ms   p99 {r['base_p99']:.2f} ms "
        f"(before {r['base1_p99']:.2f}, after {r['base2_p99']:.2f})   max {r['base_max']:.1f} ms"
    )
    print(
        f"/health/live, {r['calls']:,} live calls: p50 {r['p50']:.2f} ms   p99 {r['p99']:.2f} ms   "
        f"max {r['max']:.1f} ms"
    )
    print(
        f"ratio to the baseline: p50 {r['p50'] / r['base_p50']:.2f}x   p99 "
        f"{r['p99'] / r['base_p99']:.2f}x   (goal: p99 < 50 ms absolute)"
    )
    print(
        f"AMI reconnects during the subject phase: {r['reconnects']:.0f}; keepalive Pings "
        f"unanswered so far: {r['ping_timeouts']:.0f}; live calls lost: "
        f"{r['calls'] - r['live_during']:,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="bench.liveload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="2,000 calls, 500 requests")
    parser.add_argument("--calls", type=int, default=20_000, help="live calls held open")
    parser.add_argument("--rate", type=float, default=100.0, help="steady stream, frames/s")
    parser.add_argument("--requests", type=int, default=2000, help="/health/live per phase")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between requests")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--redis-url", default="", help="run the server with Redis (the mirror)")
    parser.add_argument("--profile", default="", help="run the server under cProfile, to FILE")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.requests = 2000, 500
    results = asyncio.run(run(args))
    report(results, args)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
