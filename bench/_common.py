"""Helpers shared by the benchmarks: machine facts, progress on stderr, medians, RSS."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def progress(message: str) -> None:
    """One line of progress on stderr (stdout carries the results)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_machine() -> None:
    m = machine()
    print(
        f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, "
        f"Python {m['python']}, {m['platform']}; {m['date']}"
    )


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def spread(values: list[float]) -> str:
    """min..max of a list, for showing how noisy the rounds were."""
    return f"{min(values):,.0f}..{max(values):,.0f}"


def fresh_heap() -> None:
    """Collect garbage before a timed run so one run's leftovers do not tax the next."""
    gc.collect()


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS from /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def package_versions(*names: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in names:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


async def throwaway_postgres(admin_url: str, label: str) -> tuple[str, Any]:
    """A fresh database `cti_bench_<label>_<random>` on the server of `admin_url`: its async URL
    and a coroutine function that drops it."""
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url)
    name = f"cti_bench_{label}_{uuid.uuid4().hex[:10]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    url = admin.set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False), drop
