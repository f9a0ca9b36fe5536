"""FastAGI against hostile peers over real TCP: byte caps, a session cap, a source allow-list."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping

import pytest

from cti.routing.fastagi import AgiRequest, FastAgiServer

ENV = b"agi_network_script: route\nagi_uniqueid: 1.1\n\n"


async def _route(request: AgiRequest) -> Mapping[str, str]:
    return {"A": "1", "B": "2"}


async def _server(**kwargs: object) -> FastAgiServer:
    server = FastAgiServer(routes={"route": _route}, port=0, timeout=10.0, **kwargs)  # type: ignore[arg-type]
    await server.start()
    return server


@pytest.fixture
async def agi() -> AsyncIterator[FastAgiServer]:
    server = await _server()
    try:
        yield server
    finally:
        await server.close()


async def _closed(reader: asyncio.StreamReader, within: float = 2.0) -> bool:
    """True when the server closes the connection well before its 10 s session timeout."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def test_a_reply_line_without_end_is_cut_off(
    agi: FastAgiServer, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
    writer.write(ENV)
    assert (await reader.readline()).startswith(b"SET VARIABLE A")
    for _ in range(64):  # 1 MiB of one endless line
        writer.write(b"x" * 16384)
    try:
        await writer.drain()
    except ConnectionError:
        pass
    assert await _closed(reader)
    assert "FastAGI session from" in caplog.text and "bytes" in caplog.text
    writer.close()


async def test_endless_hangup_lines_are_cut_off(agi: FastAgiServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
    writer.write(ENV)
    assert (await reader.readline()).startswith(b"SET VARIABLE A")
    try:
        for _ in range(64):
            writer.write(b"HANGUP\n" * 2048)
            await writer.drain()
    except ConnectionError:
        pass
    assert await _closed(reader)
    writer.close()


async def test_sessions_beyond_the_cap_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    server = await _server(max_sessions=2)
    try:
        idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await _closed(reader)
        assert "sessions" in caplog.text
        for _, w in idle:
            w.close()
        writer.close()
        await asyncio.sleep(0.05)
        # room again: a real session is served
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(ENV)
        assert (await reader.readline()).startswith(b"SET VARIABLE A")
        writer.close()
    finally:
        await server.close()


async def test_a_source_not_allowed_is_closed_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await _server(allowed_sources=("192.0.2.10", "10.1.0.0/16"))
    caplog.set_level(logging.WARNING, logger="cti.routing.fastagi")
    try:
        for _ in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(ENV)
            assert await _closed(reader)
            writer.close()
        refused = [r for r in caplog.records if "not in agi_allowed_sources" in r.getMessage()]
        assert len(refused) == 1
        assert server.stats.refused == 5
    finally:
        await server.close()


async def test_loopback_is_allowed_by_default(agi: FastAgiServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
    writer.write(ENV)
    assert (await reader.readline()).startswith(b"SET VARIABLE A")
    writer.close()


def test_default_sources_are_loopback_and_the_ami_host() -> None:
    from cti.config import Settings
    from cti.routing.setup import agi_sources

    sources = agi_sources(Settings(ami_host="192.0.2.7"))
    assert {"127.0.0.1", "::1", "192.0.2.7"} <= set(sources)
    assert agi_sources(Settings(agi_allowed_sources=("10.0.0.0/8",))) == ("10.0.0.0/8",)
