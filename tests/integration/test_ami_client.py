"""The live AMI client against scripted peers: panoramisk's traps closed, reconnects, secrets kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import pytest

from cti.ami import events as ev
from cti.ami.connection import AmiClient, AmiNotConnected, backoff_delay

SECRET = "s3cr3t-Пароль"
Handler = Callable[["Peer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def frame(**headers: str) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()


async def read_frame(reader: asyncio.StreamReader) -> dict[str, str]:
    raw = await reader.readuntil(b"\r\n\r\n")
    out: dict[str, str] = {}
    for line in raw.decode().split("\r\n"):
        if ": " in line:
            k, v = line.split(": ", 1)
            out.setdefault(k, v)
    return out


class Peer:
    """A scripted AMI server: banner, login check, then the test's script."""

    def __init__(
        self,
        script: Handler,
        *,
        answer_pings: bool = True,
        banner: bytes = b"Asterisk Call Manager/11.0.0",
        refuse_status: bool = False,
    ) -> None:
        self.script = script
        self.banner = banner
        self.refuse_status = refuse_status
        self.answer_pings = answer_pings
        self.sessions = 0
        self.actions: list[dict[str, str]] = []
        self.logins = 0
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> Peer:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        writer.write(self.banner + b"\r\n")
        try:
            login = await read_frame(reader)
            self.logins += 1
            if login.get("Secret") != SECRET:
                writer.write(
                    frame(
                        Response="Error",
                        ActionID=login["ActionID"],
                        Message="Authentication failed",
                    )
                )
                await writer.drain()
                writer.close()
                return
            writer.write(
                frame(
                    Response="Success",
                    ActionID=login["ActionID"],
                    Message="Authentication accepted",
                )
            )
            await writer.drain()
            responder = asyncio.ensure_future(self._respond(reader, writer))
            try:
                await self.script(self, reader, writer)
                await responder
            finally:
                responder.cancel()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await self._answer(reader, writer)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            action = await read_frame(reader)
            self.actions.append(action)
            name, aid = action.get("Action"), action.get("ActionID", "")
            if name == "Ping" and self.answer_pings:
                writer.write(frame(Response="Success", ActionID=aid, Ping="Pong"))
            elif name == "Status" and self.refuse_status:
                writer.write(frame(Response="Error", ActionID=aid, Message="Permission denied"))
            elif name == "Status":
                writer.write(frame(Response="Success", ActionID=aid, EventList="start"))
                writer.write(
                    frame(Event="StatusComplete", EventList="Complete", Items="0", ActionID=aid)
                )
            elif name == "CoreShowChannels":
                writer.write(
                    frame(
                        Response="Success",
                        ActionID=aid,
                        EventList="start",
                        Message="Channels will follow",
                    )
                )
                writer.write(
                    frame(
                        Event="CoreShowChannelsComplete",
                        EventList="Complete",
                        ListItems="0",
                        ActionID=aid,
                    )
                )
            await writer.drain()


