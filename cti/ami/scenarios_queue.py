"""Simulator scenarios of the support queue (DID 700, ring-all): answered and abandoned (captures 05, 06)."""

from __future__ import annotations

import random
from typing import Any

from cti.ami.scenarios_kit import QUEUE_DID, Call, Params, Scenario, random_caller, record, seconds
from cti.ami.sim_clock import Steps
from cti.ami.sim_features import (
    QUEUE_APP_DATA,
    agent_called,
    agent_complete,
    agent_connect,
    music_on_hold,
    queue_caller_abandon,
    queue_caller_join,
    queue_caller_leave,
    queue_member_status,
)
from cti.ami.sim_pbx import AGENT_NAMES, DOWN, RINGING, UP, Channel

QUEUE = "support"


def enter_queue_dialplan(c: Call) -> Channel:
    """The trunk call for DID 700 is answered by the dialplan (not a person) before Queue()."""
    p, pbx = c.p, c.pbx
    trunk = c.dp.inbound(caller=p.caller, caller_name=p.caller_name, did=p.did, uniqueid=c.uniqueid)
    pbx.new_exten(trunk, "Goto", "queue-support,s,1", priority=1)
    pbx.new_exten(
        trunk, "NoOp", f"Queue support: caller {p.caller}", context="queue-support", exten="s"
    )
    pbx.new_exten(trunk, "Answer", "", priority=2)
    pbx.new_state(trunk, UP)
    return trunk


def join_queue(c: Call, trunk: Channel) -> list[Channel]:
    """Queue(support): QueueCallerJoin, then AgentCalled + DialBegin per member; all ring."""
    pbx = c.pbx
    pbx.new_exten(trunk, "Queue", QUEUE_APP_DATA, priority=3)
    for variable in ("ANSWEREDTIME", "DIALEDTIME", "QUEUEWAIT"):
        pbx.var_set(trunk, variable, "")
    pbx.device_state(f"Queue:{QUEUE}", "RINGING")
    queue_caller_join(pbx, trunk, QUEUE, position=1, count=1)
    music_on_hold(pbx, trunk, start=True)
    phones = []
    for ext in c.p.members:
        phone = pbx.new_channel(
            pbx.pjsip_name(ext),
            state=DOWN,
            cid_num=ext,
            cid_name=AGENT_NAMES.get(ext, ext),
            context="from-internal",
            exten="s",
            linkedid=trunk.linkedid,
        )
        pbx.var_set(phone, "DIALEDPEERNUMBER", ext)
        agent_called(pbx, trunk, phone, QUEUE, ext)
        pbx.dial_begin(trunk, phone, f"PJSIP/{ext}")
        phones.append(phone)
    for ext, phone in zip(c.p.members, phones, strict=True):
        pbx.new_state(phone, RINGING)
        pbx.new_exten(phone, "AppQueue", "(Outgoing Line)")
        pbx.new_connected_line(phone, trunk.cid_num, trunk.cid_name)
        queue_member_status(pbx, QUEUE, ext, status=3, in_call=False)
        pbx.dial_state(trunk, phone)
    return phones


