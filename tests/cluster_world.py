"""Real `cti serve` processes against the real PostgreSQL and Redis, and the PBX simulator in the
test's own process: what the multi-node fault tests are made of."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from sqlalchemy import func, select

from cti.ami.simulator import PbxSimulator
from cti.db.calls import row_to_record
from cti.db.migrate import upgrade
from cti.db.missed_models import CallbackRow, MissedCallRow
from cti.db.models import CallRow
from cti.db.session import create_engine, session_factory
from tests.conftest import _fresh_postgres_database
from tests.pops_world import Feed, add_people

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("CTI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "cluster-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(predicate: Callable[[], Any], timeout: float = 15.0, every: float = 0.05) -> Any:
    """Until `predicate()` (sync or async) is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every)


@dataclass
class Node:
    """One `cti serve` process."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def health(self) -> dict[str, Any] | None:
        try:
            async with self.session.get(
                f"{self.url}/health/ready", timeout=aiohttp.ClientTimeout(total=2)
            ) as r:
                report: dict[str, Any] = await r.json()
                report["http_status"] = r.status
                return report
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def role(self) -> str | None:
        report = await self.health()
        return report.get("role") if report else None

    async def metrics(self) -> dict[str, float]:
        async with self.session.get(f"{self.url}/metrics") as r:
            text = await r.text()
        return {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out


@dataclass
class Cluster:
    sim: PbxSimulator
    database_url: str
    prefix: str
    tokens: dict[str, str]
    tmp: Path
    session: aiohttp.ClientSession
    nodes: list[Node] = field(default_factory=list)
    feeds: list[tuple[Feed, asyncio.Task[None]]] = field(default_factory=list)

    def env(self, port: int, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "CTI_DATABASE_URL": self.database_url,
            "CTI_AMI_PORT": str(self.sim.port),
            "CTI_AMI_SECRET": SECRET,
            "CTI_AMI_RECONNECT_MIN": "0.05",
            "CTI_AMI_RECONNECT_MAX": "0.5",
            "CTI_HTTP_PORT": str(port),
            "CTI_AGI_PORT": "0",
            "CTI_REDIS_URL": REDIS_URL,
            "CTI_REDIS_PREFIX": self.prefix,
            "CTI_LEASE_SECONDS": "2",
            "CTI_LEASE_RENEW_SECONDS": "0.4",
            "CTI_AUTO_MIGRATE": "false",
            "CTI_LOG_FORMAT": "json",
            "CTI_LOG_LEVEL": "INFO",
            **extra,
        }

    async def node(self, name: str, **extra: str) -> Node:
        port = free_port()
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(  # noqa: ASYNC220 - started once, then only polled
                [sys.executable, "-m", "cti.cli", "serve"],
                env=self.env(port, **extra),
                cwd=self.tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        node = Node(name, process, port, log, self.session)
        self.nodes.append(node)
        await until(node.role, timeout=30.0)
        return node

    async def feed(self, node: Node, login: str, **params: Any) -> Feed:
        ws = await self.session.ws_connect(
            f"{node.url}/ws",
            headers={"Authorization": f"Bearer {self.tokens[login]}"},
            params={k: str(v) for k, v in params.items()},
        )
        feed = Feed(ws)
        task = asyncio.get_running_loop().create_task(feed.pump())
        self.feeds.append((feed, task))
        await until(lambda: bool(feed.messages))
        return feed

    async def stored(self) -> tuple[list[Any], list[str], int]:
        """Calls (records), missed calls (linkedids) and callbacks in the database."""
        engine = create_engine(self.database_url)
        try:
            async with session_factory(engine)() as session:
                calls = [row_to_record(r) for r in (await session.scalars(select(CallRow))).all()]
                missed = list((await session.scalars(select(MissedCallRow.linkedid))).all())
                callbacks = int(
                    await session.scalar(select(func.count()).select_from(CallbackRow)) or 0
                )
        finally:
            await engine.dispose()
        return calls, missed, callbacks


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, *, speed: float = 1.0) -> AsyncIterator[Cluster]:
    """A fresh PostgreSQL database (migrated, with agents and tokens), a Redis prefix of this
    test's own and the simulator; the nodes started by the test are SIGKILLed at the end."""
    prefix = f"cti-test-{uuid.uuid4().hex[:10]}:"
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
        async with _world(tmp_path, prefix, speed) as world:
            yield world
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@contextlib.asynccontextmanager
async def _world(tmp_path: Path, prefix: str, speed: float) -> AsyncIterator[Cluster]:
    async with _fresh_postgres_database() as database_url:
        await upgrade(database_url)
        tokens = await add_people(database_url)
        async with (
            PbxSimulator(secret=SECRET, speed=speed, seed=11) as sim,
            aiohttp.ClientSession() as session,
        ):
            world = Cluster(sim, database_url, prefix, tokens, tmp_path, session)
            try:
                yield world
            finally:
                for feed, task in world.feeds:
                    await feed.ws.close()
                    task.cancel()
                for node in world.nodes:
                    if node.process.poll() is None:
                        node.process.terminate()
                        try:
                            node.process.wait(10)
                        except subprocess.TimeoutExpired:
                            node.kill()
