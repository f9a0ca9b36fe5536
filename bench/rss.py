"""Server RSS under sustained simulated traffic: it must stay flat.

    .venv/bin/python -m bench.rss [--minutes 10] [--rate 50] [--warmup 30] [--every 10] [--quick]

Runs the real server in this process (`cti.app.build` + `cti.app.create_server_app` in an aiohttp
AppRunner on port 0, a fresh SQLite file migrated with `cti.db.migrate.upgrade`), connected over
TCP to the PBX simulator (`cti.ami.simulator.PbxSimulator`, real-time speed) running in a child
process, so that the RSS measured (VmRSS of /proc/self/status) is the server's alone. The
simulator plays random overlapping calls (Poisson arrivals) at `--rate` calls/s for
`--warmup` + `--minutes` x 60 seconds.

RSS is sampled every `--every` seconds. Reported: RSS at start (after the warm-up), at the end of
the traffic, the end/start ratio, and the slope (MiB per minute, least squares over the second
half of the samples after the warm-up), plus the calls the simulator started and the calls the
server recorded. "Flat" means a slope under 1 MiB/min.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from bench._common import REPO, machine, print_machine, progress, rss_bytes

SECRET = "bench-rss-secret"
MiB = 1024 * 1024
FLAT_MIB_PER_MIN = 1.0


# --- the simulator, in a child process ---------------------------------------------------------


async def simulator_main(rate: float, duration: float, seed: int) -> int:
    """Child: print the port, wait for GO on stdin, play traffic, print STARTED n, wait for EOF."""
    from cti.ami.simulator import PbxSimulator

    sim = PbxSimulator(host="127.0.0.1", port=0, secret=SECRET, speed=1.0, seed=seed)
    await sim.start()
    print(f"PORT {sim.port}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line = await reader.readline()
    if line.strip() != b"GO":
        await sim.stop()
        return 1
    started = await sim.random_traffic(rate, duration=duration)
    print(f"STARTED {started}", flush=True)
    await reader.read()  # until the parent closes our stdin
    await sim.stop()
    return 0


# --- the server, in this process ---------------------------------------------------------------


def proc_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, bytes) in MiB per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return 0.0
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return sxy / sxx * 60 / MiB


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def memory_parts() -> dict[str, int]:
    """Where the memory is: Python's allocator, SQLite's heap, glibc malloc (cheap to sample)."""
    out: dict[str, int] = {"py_blocks": sys.getallocatedblocks()}
    try:
        lib = ctypes.CDLL("libsqlite3.so.0")
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        out["sqlite_heap"] = int(lib.sqlite3_memory_used())
    except (OSError, AttributeError):
        pass
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        mi = libc.mallinfo2()
        out["malloc_in_use"] = mi.uordblks  # in use, main arena + thread arenas
        out["malloc_free"] = mi.fordblks  # free but kept by malloc (fragmentation)
        out["malloc_mmap"] = mi.hblkhd
        out["malloc_arena"] = mi.arena
    except (OSError, AttributeError):
        pass
    return out


def structures(components) -> dict[str, int]:
    """Sizes of the server's in-memory tables, sampled with the RSS."""
    import gc

    from cti.calls import endpoints

    service = components.service
    tracker = service.tracker
    out: dict[str, int] = {"gc_objects": len(gc.get_objects())}
    for name in ("calls", "_leg_call", "_bridges", "_leg_bridge", "_finished", "_absorbed"):
        value = getattr(tracker, name, None)
        if value is not None:
            out[f"tracker.{name}"] = len(value)
    customers = getattr(service, "_customers", None)
    if customers is not None:
        out["service._customers"] = len(customers)
    for name in ("_classify", "_classify_endpoint"):
        cached = getattr(endpoints, name, None)
        if cached is not None and hasattr(cached, "cache_info"):
            out[f"endpoints.{name} cache"] = cached.cache_info().currsize
    return out


def print_growth(before, after, limit: int = 15) -> None:
    """The tracemalloc lines whose allocations grew most between two snapshots."""
    import tracemalloc

    keep = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen *>"),
    ]
    before, after = before.filter_traces(keep), after.filter_traces(keep)
    stats = after.compare_to(before, "traceback")
    grown = [s for s in stats if s.size_diff > 0][:limit]
    total = sum(s.size_diff for s in stats)
    print(
        f"tracemalloc: traced memory grew {total / MiB:+.1f} MiB between the start and end samples; "
        f"largest growth by allocation site (innermost frames first):"
    )
    for stat in grown:
        frames = [f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback)][:4]
        print(
            f"  {stat.size_diff / MiB:+7.2f} MiB {stat.count_diff:+8,} blocks  {' <- '.join(frames)}"
        )