def queue_answered(c: Call) -> Steps:
    p, pbx = c.p, c.pbx
    trunk = enter_queue_dialplan(c)
    yield p.queue_delay
    phones = join_queue(c, trunk)
    joined_at = c.now
    yield p.ring
    answerer = phones[p.members.index(p.other)]
    rest = [phone for phone in phones if phone is not answerer]
    pbx.new_state(answerer, UP)
    pbx.dial_end(trunk, answerer, "ANSWER")
    for phone in rest:
        pbx.dial_end(trunk, phone, "CANCEL")
    pbx.new_connected_line(trunk, p.other, AGENT_NAMES.get(p.other, p.other))
    for phone in rest:  # app_queue reports every cancelled member twice (capture 06)
        pbx.dial_end(trunk, phone, "CANCEL")
        pbx.hangup(phone, 26)
    music_on_hold(pbx, trunk, start=False)
    pbx.var_set(trunk, "MEMBERINTERFACE", f"PJSIP/{p.other}")
    pbx.device_state(f"Queue:{QUEUE}", "NOT_INUSE")
    queue_caller_leave(pbx, trunk, QUEUE, position=1, count=0)
    hold_time = round(c.now - joined_at)
    agent_connect(
        pbx, trunk, answerer, QUEUE, p.other, hold_time=hold_time, ring_time=round(p.ring)
    )
    bridge = c.dp.bridge(answerer, trunk)
    answered_at = c.now
    yield p.talk
    pbx.hangup_request(trunk, 16)
    talk_time = round(c.now - answered_at)
    agent_complete(pbx, trunk, answerer, QUEUE, p.other, hold_time=hold_time, talk_time=talk_time)
    pbx.bridge_leave(bridge, trunk)
    pbx.hangup_request(trunk, 16, soft=True)
    pbx.bridge_leave(bridge, answerer)
    pbx.bridge_destroy(bridge)
    pbx.hangup(trunk, 16)
    pbx.hangup(answerer, 16)
    pbx.cdr(trunk, dest=answerer, answered_at=trunk.created_at, disposition="ANSWERED")


def expect_queue_answered(p: Params) -> dict[str, Any]:
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=list(p.members),
        answered_by=[p.other],
        wait=p.queue_delay + p.ring,
        talk=p.talk,
    )


def queue_abandoned(c: Call) -> Steps:
    p, pbx = c.p, c.pbx
    trunk = enter_queue_dialplan(c)
    yield p.queue_delay
    phones = join_queue(c, trunk)
    joined_at = c.now
    yield p.hangup_after - p.queue_delay
    pbx.hangup_request(trunk)
    music_on_hold(pbx, trunk, start=False)
    for _ in range(2):  # twice each, as app_queue does (capture 05)
        for phone in phones:
            pbx.dial_end(trunk, phone, "CANCEL")
    pbx.var_set(trunk, "QUEUEWAIT", str(round(c.now - joined_at)))
    pbx.var_set(trunk, "ABANDONED", "TRUE")
    queue_caller_abandon(pbx, trunk, QUEUE, hold_time=round(c.now - joined_at))
    pbx.device_state(f"Queue:{QUEUE}", "NOT_INUSE")
    queue_caller_leave(pbx, trunk, QUEUE, position=1, count=0)
    pbx.hangup_request(trunk, 16, soft=True)
    for phone in phones:
        pbx.hangup(phone, 0)
    pbx.cdr(trunk, dest=phones[0], answered_at=trunk.created_at, disposition="NO ANSWER")
    pbx.hangup(trunk, 0)


def expect_queue_abandoned(p: Params) -> dict[str, Any]:
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=list(p.members),
        answered_by=[],
        wait=p.hangup_after,
        missed_kind="abandoned",
    )


def _random_answered(rng: random.Random) -> dict[str, Any]:
    extra = {"other": rng.choice(("101", "102", "103")), "ring": seconds(rng, 1, 25)}
    return random_caller(rng) | extra | {"talk": seconds(rng, 5, 180)}


def _random_abandoned(rng: random.Random) -> dict[str, Any]:
    return random_caller(rng) | {"hangup_after": seconds(rng, 1.5, 45)}


SCENARIOS = [
    Scenario(
        "queue_answered",
        queue_answered,
        expect_queue_answered,
        {"did": QUEUE_DID, "caller": "89165550102", "ring": 3.0, "talk": 6.5},
        _random_answered,
    ),
    Scenario(
        "queue_abandoned",
        queue_abandoned,
        expect_queue_abandoned,
        {"did": QUEUE_DID, "caller": "+79165550101", "hangup_after": 10.0},
        _random_abandoned,
    ),
]
