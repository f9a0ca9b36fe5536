"""Slowloris: a connection dribbling a request line/headers, or idle after a response, is closed
within http_idle_timeout."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from cti.app import http_runner
from cti.config import Settings


async def _site(timeout: float) -> tuple[web.AppRunner, int]:
    app = web.Application()

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/", ok)
    runner = http_runner(app, Settings(http_idle_timeout=timeout))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def _closed_after(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: float
) -> float:
    start = time.monotonic()
    parts = [b"GET / HTTP/1.1\r\n", b"Host: x\r\n"] + [f"X-{i}: 1\r\n".encode() for i in range(40)]
    for part in parts:
        if reader.at_eof():
            break
        try:
            writer.write(part)
            await writer.drain()
        except ConnectionError:
            break
        try:
            if await asyncio.wait_for(reader.read(1000), 0.3) == b"":
                break
        except TimeoutError:
            pass
        assert time.monotonic() - start < limit, "still open"
    return time.monotonic() - start


async def test_a_dribbled_request_is_cut_off() -> None:
    runner, port = await _site(1.0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        elapsed = await _closed_after(reader, writer, limit=5.0)
        assert elapsed < 5.0
        writer.close()
    finally:
        await runner.cleanup()


async def test_an_idle_keepalive_connection_is_closed() -> None:
    runner, port = await _site(1.0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await asyncio.wait_for(reader.readuntil(b"ok"), 2)
        start = time.monotonic()
        assert await asyncio.wait_for(reader.read(100), 5) == b""
        assert time.monotonic() - start < 5
        writer.close()
    finally:
        await runner.cleanup()
