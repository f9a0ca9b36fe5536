"""`cti demo`: one process with SQLite, demo data, the PBX simulator and the web page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.app import build, create_server_app
from cti.auth.principal import Role
from cti.auth.service import AuthService
from cti.auth.sql import SqlAuthStore
from cti.config import Settings
from cti.db.directory import DEMO_AGENTS, seed_demo
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory

log = logging.getLogger(__name__)

#: the demo's supervisor login; the demo agents sign in with their own logins (101, 102...)
DEMO_SUPERVISOR = "supervisor"


async def create_demo_users(sessions: async_sessionmaker[AsyncSession], password: str) -> None:
    """A supervisor and every demo agent can sign in with this run's `password`."""
    auth = AuthService(store=SqlAuthStore(session_factory=sessions))
    await auth.add_user(
        DEMO_SUPERVISOR, role=Role.SUPERVISOR, password=password, name="Demo Supervisor"
    )
    for agent in DEMO_AGENTS:
        await auth.add_user(agent.login, role=Role(agent.role), password=password)


async def run_demo(settings: Settings, *, port: int, rate: float, database_url: str) -> None:
    from cti.ami.simulator import PbxSimulator

    print("==> preparing the demo database", file=sys.stderr)
    await upgrade(database_url)
    password = secrets.token_urlsafe(9)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        await seed_demo(sessions)
        await create_demo_users(sessions, password)
    finally:
        await engine.dispose()

    secret = secrets.token_urlsafe(16)
    token = secrets.token_urlsafe(24)
    simulator = PbxSimulator(host="127.0.0.1", port=0, username="cti", secret=secret)
    await simulator.start()
    settings = settings.replace(
        database_url=database_url,
        ami_host="127.0.0.1",
        ami_port=simulator.port,
        ami_username="cti",
        ami_secret=secret,
        ami_secret_file="",
        api_tokens=(token,),
        api_tokens_file="",
        http_host="127.0.0.1",
        http_port=port,
    )
    runner = web.AppRunner(create_server_app(build(settings)), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, port).start()
    except OSError as exc:
        await runner.cleanup()
        await simulator.stop()
        raise SystemExit(
            f"cti demo: cannot listen on port {port} ({exc.strerror}); try `cti demo --port 8090`"
        ) from None
    url = f"http://127.0.0.1:{port}/login?token={token}"
    agents = ", ".join(a.login for a in DEMO_AGENTS)
    print(
        "\n  cti demo is running: simulated Asterisk on 127.0.0.1:"
        f"{simulator.port}, {rate:g} calls/s\n"
        f"  open {url}\n"
        "  (the token in the link is this run's administrator login; Ctrl+C stops)\n"
        f"  or sign in at http://127.0.0.1:{port}/login as {DEMO_SUPERVISOR} (sees every call)\n"
        f"  or as agent {agents} (each sees only their own calls), password: {password}\n",
        flush=True,
    )
    traffic = asyncio.get_running_loop().create_task(
        simulator.random_traffic(rate), name="demo-traffic"
    )
    try:
        await asyncio.Event().wait()
    finally:
        traffic.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await traffic
        await runner.cleanup()
        await simulator.stop()
