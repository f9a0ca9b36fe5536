"""Phones' states over a real AMI link: DeviceStateList after every connect, then live changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from cti.ami.connection import AmiClient
from cti.routing.model import DeviceState
from tests.routing_world import AGENTS, office

SECRET = "device-secret"


def frame(**headers: str) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()


async def read_frame(reader: asyncio.StreamReader) -> dict[str, str]:
    raw = await reader.readuntil(b"\r\n\r\n")
    return dict(line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line)


class Asterisk:
    """An AMI peer that lists devices on DeviceStateList; the states change between sessions."""

    def __init__(self) -> None:
        self.states = {"PJSIP/101": "NOT_INUSE", "PJSIP/102": "UNAVAILABLE"}
        self.lists = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                action = await read_frame(reader)
                name, aid = action.get("Action"), action.get("ActionID", "")
                if name == "Login":
                    ok = action.get("Secret") == SECRET
                    writer.write(frame(Response="Success" if ok else "Error", ActionID=aid))
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
                elif name == "DeviceStateList":
                    self.lists += 1
                    writer.write(
                        frame(
                            Response="Success",
                            ActionID=aid,
                            EventList="start",
                            Message="Device State Changes will follow",
                        )
                    )
                    for device, state in self.states.items():
                        writer.write(
                            frame(
                                Event="DeviceStateChange", ActionID=aid, Device=device, State=state
                            )
                        )
                    writer.write(
                        frame(
                            Event="DeviceStateListComplete",
                            ActionID=aid,
                            EventList="Complete",
                            ListItems=str(len(self.states)),
                        )
                    )
                elif name == "Ping":
                    writer.write(frame(Response="Success", ActionID=aid, Ping="Pong"))
                await writer.drain()

    def push(self, **headers: str) -> None:
        self.writers[-1].write(frame(**headers))


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_phones_states_after_every_connect_and_live(caplog) -> None:
    pbx = Asterisk()
    server = await asyncio.start_server(pbx.session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    routing = office()
    await routing.load()
    calls: list[object] = []

    def on_event(event: object) -> None:
        if not routing.on_ami_event(event):  # type: ignore[arg-type]
            calls.append(event)

    ami = AmiClient(
        host="127.0.0.1",
        port=port,
        username="cti",
        secret=SECRET,
        on_event=on_event,
        on_connected=routing.ami_connected,
        reconnect_min=0.05,
        reconnect_max=0.1,
        ping_interval=5.0,
    )
    tasks = [
        asyncio.ensure_future(ami.run()),
        asyncio.ensure_future(routing.sync_devices_forever(ami.action)),
    ]
    ivanova, sidorova = AGENTS[0], AGENTS[2]
    try:
        await until(lambda: routing.devices.state_of(sidorova) is DeviceState.UNAVAILABLE)
        assert routing.devices.state_of(ivanova) is DeviceState.NOT_INUSE
        decision = await routing.decide("+79990000000", "74951112233", record_offer=False)
        assert "sidorova" not in [t.agent for t in decision.targets]  # her phone is unreachable
        pbx.push(
            Event="DeviceStateChange", Privilege="call,all", Device="PJSIP/102", State="NOT_INUSE"
        )
        await until(lambda: routing.devices.state_of(sidorova) is DeviceState.NOT_INUSE)
        pbx.push(
            Event="ContactStatus",
            Privilege="system,all",
            URI="sip:101@10.0.0.7",
            ContactStatus="Removed",
            AOR="101",
            EndpointName="101",
        )
        await until(lambda: routing.devices.state_of(ivanova) is DeviceState.UNAVAILABLE)
        # the link drops; while away a phone changed: the next session lists it again
        pbx.states = {"PJSIP/101": "INUSE"}
        pbx.writers[-1].close()
        await until(lambda: pbx.lists == 2)
        await until(lambda: routing.devices.state_of(ivanova) is DeviceState.INUSE)
        assert routing.devices.state_of(sidorova) is None  # forgotten: unknown, hence tried
        assert calls == [
            e for e in calls if type(e).__name__ not in ("DeviceStateChange", "ContactStatus")
        ]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.close()
        for writer in pbx.writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await server.wait_closed()
