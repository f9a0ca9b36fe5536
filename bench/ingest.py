"""Ingestion + tracking (no database) vs panoramisk's bare parse of the same bytes.

    .venv/bin/python -m bench.ingest [--events N] [--rounds R] [--chunk-sizes 4096,65536] [--quick]

Builds an AMI stream of >= N events (default 1,000,000) from the shared call captures with
fresh ids per copy (see bench/_capture.py), then, round after round and side by side:

- baseline: panoramisk's own `AMIProtocol.data_received` with a `Manager` whose '*' handler is
  one synchronous callback that counts events (panoramisk parses every frame into a Message);
- subject: cti's `EventStream` -> `CallTracker.handle`, wired as `cti.calls.replay.Replayer`
  wires them (the live ingestion path), counting the finished calls.

Both get the same bytes in the same chunks. The figure is events/s over the events in the
stream (frames starting with `Event:`), and the ratio subject/baseline per round; the median
over rounds is reported. Goal: subject >= 1.0x the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass

from bench import _capture
from bench._common import fresh_heap, median, package_versions, print_machine, progress, spread


@dataclass
class Run:
    seconds: float
    events: int  #: events counted by the baseline callback, or finished calls for the subject
    extra: dict


def run_panoramisk(capture: _capture.BigCapture, chunk_size: int) -> Run:
    """panoramisk parsing the bytes, one synchronous callback for '*'."""
    import panoramisk
    from panoramisk.ami_protocol import AMIProtocol

    loop = asyncio.new_event_loop()
    try:
        manager = panoramisk.Manager(loop=loop)
        seen = 0

        def on_event(_manager, _message) -> None:
            nonlocal seen
            seen += 1

        manager.register_event("*", on_event)
        protocol = AMIProtocol()
        protocol.factory = manager
        protocol.queue = deque()
        protocol.responses = {}
        protocol.encoding = "utf8"
        protocol.version = None
        protocol.closed = False
        protocol.log = logging.getLogger("panoramisk.bench")
        feed = protocol.data_received
        chunks = capture.chunks(chunk_size)
        fresh_heap()
        start = time.perf_counter()
        for chunk in chunks:
            feed(chunk)
        seconds = time.perf_counter() - start
    finally:
        loop.close()
    return Run(seconds, seen, {})


def run_cti(capture: _capture.BigCapture, chunk_size: int) -> Run:
    """cti's ingestion + tracking: EventStream -> CallTracker, as the Replayer wires them."""
    from cti.calls.endpoints import TrackingRules
    from cti.calls.replay import Replayer

    replayer = Replayer(rules=TrackingRules())
    feed = replayer.stream.feed
    records = replayer.records
    finished = 0
    now = time.time
    chunks = capture.chunks(chunk_size)
    fresh_heap()
    start = time.perf_counter()
    for chunk in chunks:
        feed(chunk, now())
        if records:
            finished += len(records)
            records.clear()
    seconds = time.perf_counter() - start
    stats = replayer.tracker.stats
    return Run(
        seconds,
        finished,
        {
            "tracked_events": stats.events,
            "open_calls": len(replayer.tracker.calls),
            "orphans": stats.orphans,
            "skipped_frames": replayer.stream.stats.skipped,
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description="Ingestion + tracking events/s, side by side with panoramisk's bare parse.",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="at least this many events in the stream (default 1,000,000)",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="baseline/subject pairs per chunk size (default 5)"
    )
    parser.add_argument(
        "--chunk-sizes",
        default="4096,65536",
        help="comma-separated read sizes in bytes (default 4096,65536)",
    )
    parser.add_argument(
        "--only",
        choices=("baseline", "subject"),
        help="run one side only (for profiling: python -m cProfile -s cumtime ...)",
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50,000 events, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rounds = 50_000, 2
    sizes = [int(s) for s in args.chunk_sizes.split(",") if s.strip()]

    progress(
        f"building a stream of >= {args.events:,} events from {len(_capture.CALL_FILES)} captures"
    )
    capture = _capture.build(
        events=args.events,
        on_progress=lambda i, n: progress(f"  rendered {i}/{n} copies"),
    )
    progress(
        f"stream: {capture.events:,} events, {capture.calls:,} calls, "
        f"{len(capture.data) / 2**20:,.0f} MiB"
    )

    results: dict[int, dict[str, list[float]]] = {}
    for size in sizes:
        results[size] = {"baseline": [], "subject": [], "ratio": []}
    total = args.rounds * len(sizes)
    step = 0
    for rnd in range(1, args.rounds + 1):
        for size in sizes:
            step += 1
            rates: dict[str, float] = {}
            for side in ("baseline", "subject"):
                if args.only and side != args.only:
                    continue
                if side == "baseline":
                    run = run_panoramisk(capture, size)
                    if run.events != capture.events:
                        raise SystemExit(
                            f"panoramisk saw {run.events:,} events, the stream has {capture.events:,}"
                        )
                else:
                    run = run_cti(capture, size)
                    if (
                        run.events != capture.calls
                        or run.extra["open_calls"]
                        or run.extra["orphans"]
                    ):
                        raise SystemExit(
                            f"cti finished {run.events:,} calls, expected {capture.calls:,}: {run.extra}"
                        )
                rate = capture.events / run.seconds
                rates[side] = rate
                results[size][side].append(rate)
                progress(
                    f"round {rnd}/{args.rounds} ({step}/{total}) chunk {size:>6}: {side:8} "
                    f"{rate:>12,.0f} events/s ({run.seconds:.2f} s)"
                )
            if len(rates) == 2:
                ratio = rates["subject"] / rates["baseline"]
                results[size]["ratio"].append(ratio)
                progress(f"    ratio {ratio:.2f}x")

    print()
    print("bench.ingest: ingestion + tracking (no database) vs panoramisk's bare parse")
    print_machine()
    print(f"packages: {package_versions('panoramisk')}")
    print(
        f"stream: {capture.events:,} events ({capture.calls:,} calls, {capture.copies:,} copies of "
        f"{len(_capture.CALL_FILES)} captures), {len(capture.data) / 2**20:,.1f} MiB; "
        f"{args.rounds} rounds, medians (min..max)"
    )
    summary = {}
    for size in sizes:
        r = results[size]
        row = {}
        line = f"chunk {size:>6} B:"
        for side in ("baseline", "subject"):
            if r[side]:
                row[side] = median(r[side])
                name = "panoramisk" if side == "baseline" else "cti ingest+track"
                line += f"  {name} {row[side]:>11,.0f} ev/s ({spread(r[side])})"
        if r["ratio"]:
            row["ratio"] = median(r["ratio"])
            line += f"  ratio {row['ratio']:.2f}x ({min(r['ratio']):.2f}..{max(r['ratio']):.2f})"
        print(line)
        summary[size] = row
    if not args.only:
        worst = min(row["ratio"] for row in summary.values())
        verdict = "goal met" if worst >= 1.0 else "goal NOT met"
        print(
            f"goal: cti >= 1.0x panoramisk's bare parse rate -> lowest median ratio {worst:.2f}x: {verdict}"
        )
    if args.json:
        print(
            json.dumps(
                {
                    "events": capture.events,
                    "calls": capture.calls,
                    "results": {str(k): {**v, "rounds": results[k]} for k, v in summary.items()},
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