async def server_main(args: argparse.Namespace) -> int:
    from aiohttp import web

    from cti.app import build, create_server_app
    from cti.config import load_settings
    from cti.db.migrate import upgrade

    duration = args.warmup + args.minutes * 60
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start(args.tracemalloc)
    snapshots: list = []
    sizes: list[dict[str, int]] = []
    tmp = tempfile.TemporaryDirectory(prefix="cti-bench-rss-")
    url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'rss.db'}"
    await upgrade(url)

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.rss",
        "--simulator",
        "--rate",
        str(args.rate),
        "--duration",
        str(duration),
        "--seed",
        str(args.seed),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(REPO),
    )
    assert child.stdin is not None and child.stdout is not None
    runner = None
    try:
        line = (await asyncio.wait_for(child.stdout.readline(), 60)).decode().split()
        if len(line) != 2 or line[0] != "PORT":
            raise SystemExit(f"simulator did not start: {line}")
        port = int(line[1])
        settings = load_settings().replace(
            database_url=url,
            ami_host="127.0.0.1",
            ami_port=port,
            ami_secret=SECRET,
            http_host="127.0.0.1",
            http_port=0,
            api_tokens=("bench-rss",),
        )
        components = build(settings)
        runner = web.AppRunner(create_server_app(components), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        deadline = time.monotonic() + 30
        while not components.ami.connected:
            if time.monotonic() > deadline:
                raise SystemExit("the server did not log in to the simulator within 30 s")
            await asyncio.sleep(0.05)
        progress(
            f"server connected to the simulator (pid {child.pid}, port {port}); "
            f"traffic {args.rate:g} calls/s for {args.warmup:g} s warm-up + {args.minutes:g} min"
        )
        service = components.service

        child.stdin.write(b"GO\n")
        await child.stdin.drain()
        t0 = time.monotonic()
        samples: list[dict] = []

        def sample() -> dict:
            s = {
                "t": time.monotonic() - t0,
                "rss": rss_bytes(),
                "sim_rss": proc_rss(child.pid),
                "stored": service.stored,
                "finished": service.finished,
                "live": len(service.tracker.calls),
                "backlog": service.backlog,
                "unsaved": service.unsaved,
                **memory_parts(),
                "structures": structures(components),
            }
            samples.append(s)
            if not sizes and s["t"] >= args.warmup - 0.5:
                sizes.append(s["structures"])
                if args.tracemalloc:
                    import tracemalloc

                    snapshots.append(tracemalloc.take_snapshot())
            progress(
                f"t={s['t']:6.0f}s rss {s['rss'] / MiB:7.1f} MiB  (simulator {s['sim_rss'] / MiB:6.1f} MiB)  "
                f"calls stored {s['stored']:>7,}  live {s['live']:>5}  backlog {s['backlog']:>5}  "
                f"unsaved {s['unsaved']}  | py blocks {s['py_blocks']:,}  "
                + "  ".join(
                    f"{k.split('.')[-1].split()[0].lstrip('_')} {v:,}"
                    for k, v in s["structures"].items()
                    if k != "tracker.calls"
                )
            )
            return s

        sample()
        next_at = args.every
        while True:
            now = time.monotonic() - t0
            if now >= duration:
                break
            await asyncio.sleep(min(next_at, duration) - now)
            if time.monotonic() - t0 >= next_at - 0.01:
                sample()
                next_at += args.every
        end = samples[-1] if samples[-1]["t"] >= duration - 0.5 else sample()
        sizes.append(end["structures"])
        if args.tracemalloc:
            import tracemalloc

            snapshots.append(tracemalloc.take_snapshot())

        # let the last calls end (the simulator waits for them) and everything be stored
        line = (await asyncio.wait_for(child.stdout.readline(), 600)).decode().split()
        started = int(line[1]) if len(line) == 2 and line[0] == "STARTED" else -1
        deadline = time.monotonic() + 120
        while (  # noqa: ASYNC110 - polling the server's counters
            service.tracker.calls or service.backlog or service.unsaved
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await service.flush(timeout=60)
        stored_total = await components.repository.count()
        tracker_stats = service.tracker.stats
        final_rss = rss_bytes()
    finally:
        if runner is not None:
            await runner.cleanup()
        if child.stdin is not None and not child.stdin.is_closing():
            child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 30)
        except TimeoutError:
            child.kill()
            await child.wait()
        tmp.cleanup()

    after_warmup = [s for s in samples if s["t"] >= args.warmup - 0.5]
    start = after_warmup[0] if after_warmup else samples[0]
    half = after_warmup[len(after_warmup) // 2 :] if len(after_warmup) >= 4 else after_warmup
    slope = slope_per_minute([(s["t"], s["rss"]) for s in half])
    slope_all = slope_per_minute([(s["t"], s["rss"]) for s in after_warmup])
    ratio = end["rss"] / start["rss"]
    flat = slope < FLAT_MIB_PER_MIN
    m = machine()

    print()
    print("bench.rss: server RSS under simulated traffic (simulator in a child process)")
    print_machine()
    print(
        f"traffic: {args.rate:g} calls/s (Poisson, random scenario mix), {args.warmup:g} s warm-up + "
        f"{args.minutes:g} min; samples every {args.every:g} s; SQLite"
    )
    print(
        f"RSS at start (after warm-up, t={start['t']:.0f} s): {start['rss'] / MiB:.1f} MiB; "
        f"at the end (t={end['t']:.0f} s): {end['rss'] / MiB:.1f} MiB; "
        f"end/start {ratio:.3f}x; after draining: {final_rss / MiB:.1f} MiB"
    )
    print(
        f"slope over the second half: {slope:+.2f} MiB/min (over the whole run after warm-up: "
        f"{slope_all:+.2f} MiB/min) -> {'flat' if flat else 'NOT flat'} (flat: < {FLAT_MIB_PER_MIN:g} MiB/min)"
    )
    print(
        f"calls: simulator started {started:,}, server finished {service.finished:,}, "
        f"stored {stored_total:,} ({stored_total / max(1, started):.3f} of started); live at end "
        f"{end['live']}, max live {max(s['live'] for s in samples)}, max backlog "
        f"{max(s['backlog'] for s in samples)}; tracker orphans {tracker_stats.orphans}, "
        f"late {tracker_stats.late}"
    )
    print(
        f"live calls: {start['live']} at start, {end['live']} at the end (calls last up to ~3.5 min, "
        "so the live count, and RSS with it, climbs for the first minutes before levelling off)"
    )
    parts = [k for k in ("malloc_in_use", "malloc_free", "malloc_mmap", "sqlite_heap") if k in end]
    if parts:
        print(
            "memory parts (start -> end, MiB): "
            + ", ".join(f"{k} {start[k] / MiB:.1f} -> {end[k] / MiB:.1f}" for k in parts)
            + f"; Python blocks {start['py_blocks']:,} -> {end['py_blocks']:,}"
        )
    if len(sizes) == 2:
        print(
            "structures (start -> end): "
            + ", ".join(f"{k} {sizes[0].get(k, 0):,} -> {v:,}" for k, v in sizes[1].items())
        )
    if len(snapshots) == 2:
        print_growth(snapshots[0], snapshots[1])
    print(
        f"simulator process RSS: {start['sim_rss'] / MiB:.1f} -> {end['sim_rss'] / MiB:.1f} MiB (context only)"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "machine": m,
                    "args": vars(args),
                    "samples": samples,
                    "slope": slope,
                    "started": started,
                    "stored": stored_total,
                },
                indent=1,
            )
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rss",
        description="Server RSS at start and after sustained simulated traffic: flat?",
    )
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="traffic after the warm-up (default 10)"
    )
    parser.add_argument(
        "--rate", type=float, default=50.0, help="new calls per second (default 50)"
    )
    parser.add_argument(
        "--warmup", type=float, default=30.0, help="seconds before the start sample (default 30)"
    )
    parser.add_argument(
        "--every", type=float, default=10.0, help="seconds between RSS samples (default 10)"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument("--json", action="store_true", help="also print the samples as JSON")
    parser.add_argument(
        "--tracemalloc",
        type=int,
        default=0,
        metavar="FRAMES",
        help="trace allocations with this many frames (much slower: lower --rate) "
        "and report what grew between the start and end samples",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 minute after a 10 s warm-up, samples every 5 s",
    )
    parser.add_argument("--simulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.simulator:
        return asyncio.run(simulator_main(args.rate, args.duration, args.seed))
    if args.quick:
        args.minutes, args.warmup, args.every = 1.0, 10.0, 5.0
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return asyncio.run(server_main(args))


if __name__ == "__main__":
    sys.exit(main())
