"""`cti demo`: one process with SQLite, demo data, the PBX simulator and the web page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import sys
import tomllib
from pathlib import Path

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
from cti.workspace import DEMO_SETTINGS, sqlite_file, write_demo_settings

log = logging.getLogger(__name__)

#: the demo's supervisor login; the demo agents sign in with their own logins (101, 102...)
DEMO_SUPERVISOR = "supervisor"


#: beside the demo's settings: this database's demo password (readable by the owner only)
DEMO_PASSWORD = "cti-demo.password"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the demo's FastAGI: never the production 4573)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def absolute(database_url: str) -> str:
    """A SQLite URL with an absolute path (the demo's settings are read from anywhere)."""
    path = sqlite_file(database_url)
    if path is None:
        return database_url
    driver = database_url.split("://", 1)[0]
    return f"{driver}:///{path}"


def earlier_run(here: Path, database_url: str) -> tuple[str, str] | None:
    """(password, admin token) of the demo's last run on this database, if it left them."""
    try:
        with (here / DEMO_SETTINGS).open("rb") as fh:
            before = tomllib.load(fh)
        password = (here / DEMO_PASSWORD).read_text(encoding="utf-8").strip()
    except (OSError, tomllib.TOMLDecodeError):
        return None
    tokens = before.get("api_tokens") or []
    if before.get("database_url") != database_url or not tokens or not password:
        return None
    return password, str(tokens[0])


async def demo_users_exist(sessions: async_sessionmaker[AsyncSession]) -> bool:
    auth = AuthService(store=SqlAuthStore(session_factory=sessions))
    return DEMO_SUPERVISOR in {
        u.login for u in await auth.users() if u.has_password and not u.disabled
    }


async def create_demo_users(sessions: async_sessionmaker[AsyncSession], password: str) -> None:
    """A supervisor and every demo agent can sign in with this run's `password`."""
    auth = AuthService(store=SqlAuthStore(session_factory=sessions))
    await auth.add_user(
        DEMO_SUPERVISOR, role=Role.SUPERVISOR, password=password, name="Demo Supervisor"
    )
    for agent in DEMO_AGENTS:
        await auth.add_user(agent.login, role=Role(agent.role), password=password)


async def run_demo(
    settings: Settings, *, port: int, rate: float, database_url: str, agi_port: int = 0
) -> None:
    """Run until cancelled. The same database keeps its password, token and sessions across
    restarts (open consoles stay signed in); `cti-demo.toml` in the current directory tells the
    other commands where the demo's data is."""
    from cti.ami.simulator import PbxSimulator

    here = Path.cwd()
    database_url = absolute(database_url)
    print("==> preparing the demo database", file=sys.stderr)
    await upgrade(database_url)
    kept = earlier_run(here, database_url)
    password, token = kept or (secrets.token_urlsafe(9), secrets.token_urlsafe(24))
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        await seed_demo(sessions)
        if kept is None or not await demo_users_exist(sessions):
            await create_demo_users(sessions, password)  # (a new password ends old sessions)
    finally:
        await engine.dispose()

    secret = secrets.token_urlsafe(16)
    agi_port = agi_port or free_port()
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
        agi_host="127.0.0.1",
        agi_port=agi_port,
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
    write_demo_settings(
        here / DEMO_SETTINGS,
        {
            "database_url": database_url,
            "timezone": settings.timezone,
            "http_port": port,
            "agi_port": agi_port,
            "api_tokens": [token],
        },
        note="written by `cti demo`: its database, ports and administrator token; the cti\n"
        "commands run in this directory read it (cti calls, cti listen...) while no cti.toml is",
    )
    (here / DEMO_PASSWORD).touch(mode=0o600)
    (here / DEMO_PASSWORD).write_text(password + "\n", encoding="utf-8")
    url = f"http://127.0.0.1:{port}/login?token={token}"
    agents = ", ".join(a.login for a in DEMO_AGENTS)
    print(
        "\n  cti demo is running: simulated Asterisk on 127.0.0.1:"
        f"{simulator.port}, {rate:g} calls/s\n"
        f"  FastAGI routing on agi://127.0.0.1:{agi_port}/route (the demo's own port)\n"
        f"  open {url}\n"
        "  (the token in the link is the demo's administrator login; Ctrl+C stops;\n"
        f"   the same database keeps it and the password; settings in {DEMO_SETTINGS})\n"
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