async def _forever(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


def start(ami: AmiClient) -> asyncio.Task:
    return asyncio.ensure_future(ami.run())


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def client(peer: Peer, events: list, **kw) -> AmiClient:
    opts = dict(ping_interval=0.2, ping_timeout=0.2, reconnect_min=0.05, reconnect_max=0.2)
    opts.update(kw)
    return AmiClient(
        host="127.0.0.1",
        port=peer.port,
        username="cti",
        secret=SECRET,
        on_event=events.append,
        **opts,
    )


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


NEWCHANNEL = frame(
    Event="Newchannel",
    Timestamp="1795546744.610786",
    Channel="PJSIP/trunk-00000001",
    ChannelStateDesc="Ring",
    CallerIDNum="+79161234567",
    CallerIDName="Иван Сергеевич",
    Context="from-trunk",
    Exten="74952220101",
    Uniqueid="1.1",
    Linkedid="1.1",
)


async def test_cyrillic_split_across_reads_and_two_event_headers() -> None:
    async def script(
        peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        for i in range(len(NEWCHANNEL)):  # one byte per write: every UTF-8 sequence is split
            writer.write(NEWCHANNEL[i : i + 1])
            await writer.drain()
        writer.write(NEWCHANNEL.replace(b"Timestamp:", b"Event: Hangup\r\nTimestamp:"))
        writer.write(NEWCHANNEL)
        await writer.drain()
        await asyncio.sleep(3600)

    events: list = []
    async with Peer(script) as peer:
        ami = client(peer, events)
        task = start(ami)
        await wait_for(lambda: len([e for e in events if isinstance(e, ev.Newchannel)]) == 3)
        names = [e.caller_name for e in events if isinstance(e, ev.Newchannel)]
        assert names == ["Иван Сергеевич"] * 3
        assert ami.stats.connects == 1
        await stop(task)


async def test_a_raising_handler_does_not_drop_the_link() -> None:
    async def script(
        peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(NEWCHANNEL * 2)
        await writer.drain()
        await asyncio.sleep(3600)

    seen: list = []

    def explode(event: ev.AmiEvent) -> None:
        seen.append(event)
        if (
            isinstance(event, ev.Newchannel)
            and len([e for e in seen if isinstance(e, ev.Newchannel)]) == 1
        ):
            raise RuntimeError("handler bug")

    async with Peer(script) as peer:
        ami = AmiClient(
            host="127.0.0.1", port=peer.port, username="cti", secret=SECRET, on_event=explode
        )
        task = start(ami)
        await wait_for(lambda: len([e for e in seen if isinstance(e, ev.Newchannel)]) == 2)
        assert ami.stats.connects == 1 and ami.stats.handler_errors == 1
        await stop(task)


async def test_pending_originate_is_failed_not_resent_after_reconnect() -> None:
    async def script(
        peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if peer.sessions == 1:
            await wait_for(lambda: any(a.get("Action") == "Originate" for a in peer.actions))
            writer.transport.abort()  # drop before answering the Originate
            return
        await asyncio.sleep(3600)

    events: list = []
    async with Peer(script) as peer:
        ami = client(peer, events, ping_interval=5)
        task = start(ami)
        await wait_for(lambda: ami.connected)
        with pytest.raises(AmiNotConnected):
            await ami.action(
                {"Action": "Originate", "Channel": "PJSIP/102", "Exten": "89161234567"}
            )
        await wait_for(lambda: peer.sessions == 2 and ami.connected)
        await asyncio.sleep(0.3)
        assert [a["Action"] for a in peer.actions].count("Originate") == 1
        assert sum(isinstance(e, ev.SessionStarted) for e in events) == 2
        assert [a["Action"] for a in peer.actions].count("CoreShowChannels") == 2
        await stop(task)


async def test_wrong_secret_is_one_clear_error_with_backoff_and_no_secret_in_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Peer(_forever) as peer:
        ami = AmiClient(
            host="127.0.0.1",
            port=peer.port,
            username="cti",
            secret="wrong-" + SECRET,
            on_event=lambda e: None,
            reconnect_min=0.05,
            reconnect_max=0.1,
        )
        task = start(ami)
        await wait_for(lambda: peer.logins >= 2)
        await stop(task)
    assert ami.stats.login_failures >= 1 and not ami.connected
    assert "refused AMI login for user 'cti'" in caplog.text
    assert SECRET not in caplog.text and SECRET not in repr(ami)


async def test_half_open_link_is_detected_by_unanswered_ping() -> None:
    events: list = []
    async with Peer(_forever, answer_pings=False) as peer:
        ami = client(peer, events)
        task = start(ami)
        await wait_for(lambda: peer.sessions >= 2, timeout=5)
        assert ami.stats.ping_timeouts >= 1
        await stop(task)


async def test_unreachable_pbx_is_retried_with_capped_backoff() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    ami = AmiClient(
        host="127.0.0.1",
        port=port,
        username="cti",
        secret=SECRET,
        on_event=lambda e: None,
        reconnect_min=0.01,
        reconnect_max=0.02,
    )
    task = start(ami)
    await wait_for(lambda: ami.stats.connect_failures >= 3)
    await stop(task)
    assert "cannot reach Asterisk AMI" in (ami.last_error or "")


def test_backoff_is_capped_and_jittered() -> None:
    delays = [backoff_delay(n, low=0.5, high=30, rand=lambda: 1.0) for n in range(12)]
    assert delays[0] == 0.5 and delays[-1] == 30 and delays == sorted(delays)
    assert backoff_delay(20, low=0.5, high=30, rand=lambda: 0.0) == 15


async def test_resync_asks_asterisk_for_each_channels_times_and_did() -> None:
    async with Peer(_forever) as peer:
        events: list = []
        ami = client(peer, events, status_variables=("CTI_DID", "CDR(start,u)", "CDR(answer,u)"))
        task = start(ami)
        try:
            await wait_for(lambda: any(a.get("Action") == "Status" for a in peer.actions))
            names = [a.get("Action") for a in peer.actions]
            assert names.index("CoreShowChannels") < names.index("Status")
            status = next(a for a in peer.actions if a.get("Action") == "Status")
            assert status["Variables"] == "CTI_DID,CDR(start,u),CDR(answer,u)"
        finally:
            await stop(task)


async def test_status_refused_is_a_warning_and_the_link_stays_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Peer(_forever, refuse_status=True) as peer:
        events: list = []
        ami = client(peer, events, status_variables=("CDR(answer,u)",))
        task = start(ami)
        try:
            await wait_for(lambda: "Status refused" in caplog.text)
            await wait_for(lambda: sum(a.get("Action") == "Ping" for a in peer.actions) >= 1)
            assert ami.connected and peer.sessions == 1
            assert "write=reporting" in caplog.text
        finally:
            await stop(task)


async def test_asterisk_11_is_named_as_unsupported(caplog: pytest.LogCaptureFixture) -> None:
    async with Peer(_forever, banner=b"Asterisk Call Manager/1.3") as peer:
        events: list = []
        ami = client(peer, events)
        task = start(ami)
        try:
            await wait_for(lambda: ami.pbx_problem is not None)
            assert "Asterisk 11 or older" in ami.pbx_problem
            assert "Asterisk 12 or newer" in caplog.text and "16-22" in caplog.text
        finally:
            await stop(task)
