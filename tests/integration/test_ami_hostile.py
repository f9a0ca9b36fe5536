"""A hostile or broken AMI peer over a real socket: huge frames, endless lines, garbage,
a million headers, floods. Memory stays bounded, every drop is counted and logged, the link and
the secret survive."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from cti.ami import events as ev
from cti.ami.connection import AmiClient
from tests.integration.test_ami_client import NEWCHANNEL, SECRET, Peer, frame, start, stop, wait_for

MAX_FRAME = 64 * 1024


async def test_hostile_frames_are_dropped_counted_logged_and_the_link_survives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    buffers: list[int] = []

    async def script(
        peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        async def send(data: bytes) -> None:
            for i in range(0, len(data), 256 * 1024):
                writer.write(data[i : i + 256 * 1024])
                await writer.drain()
                protocol = ami._protocol
                if protocol is not None:
                    buffers.append(len(protocol.stream.framer._buffer))

        await send(
            b"Event: Newchannel\r\nCallerIDName: " + b"A" * 8_000_000 + b"\r\n\r\n"
        )  # 8 MB frame
        await send(b"X" * 4_000_000 + b"\r\n\r\n")  # a line with no end (until much later)
        await send(os.urandom(30_000).replace(b"\r\n\r\n", b"") + b"\r\n\r\n")  # binary garbage
        await send(
            b"Event: Newchannel\r\n" + b"H: v\r\n" * 1_000_000 + b"\r\n"
        )  # a million headers
        await send(b"Event: Newchannel\r\nCallerIDNum: \x00\x00\r\nLinkedid: \x00\r\n\r\n")  # NULs
        await send(NEWCHANNEL)
        await asyncio.sleep(3600)

    events: list = []
    async with Peer(script) as peer:
        ami = AmiClient(
            host="127.0.0.1",
            port=peer.port,
            username="cti",
            secret=SECRET,
            on_event=events.append,
            max_frame_bytes=MAX_FRAME,
            ping_interval=5,
        )
        task = start(ami)
        await wait_for(
            lambda: any(
                isinstance(e, ev.Newchannel) and e.caller_name == "Иван Сергеевич" for e in events
            ),
            timeout=30,
        )
        assert ami.connected and peer.sessions == 1  # never dropped the link
        framing = ami.framing
        await stop(task)
    assert max(buffers) <= MAX_FRAME + 3  # memory stays bounded whatever the peer sends
    assert framing.oversized >= 3  # 8 MB frame, endless line, million headers
    assert framing.malformed + framing.undecodable >= 1  # the garbage
    assert "over 65536" in caplog.text or "over the 65536-byte limit" in caplog.text
    assert SECRET not in caplog.text


async def test_a_flood_pauses_reading_instead_of_queueing_without_bound() -> None:
    total = 30_000

    async def script(
        peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        one = frame(
            Event="Hangup",
            Channel="PJSIP/101-00000001",
            Uniqueid="1.{n}",
            Linkedid="1.{n}",
            Cause="16",
            Timestamp="1795546744.0",
        )
        batch = b"".join(one.replace(b"{n}", str(n).encode()) for n in range(total))
        writer.write(batch)
        await writer.drain()
        await asyncio.sleep(3600)

    queue: list = []
    backlog_seen: list[int] = []
    async with Peer(script) as peer:
        ami = AmiClient(
            host="127.0.0.1",
            port=peer.port,
            username="cti",
            secret=SECRET,
            on_event=queue.append,
            backlog=lambda: len(queue),
            max_backlog=2_000,
            ping_interval=5,
        )
        task = start(ami)
        await wait_for(lambda: ami.stats.flow_pauses >= 1, timeout=10)
        await asyncio.sleep(0.2)  # a consumer that has stalled: nothing more may pile up
        stalled = len(queue)
        await asyncio.sleep(0.2)
        assert len(queue) == stalled and stalled < 2_000 + 5_000  # one read's worth past the mark
        delivered: list = []
        while len(delivered) < total:  # the consumer wakes up and works the backlog down
            delivered.extend(queue)
            backlog_seen.append(len(queue))
            queue.clear()
            await asyncio.sleep(0.01)
        assert ami.connected
        await stop(task)
    uniqueids = [e.uniqueid for e in delivered if isinstance(e, ev.Hangup)]
    assert uniqueids == [f"1.{n}" for n in range(total)]  # nothing lost, order kept
    assert max(backlog_seen) < 2_000 + 5_000


async def test_a_login_refusal_is_one_clean_log_line_whatever_the_peer_says(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        raw = await reader.readuntil(b"\r\n\r\n")
        action_id = [line for line in raw.split(b"\r\n") if line.startswith(b"ActionID: ")][0][10:]
        writer.write(
            b"Response: Error\r\nActionID: "
            + action_id
            + b"\r\nMessage: Authentication failed\nFAKE LOG LINE \x1b[31m"
            + b"x" * 5000
            + b"\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    caplog.set_level(logging.INFO)
    ami = AmiClient(
        host="127.0.0.1",
        port=port,
        username="cti",
        secret=SECRET,
        on_event=lambda e: None,
        reconnect_min=0.05,
        reconnect_max=0.1,
    )
    task = start(ami)
    await wait_for(lambda: ami.stats.login_failures >= 2)
    await stop(task)
    server.close()
    refusals = [r.getMessage() for r in caplog.records if "refused AMI login" in r.getMessage()]
    assert refusals and all("\n" not in m and "\x1b" not in m and len(m) < 800 for m in refusals)
    assert SECRET not in caplog.text


def test_the_secret_comes_from_a_file_or_the_environment_and_never_shows(tmp_path, caplog) -> None:
    from cti.config import load_settings

    secret_file = tmp_path / "ami-secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    secret_file.chmod(0o644)
    caplog.set_level(logging.DEBUG)
    settings = load_settings(environ={"CTI_AMI_SECRET_FILE": str(secret_file)})
    assert settings.secret() == SECRET
    assert "chmod 600" in caplog.text  # readable by others: said, without the secret
    secret_file.chmod(0o600)
    caplog.clear()
    assert settings.secret() == SECRET and "chmod" not in caplog.text
    from_env = load_settings(environ={"CTI_AMI_SECRET": SECRET})
    assert from_env.secret() == SECRET
    assert SECRET not in repr(from_env) and SECRET not in caplog.text
    missing = load_settings(environ={"CTI_AMI_SECRET_FILE": str(tmp_path / "nope")})
    with pytest.raises(Exception) as caught:
        missing.secret()
    assert "cannot read the AMI secret" in str(caught.value) and SECRET not in str(caught.value)
