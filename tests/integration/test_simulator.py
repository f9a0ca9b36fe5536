"""The PBX simulator over real TCP: AMI login and actions, and the event stream of every scenario."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cti.ami.scenarios import SCENARIOS
from cti.ami.simulator import PbxSimulator, run_simulator_cli

SPEED = 400.0  #: simulated seconds per real second: a 10 s call takes 25 ms
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
Frame = dict[str, str]


class AmiClient:
    """A bare AMI client: what a CTI server (or panoramisk) sees on the wire."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = bytearray()  #: every byte read, banner included

    @classmethod
    async def connect(cls, port: int) -> AmiClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        client.received += await asyncio.wait_for(reader.readline(), 5)
        return client

    async def send(self, action: str, **fields: str) -> None:
        lines = [f"Action: {action}"] + [f"{key}: {value}" for key, value in fields.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def frame(self, timeout: float = 5.0) -> Frame:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        self.received += raw
        return parse(raw)

    async def until(self, done: Callable[[Frame], bool], timeout: float = 10.0) -> list[Frame]:
        """Frames up to and including the first one for which `done` is true."""
        frames: list[Frame] = []
        async with asyncio.timeout(timeout):
            while True:
                frames.append(await self.frame())
                if done(frames[-1]):
                    return frames

    async def login(self, secret: str = "ctisecret", events: str = "on") -> Frame:
        await self.send("Login", Username="cti", Secret=secret, Events=events, ActionID="login-1")
        return await self.frame()

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the connection (whatever was still unread)."""
        try:
            self.received += await asyncio.wait_for(self.reader.read(), timeout)
        except ConnectionError:
            pass
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def parse(raw: bytes) -> Frame:
    """One frame; strict UTF-8 and strict `Key: Value` lines, or the test fails."""
    text = raw.decode("utf-8")
    assert text.endswith("\r\n\r\n"), text
    frame: Frame = {}
    for line in text[:-4].split("\r\n"):
        key, sep, value = line.partition(": ")
        assert sep or line.endswith(":"), f"not a header line: {line!r}"
        frame.setdefault(key.rstrip(":"), value)
    return frame


def split_frames(data: bytes) -> list[Frame]:
    assert data.startswith(BANNER)
    body = data[len(BANNER) :]
    assert body.endswith(b"\r\n\r\n")
    return [parse(chunk + b"\r\n\r\n") for chunk in body[:-4].split(b"\r\n\r\n")]


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = PbxSimulator(speed=SPEED, seed=42)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def client(sim: PbxSimulator) -> AsyncIterator[AmiClient]:
    ami = await AmiClient.connect(sim.port)
    assert (await ami.login())["Response"] == "Success"
    assert (await ami.frame())["Event"] == "FullyBooted"
    assert (await ami.frame())["Event"] == "SuccessfulAuth"
    yield ami
    await ami.close()


# ----- connection and login --------------------------------------------------------------------


async def test_greets_with_the_asterisk_banner(sim: PbxSimulator) -> None:
    ami = await AmiClient.connect(sim.port)
    assert bytes(ami.received) == BANNER
    await ami.close()


async def test_login_with_the_right_secret_is_accepted(sim: PbxSimulator) -> None:
    ami = await AmiClient.connect(sim.port)
    response = await ami.login()
    assert response == {
        "Response": "Success",
        "ActionID": "login-1",
        "Message": "Authentication accepted",
    }
    booted = await ami.frame()
    assert booted["Event"] == "FullyBooted" and booted["Status"] == "Fully Booted"
    await ami.close()


async def test_wrong_secret_is_refused_and_the_connection_closed(sim: PbxSimulator) -> None:
    ami = await AmiClient.connect(sim.port)
    response = await ami.login(secret="guess")
    assert response == {
        "Response": "Error",
        "ActionID": "login-1",
        "Message": "Authentication failed",
    }
    assert await ami.closed_by_peer()
    await ami.close()


async def test_actions_before_login_are_refused(sim: PbxSimulator) -> None:
    ami = await AmiClient.connect(sim.port)
    await ami.send("Ping", ActionID="p0")
    assert await ami.frame() == {
        "Response": "Error",
        "ActionID": "p0",
        "Message": "Permission denied",
    }
    await ami.close()


async def test_ping_pongs_with_a_timestamp(client: AmiClient) -> None:
    await client.send("Ping", ActionID="lab-1")
    response = await client.frame()
    assert response["Response"] == "Success" and response["ActionID"] == "lab-1"
    assert response["Ping"] == "Pong"
    assert float(response["Timestamp"]) > 1.7e9


async def test_unknown_action_is_an_error(client: AmiClient) -> None:
    await client.send("Fly", ActionID="x-1")
    assert await client.frame() == {
        "Response": "Error",
        "ActionID": "x-1",
        "Message": "Invalid/unknown command",
    }


async def test_logoff_says_goodbye_and_closes(client: AmiClient) -> None:
    await client.send("Logoff", ActionID="bye")
    response = await client.frame()
    assert response == {
        "Response": "Goodbye",
        "ActionID": "bye",
        "Message": "Thanks for all the fish.",
    }
    assert await client.closed_by_peer()


async def test_redirect_is_acknowledged(client: AmiClient) -> None:
    await client.send(
        "Redirect",
        Channel="PJSIP/trunk-00000000",
        Exten="102",
        Context="from-internal",
        ActionID="r",
    )
    response = await client.frame()
    assert response["Response"] == "Success" and response["ActionID"] == "r"


# ----- CoreShowChannels ------------------------------------------------------------------------


async def core_show_channels(client: AmiClient, action_id: str) -> tuple[list[Frame], Frame]:
    await client.send("CoreShowChannels", ActionID=action_id)
    frames = await client.until(lambda f: f.get("Event") == "CoreShowChannelsComplete")
    frames = [f for f in frames if f.get("ActionID") == action_id]
    start, *items, complete = frames
    assert start == {
        "Response": "Success",
        "ActionID": action_id,
        "EventList": "start",
        "Message": "Channels will follow",
    }
    assert complete["EventList"] == "Complete" and complete["ListItems"] == str(len(items))
    return items, complete


async def test_core_show_channels_lists_the_channels_of_a_call_in_progress(
    sim: PbxSimulator, client: AmiClient
) -> None:
    linkedid, _, _ = sim.start_scenario("answered", talk=3600.0)
    await client.until(
        lambda f: f.get("Event") == "BridgeEnter" and f["Channel"].startswith("PJSIP/trunk")
    )

    items, _ = await core_show_channels(client, "lab-25425-1")

    assert [item["Event"] for item in items] == ["CoreShowChannel", "CoreShowChannel"]
    assert {item["Linkedid"] for item in items} == {linkedid}
    trunk, phone = items
    assert trunk["Channel"].startswith("PJSIP/trunk-") and trunk["Uniqueid"] == linkedid
    assert phone["Channel"].startswith("PJSIP/101-") and phone["ChannelStateDesc"] == "Up"
    assert trunk["BridgeId"] == phone["BridgeId"] != ""
    assert trunk["Application"] == "Dial" and trunk["ApplicationData"] == "PJSIP/101,8"
    assert trunk["Duration"].count(":") == 2
    assert list(trunk)[:16] == [
        "Event", "ActionID", "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum",
        "CallerIDName", "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode",
        "Context", "Exten", "Priority", "Uniqueid", "Linkedid",
    ]  # fmt: skip
    assert trunk["CallerIDName"] == "Иван Сергеевич"
    assert {ch.uniqueid for ch in sim.live_channels()} == {trunk["Uniqueid"], phone["Uniqueid"]}


async def test_core_show_channels_is_empty_when_idle(client: AmiClient) -> None:
    items, complete = await core_show_channels(client, "idle")
    assert items == [] and complete["ListItems"] == "0"


async def test_device_state_list_names_every_phone_and_the_one_in_a_call(
    sim: PbxSimulator, client: AmiClient
) -> None:
    sim.start_scenario("answered", talk=3600.0)
    await client.until(
        lambda f: f.get("Event") == "BridgeEnter" and f["Channel"].startswith("PJSIP/101-")
    )
    await client.send("DeviceStateList", ActionID="ds-1")
    frames = await client.until(lambda f: f.get("Event") == "DeviceStateListComplete")
    start, *items, complete = [f for f in frames if f.get("ActionID") == "ds-1"]
    assert start["Response"] == "Success" and start["EventList"] == "start"
    states = {f["Device"]: f["State"] for f in items if f["Event"] == "DeviceStateChange"}
    assert states == {
        "PJSIP/101": "INUSE",
        "PJSIP/102": "NOT_INUSE",
        "PJSIP/103": "NOT_INUSE",
        "PJSIP/199": "NOT_INUSE",
    }
    assert complete["EventList"] == "Complete" and complete["ListItems"] == "4"


# ----- the event stream ----------------------------------------------------------------------


async def test_every_scenario_streams_well_formed_events(
    sim: PbxSimulator, client: AmiClient
) -> None:
    started = [sim.start_scenario(name) for name in SCENARIOS]  # all at once: overlapping calls
    expected = await asyncio.gather(*(task for _, _, task in started))
    await client.send("Ping", ActionID="end")
    await client.until(lambda f: f.get("ActionID") == "end")

    frames = split_frames(bytes(client.received))
    events = [f for f in frames if "Event" in f]
    assert all("Event" in f or "Response" in f for f in frames)
    for event in events[2:]:  # after FullyBooted, which carries no Timestamp (as in the captures)
        assert event["Privilege"] and float(event["Timestamp"]) > 1.7e9, event
    stamps = [float(e["Timestamp"]) for e in events if "Timestamp" in e]
    assert stamps == sorted(stamps)

    calls = {e["linkedid"] for e in expected} | {
        r["linkedid"] for e in expected for r in e.get("related_calls", [])
    }
    for event in events:
        if "Linkedid" in event:  # a leg of a known call, or a channel starting a call of its own
            assert event["Linkedid"] in calls or event["Linkedid"] == event["Uniqueid"], event
    assert {e["Linkedid"] for e in events if e["Event"] == "Newchannel"} >= {
        e["linkedid"] for e in expected
    }
    assert "CallerIDName: Иван Сергеевич\r\n".encode() in client.received
    assert not sim.live_channels()


async def test_timestamps_run_in_simulated_time(sim: PbxSimulator, client: AmiClient) -> None:
    expected = await sim.play("answered", ring=7.5, talk=42.25)
    await client.send("Ping", ActionID="end")
    frames = await client.until(lambda f: f.get("ActionID") == "end")

    def at(name: str) -> float:
        return next(float(f["Timestamp"]) for f in frames if f.get("Event") == name)

    hangups = [float(f["Timestamp"]) for f in frames if f.get("Event") == "Hangup"]
    assert at("DialEnd") - at("Newchannel") == pytest.approx(7.5, abs=0.01)
    assert max(hangups) - at("DialEnd") == pytest.approx(42.25, abs=0.01)
    assert (expected["wait_seconds"], expected["talk_seconds"]) == (7.5, 42.25)


async def test_a_client_with_events_off_gets_responses_only(sim: PbxSimulator) -> None:
    ami = await AmiClient.connect(sim.port)
    assert (await ami.login(events="off"))["Response"] == "Success"
    await sim.play("short_abandon")
    await ami.send("Ping", ActionID="p1")
    assert (await ami.frame())["ActionID"] == "p1"  # nothing came before the response

    await ami.send("Events", EventMask="on", ActionID="e1")
    assert await ami.frame() == {"Response": "Success", "ActionID": "e1", "Events": "On"}
    linkedid, _, task = sim.start_scenario("short_abandon")
    frames = await ami.until(lambda f: f.get("Event") == "Hangup")
    assert frames[0]["Event"] == "Newchannel" and frames[0]["Linkedid"] == linkedid
    await task
    await ami.close()


async def test_originate_plays_a_click_to_call(client: AmiClient) -> None:
    await client.send(
        "Originate", Channel="PJSIP/102", Context="from-internal", Exten="89161234567", Priority="1",
        CallerID='"Click2Call 89161234567" <89161234567>', Async="true", ActionID="o-1",
    )  # fmt: skip
    response = await client.frame()
    assert response == {
        "Response": "Success",
        "ActionID": "o-1",
        "Message": "Originate successfully queued",
    }
    frames = await client.until(
        lambda f: f.get("Event") == "Hangup" and f["Channel"].startswith("PJSIP/102")
    )

    dials = [f for f in frames if f.get("Event") == "DialBegin"]
    assert "Channel" not in dials[0] and dials[0]["DestChannel"].startswith("PJSIP/102-")
    assert dials[1]["Channel"].startswith("PJSIP/102-") and dials[1]["DestChannel"].startswith(
        "PJSIP/trunk-"
    )
    assert dials[1]["Context"] == "outbound" and dials[1]["Exten"] == "89161234567"
    reply = next(f for f in frames if f.get("Event") == "OriginateResponse")
    assert reply["ActionID"] == "o-1" and reply["Response"] == "Success"


async def test_originate_to_an_unknown_phone_is_an_error(client: AmiClient) -> None:
    await client.send("Originate", Channel="SIP/999", Exten="123", Context="x", ActionID="o-2")
    response = await client.frame()
    assert response["Response"] == "Error" and response["ActionID"] == "o-2"


async def test_random_traffic_overlaps_calls_and_cleans_up(
    sim: PbxSimulator, client: AmiClient
) -> None:
    finished: list[dict[str, Any]] = []
    started = await sim.random_traffic(2.0, duration=60.0, on_call_done=finished.append)
    await client.send("Ping", ActionID="end")
    await client.until(lambda f: f.get("ActionID") == "end")

    assert started == len(finished) > 10
    events = [f for f in split_frames(bytes(client.received)) if "Linkedid" in f]
    spans: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        spans.setdefault(event["Linkedid"], [index, index])[1] = index
    ordered = sorted(spans.values())
    assert any(
        nxt[0] < cur[1] for cur, nxt in zip(ordered, ordered[1:], strict=False)
    )  # interleaved
    assert not sim.live_channels() and sim.calls_in_progress == 0


async def test_the_same_seed_gives_the_same_traffic() -> None:
    async def traffic(seed: int) -> list[tuple[str, str, str]]:
        calls: list[dict[str, Any]] = []
        async with PbxSimulator(speed=SPEED, seed=seed) as simulator:
            await simulator.random_traffic(3.0, duration=30.0, on_call_done=calls.append)
        return sorted((c["scenario"], c["caller"], str(c["wait_seconds"])) for c in calls)

    first, again, other = await traffic(9), await traffic(9), await traffic(10)
    assert first == again and first != other


async def test_an_unknown_scenario_is_refused(sim: PbxSimulator) -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        sim.start_scenario("fax")


async def test_cli_plays_the_named_scenarios_once_a_client_listens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli = asyncio.create_task(
        run_simulator_cli(
            host="127.0.0.1", port=0, username="cti", secret="s3", rate=0.0, duration=None,
            scenarios=["internal"], speed=SPEED, seed=1, record=None,
        )
    )  # fmt: skip
    try:
        out = ""
        for _ in range(500):  # the CLI prints its port once it listens
            out += capsys.readouterr().out
            if "listening" in out:
                break
            await asyncio.sleep(0.01)
        assert out.startswith("AMI simulator listening on 127.0.0.1:")
        ami = await AmiClient.connect(int(out.strip().rsplit(":", 1)[1]))
        assert (await ami.login(secret="s3"))["Response"] == "Success"
        frames = await ami.until(lambda f: f.get("Event") == "Hangup")
        assert any(
            f.get("Event") == "Newchannel" and f["Channel"].startswith("PJSIP/101-") for f in frames
        )
        await ami.close()
    finally:
        cli.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cli


# ----- disconnects and recording ---------------------------------------------------------------


async def test_drop_clients_closes_every_connection_and_clients_can_come_back(
    sim: PbxSimulator,
) -> None:
    first, second = await AmiClient.connect(sim.port), await AmiClient.connect(sim.port)
    await first.login()
    await second.login()

    assert sim.drop_clients() == 2

    assert await first.closed_by_peer() and await second.closed_by_peer()
    again = await AmiClient.connect(sim.port)
    assert (await again.login())["Response"] == "Success"
    for ami in (first, second, again):
        await ami.close()


async def test_a_client_vanishing_mid_call_does_not_disturb_the_others(
    sim: PbxSimulator, client: AmiClient
) -> None:
    leaving = await AmiClient.connect(sim.port)
    await leaving.login()
    _, _, task = sim.start_scenario("queue_answered")
    await leaving.until(lambda f: f.get("Event") == "AgentCalled")
    leaving.writer.transport.abort()

    expected = await task
    frames = await client.until(
        lambda f: f.get("Event") == "Hangup" and f["Uniqueid"] == expected["linkedid"]
    )
    assert any(f.get("Event") == "AgentConnect" for f in frames)
    await leaving.close()


async def test_recording_holds_exactly_what_the_client_received(tmp_path: Path) -> None:
    path = tmp_path / "session.ami"
    async with PbxSimulator(speed=SPEED, seed=1, record_path=str(path)) as simulator:
        ami = await AmiClient.connect(simulator.port)
        await ami.login()
        await ami.until(lambda f: f.get("Event") == "SuccessfulAuth")
        await simulator.play("answered")
        await ami.send("Logoff", ActionID="bye")
        await ami.until(lambda f: f.get("Response") == "Goodbye")
        assert await ami.closed_by_peer()
        await ami.close()

    recorded = path.read_bytes()
    assert recorded == bytes(ami.received)
    assert recorded.startswith(BANNER) and b"Event: Hangup\r\n" in recorded
