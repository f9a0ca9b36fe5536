"""`cti demo`: one process with SQLite, demo data, the PBX simulator and the web page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys

from aiohttp import web

from cti.app import build, create_server_app
from cti.config import Settings
from cti.db.directory import seed_demo
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory

log = logging.getLogger(__name__)


async def run_demo(settings: Settings, *, port: int, rate: float, database_url: str) -> None:
    from cti.ami.simulator import PbxSimulator

    print("==> preparing the demo database", file=sys.stderr)
    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        await seed_demo(session_factory(engine))
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
    print(
        "\n  cti demo is running: simulated Asterisk on 127.0.0.1:"
        f"{simulator.port}, {rate:g} calls/s\n"
        f"  open {url}\n"
        "  (the token in the link is this run's demo login; Ctrl+C stops)\n",
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
