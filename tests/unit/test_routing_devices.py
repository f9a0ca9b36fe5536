"""Availability from agent state, phone state and calls; phone states from AMI events."""

from __future__ import annotations

import pytest

from cti.ami.events import ContactStatus, DeviceStateChange, ExtensionStatus
from cti.ami.ingest import EventStream
from cti.routing.availability import assess
from cti.routing.devices import DeviceBook, extension_state
from cti.routing.model import AgentProfile, AgentState, DeviceState, Presence
from cti.routing.rules import RuleError, parse_rules

AGENT = AgentProfile("ivanova", "Ivanova", "101", "PJSIP/101", max_calls=2)


@pytest.mark.parametrize(
    ("presence", "device", "calls", "code"),
    [
        (None, None, 0, "available"),
        (Presence(AgentState.AVAILABLE), DeviceState.NOT_INUSE, 1, "available"),
        (Presence(AgentState.AVAILABLE), DeviceState.UNKNOWN, 0, "available"),
        (Presence(AgentState.PAUSED, "lunch"), None, 0, "paused"),
        (Presence(AgentState.DND), None, 0, "dnd"),
        (Presence(AgentState.OFFLINE), None, 0, "offline"),
        (None, DeviceState.UNAVAILABLE, 0, "unreachable"),
        (None, DeviceState.INVALID, 0, "unreachable"),
        (None, None, 2, "at_limit"),
        (None, DeviceState.INUSE, 0, "available"),  # one call of two
    ],
)
def test_availability(presence, device, calls, code) -> None:
    assert assess(AGENT, presence=presence, device=device, calls=calls).code == code


def test_an_agent_never_seen_takes_the_default_state() -> None:
    verdict = assess(AGENT, presence=None, device=None, calls=0, default_state=AgentState.OFFLINE)
    assert verdict.code == "offline" and verdict.why == "Ivanova is offline"


WIRE = (
    b"Asterisk Call Manager/7.0.3\r\n"
    b"Event: DeviceStateChange\r\nPrivilege: call,all\r\nTimestamp: 1.0\r\n"
    b"Device: PJSIP/101\r\nState: INUSE\r\n\r\n"
    b"Event: ExtensionStatus\r\nPrivilege: call,all\r\nTimestamp: 2.0\r\nExten: 101\r\n"
    b"Context: hints\r\nHint: PJSIP/101\r\nStatus: 8\r\nStatusText: Ringing\r\n\r\n"
    b"Event: ContactStatus\r\nPrivilege: system,all\r\nTimestamp: 3.0\r\n"
    b"URI: sip:101@10.0.0.7:5060\r\nContactStatus: Unreachable\r\nAOR: 101\r\n"
    b"EndpointName: 101\r\nRoundtripUsec: 0\r\n\r\n"
    b"Event: DeviceStateChange\r\nActionID: ds-1\r\nDevice: PJSIP/102\r\n"
    b"State: NOT_INUSE\r\n\r\n"
)


def test_device_events_pass_the_framer_and_are_decoded() -> None:
    events: list = []
    stream = EventStream(on_event=events.append, on_response=lambda frame: None)
    for i in range(0, len(WIRE), 7):  # any chunking
        stream.feed(WIRE[i : i + 7], 10.0)
    assert events[1:] == [
        DeviceStateChange(1.0, "PJSIP/101", "INUSE", ""),
        ExtensionStatus(2.0, "101", "hints", "PJSIP/101", "8", "Ringing"),
        ContactStatus(3.0, "101", "101", "sip:101@10.0.0.7:5060", "Unreachable"),
        DeviceStateChange(3.0, "PJSIP/102", "NOT_INUSE", "ds-1"),  # a DeviceStateList item
    ]


def test_device_book_follows_the_phone() -> None:
    book = DeviceBook()
    assert book.state_of(AGENT) is None  # unknown until Asterisk tells
    book.apply(DeviceStateChange(1.0, "pjsip/101", "NOT_INUSE"))
    assert book.state_of(AGENT) is DeviceState.NOT_INUSE
    book.apply(ContactStatus(2.0, "101", "101", "sip:101@x", "Unreachable"))
    assert book.state_of(AGENT) is DeviceState.UNAVAILABLE
    book.apply(ContactStatus(3.0, "101", "101", "sip:101@x", "Reachable"))
    assert book.state_of(AGENT) is DeviceState.NOT_INUSE
    book.apply(DeviceStateChange(4.0, "PJSIP/101", "INUSE"))
    book.apply(ContactStatus(5.0, "101", "101", "sip:101@x", "Reachable"))  # a re-qualify
    assert book.state_of(AGENT) is DeviceState.INUSE
    book.apply(DeviceStateChange(6.0, "PJSIP/101", "SOMETHING_NEW"))
    assert book.state_of(AGENT) is DeviceState.UNKNOWN


def test_a_hint_stands_in_for_a_phone_without_device_events() -> None:
    book = DeviceBook()
    agent = AgentProfile("petrov", extension="199", device="SIP/petrov")
    book.apply(ExtensionStatus(1.0, "199", "hints", "SIP/petrov", "4", "Unavailable"))
    assert book.state_of(agent) is DeviceState.UNAVAILABLE


@pytest.mark.parametrize(
    ("status", "text", "state"),
    [
        ("0", "Idle", DeviceState.NOT_INUSE),
        ("1", "InUse", DeviceState.INUSE),
        ("2", "Busy", DeviceState.BUSY),
        ("4", "Unavailable", DeviceState.UNAVAILABLE),
        ("8", "Ringing", DeviceState.RINGING),
        ("9", "InUse&Ringing", DeviceState.RINGINUSE),
        ("16", "Hold", DeviceState.ONHOLD),
        ("-1", "Removed", DeviceState.UNKNOWN),
        ("", "Busy", DeviceState.BUSY),
    ],
)
def test_extension_status_codes(status: str, text: str, state: DeviceState) -> None:
    assert extension_state(status, text) is state


def test_did_rules_match_numbers_in_any_format_and_globs() -> None:
    rules = parse_rules(["+7 (495) 111-22-33 = sales", "8800*=support"], default_team="general")
    assert rules.match("84951112233").team == "sales"
    assert rules.match("74951112233").team == "sales"
    assert rules.match("88005553535").team == "support"
    assert rules.match("74959999999") is None and rules.default_team == "general"
    with pytest.raises(RuleError, match="NUMBER=TEAM"):
        parse_rules(["74951112233"])
