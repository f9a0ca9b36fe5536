"""Simulator scenarios agents drive: blind/attended transfer, click-to-call, internal call, pickup."""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

from cti.ami.scenarios_inbound import ring_first
from cti.ami.scenarios_kit import (
    AGENTS,
    Call,
    Params,
    Scenario,
    random_caller,
    record,
    seconds,
    two_agents,
)
from cti.ami.sim_clock import Steps
from cti.ami.sim_features import (
    attended_transfer_fields,
    blind_transfer,
    hold,
    local_bridge,
    local_optimization,
    music_on_hold,
    originate_response,
    pickup,
)
from cti.ami.sim_pbx import AGENT_NAMES, DOWN, RING, RINGING, TRUNK, UNKNOWN, UP, Bridge, Channel

OUTBOUND_CALLER_ID = "74952220000"  #: the company number outbound calls present


def internal_call(c: Call, uniqueid: str | None) -> tuple[Channel, Channel]:
    """`agent`'s phone dials `other` (capture 18): a call with its own Linkedid."""
    p, dp = c.p, c.dp
    caller = dp.phone_call(p.agent, p.other, uniqueid=uniqueid)
    c.pbx.new_exten(caller, "NoOp", f"Internal call {p.agent} -> {p.other}", priority=1)
    dp.dial_app(caller, f"PJSIP/{p.other},20", priority=2)
    callee = dp.dial(caller, p.other)
    dp.ring(caller, callee)
    return caller, callee


def answered_inbound(c: Call) -> Generator[float, None, tuple[Channel, Channel, float, Bridge]]:
    """An inbound call rings `agent`, who answers: (caller, agent's channel, answer time, bridge)."""
    trunk, phone = ring_first(c)
    yield c.p.ring
    answered_at = c.now
    return trunk, phone, answered_at, c.dp.answer(trunk, phone)


# ----- blind transfer ------------------------------------------------------------------------


def blind_transfer_call(c: Call) -> Steps:
    p, dp, pbx = c.p, c.dp, c.pbx
    trunk, phone, answered_at, bridge = yield from answered_inbound(c)
    yield p.talk
    one, two = _local_pair(c, trunk)
    pbx.bridge_enter(bridge, one, swap=phone)
    pbx.bridge_leave(bridge, phone)
    blind_transfer(pbx, phone, trunk, bridge, context="from-internal", exten=p.other)
    pbx.hangup(phone, 16)
    pbx.new_exten(two, "NoOp", f"Internal call {trunk.cid_num} -> {p.other}", priority=1)
    dp.dial_app(two, f"PJSIP/{p.other},20", priority=2)
    target = dp.dial(two, p.other)
    dp.ring(two, target)
    pbx.new_state(one, RINGING)
    yield p.second_ring
    _optimize_away(c, one, two, target, bridge, dp.answer(two, target))
    pbx.new_connected_line(trunk, p.other, AGENT_NAMES.get(p.other, p.other))
    yield p.talk_after
    dp.hang_up_bridged(trunk, target, bridge, first=trunk, answered_at=answered_at)


def _local_pair(c: Call, trunk: Channel) -> tuple[Channel, Channel]:
    """Asterisk 12+ blind transfer: a Local channel pair toward `other`, with the call's Linkedid."""
    pbx, other = c.pbx, c.p.other
    names = pbx.local_names(other, "from-internal")
    one, two = (
        pbx.new_channel(
            name,
            state=state,
            cid_num=trunk.cid_num,
            cid_name=trunk.cid_name,
            context="from-internal",
            exten=other,
            linkedid=trunk.linkedid,
        )
        for name, state in zip(names, (DOWN, RING), strict=True)
    )
    local_bridge(pbx, one, two)
    return one, two


def _optimize_away(
    c: Call, one: Channel, two: Channel, target: Channel, bridge: Bridge, local: Bridge
) -> None:
    """The Local pair leaves the media path: the target's phone is swapped into the caller's bridge."""
    pbx = c.pbx
    pbx.new_state(one, UP)
    op_id = pbx.next_optimization_id()
    local_optimization(pbx, one, two, source=target, dest_uniqueid=one.uniqueid, op_id=op_id)
    pbx.bridge_leave(local, target)
    pbx.bridge_enter(bridge, target, swap=one)
    pbx.bridge_leave(bridge, one)
    local_optimization(pbx, one, two, source=None, dest_uniqueid="", op_id=op_id)
    pbx.hangup(one, 16)
    pbx.bridge_leave(local, two)
    pbx.bridge_destroy(local)
    pbx.hangup(two, 16)


def expect_blind(p: Params) -> dict[str, Any]:
    """The target's phone was dialled within the call (through the Local channel): rung too."""
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=[p.agent, p.other],
        answered_by=[p.agent, p.other],
        wait=p.ring,
        talk=p.talk + p.second_ring + p.talk_after,
    )


# ----- attended transfer -----------------------------------------------------------------------


def attended_transfer_call(c: Call) -> Steps:
    p, dp, pbx = c.p, c.dp, c.pbx
    trunk, phone, answered_at, bridge = yield from answered_inbound(c)
    yield p.talk
    hold(pbx, phone)
    music_on_hold(pbx, trunk, start=True)
    consult_id = pbx.next_uniqueid()
    c.expected["related_calls"][0]["linkedid"] = consult_id
    consult, target = internal_call(c, consult_id)
    yield p.second_ring
    consult_answered = c.now
    consult_bridge = dp.answer(consult, target)
    yield p.consult
    body = attended_transfer_fields(
        orig=phone,
        orig_bridge=bridge,
        second=consult,
        second_bridge=consult_bridge,
        transferee=trunk,
        target=target,
        dest_bridge=bridge,
    )
    music_on_hold(pbx, trunk, start=False)
    pbx.bridge_leave(consult_bridge, target)
    pbx.bridge_enter(bridge, target, swap=phone)
    pbx.bridge_leave(bridge, phone)
    pbx.event("AttendedTransfer", "call,all", body)
    pbx.new_connected_line(trunk, p.other, AGENT_NAMES.get(p.other, p.other))
    pbx.new_connected_line(target, trunk.cid_num, trunk.cid_name)
    pbx.hangup(phone, 16)
    pbx.bridge_leave(consult_bridge, consult)
    pbx.bridge_destroy(consult_bridge)
    pbx.cdr(consult, dest=target, answered_at=consult_answered, disposition="ANSWERED")
    pbx.hangup(consult, 16)
    yield p.talk_after
    dp.hang_up_bridged(trunk, target, bridge, first=trunk, answered_at=answered_at)


def expect_attended(p: Params) -> dict[str, Any]:
    """The target's phone was dialled by the consultation call, a call of its own: only the
    transferer was rung for the customer's call, but both answered it."""
    main = record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=[p.agent],
        answered_by=[p.agent, p.other],
        wait=p.ring,
        talk=p.talk + p.second_ring + p.consult + p.talk_after,
    )
    consult = expect_internal(p, wait=p.second_ring, talk=p.consult)
    main["related_calls"] = [{"linkedid": None} | consult]
    return main


# ----- click-to-call, internal, pickup -------------------------------------------------------


def click_to_call(c: Call) -> Steps:
    """AMI Originate rings the agent's phone first (DialBegin without Channel), then the number."""
    p, dp, pbx = c.p, c.dp, c.pbx
    cid_name = f"Click2Call {p.number}"
    phone = pbx.new_channel(
        pbx.pjsip_name(p.agent),
        state=DOWN,
        cid_num=p.agent,
        cid_name=AGENT_NAMES.get(p.agent, p.agent),
        context="from-internal",
        exten="s",
        uniqueid=c.uniqueid,
    )
    pbx.new_exten(phone, "AppDial2", "(Outgoing Line)")
    pbx.var_set(phone, "CTI_CLICK2CALL", "1")
    pbx.new_callerid(phone, p.number, cid_name)
    pbx.new_connected_line(phone, p.number, cid_name)
    pbx.dial_begin(None, phone, p.agent)
    pbx.dial_state(None, phone)
    pbx.new_state(phone, RINGING)
    yield p.ring
    pbx.new_state(phone, UP)
    pbx.dial_end(None, phone, "ANSWER")
    pbx.new_exten(phone, "Goto", f"outbound,{p.number},1", exten=p.number, priority=1)
    pbx.new_exten(phone, "NoOp", f"Outbound call from {p.number} to {p.number}", context="outbound")
    originate_response(
        pbx,
        phone,
        action_id=p.action_id,
        context="from-internal",
        exten=p.number,
        cid_num=p.number,
        cid_name=cid_name,
    )
    pbx.new_exten(phone, "Set", f"CALLERID(num)={OUTBOUND_CALLER_ID}", priority=2)
    pbx.new_callerid(phone, OUTBOUND_CALLER_ID, cid_name)
    dp.dial_app(phone, f"PJSIP/{p.number}@trunk,60", priority=3)
    far = _dial_out(c, phone, cid_name)
    yield p.second_ring
    answered_at = c.now
    bridge = dp.answer(phone, far)
    yield p.talk
    dp.hang_up_bridged(far, phone, bridge, first=phone, answered_at=answered_at)


def _dial_out(c: Call, phone: Channel, cid_name: str) -> Channel:
    p, pbx = c.p, c.pbx
    far = pbx.new_channel(
        pbx.pjsip_name(TRUNK),
        state=DOWN,
        cid_num=UNKNOWN,
        cid_name=UNKNOWN,
        context="from-trunk",
        exten="s",
        linkedid=phone.linkedid,
    )
    pbx.var_set(far, "DIALEDPEERNUMBER", f"{p.number}@trunk")
    pbx.new_exten(far, "AppDial", "(Outgoing Line)", exten=p.number)
    pbx.new_callerid(far, p.number, cid_name)
    pbx.new_connected_line(far, OUTBOUND_CALLER_ID, cid_name)
    pbx.dial_begin(phone, far, f"{p.number}@trunk")
    pbx.new_state(far, RINGING)
    pbx.dial_state(phone, far)
    return far


def expect_click_to_call(p: Params) -> dict[str, Any]:
    return record(
        direction="outbound",
        caller=p.agent,
        did=p.number,
        rung=[p.agent],
        answered_by=[p.agent],
        wait=p.ring + p.second_ring,
        talk=p.talk,
    )


def internal(c: Call) -> Steps:
    caller, callee = internal_call(c, c.uniqueid)
    yield c.p.ring
    answered_at = c.now
    bridge = c.dp.answer(caller, callee)
    yield c.p.talk
    c.dp.hang_up_bridged(caller, callee, bridge, first=caller, answered_at=answered_at)


def expect_internal(
    p: Params, *, wait: float | None = None, talk: float | None = None
) -> dict[str, Any]:
    return record(
        direction="internal",
        caller=p.agent,
        did=p.other,
        rung=[p.other],
        answered_by=[p.other],
        wait=p.ring if wait is None else wait,
        talk=p.talk if talk is None else talk,
    )


def pickup_call(c: Call) -> Steps:
    """`other` dials *8 and takes over the call ringing on `agent`'s phone (Asterisk 12+ masquerade)."""
    p, dp, pbx = c.p, c.dp, c.pbx
    trunk, ringing = ring_first(c)
    yield p.ring
    picker = dp.phone_call(p.other, "*8")
    pbx.new_exten(picker, "Pickup", "", priority=1)
    pbx.new_connected_line(picker, trunk.cid_num, trunk.cid_name)
    pbx.new_state(picker, UP)
    snapshots = picker.snapshot(), ringing.snapshot("Target")
    # The masquerade swaps names, uniqueids and linkedids: the Dial's outgoing channel is now
    # "PJSIP/<other>-..." (the picker's identity) and the ringing phone's identity hangs up.
    picker.application, picker.app_data = "AppDial", "(Outgoing Line)"
    pickup(pbx, *snapshots)
    pbx.var_set(trunk, "DIALSTATUS", "ANSWER")
    pbx.dial_end(trunk, picker, "ANSWER")
    pbx.new_connected_line(trunk, p.other, AGENT_NAMES.get(p.other, p.other))
    pbx.new_state(trunk, UP)
    pbx.hangup(ringing, 26)
    answered_at = c.now
    bridge = dp.bridge(picker, trunk)
    yield p.talk
    dp.hang_up_bridged(trunk, picker, bridge, first=trunk, answered_at=answered_at)


def expect_pickup(p: Params) -> dict[str, Any]:
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=[p.agent],
        answered_by=[p.other],
        wait=p.ring,
        talk=p.talk,
    )


# ----- randomization -------------------------------------------------------------------------


def _random_transfer(rng: random.Random) -> dict[str, Any]:
    times = {k: seconds(rng, 2, 40) for k in ("talk", "consult", "talk_after")}
    return random_caller(rng) | two_agents(rng) | times | {"ring": seconds(rng, 0.5, 6)}


def _random_click(rng: random.Random) -> dict[str, Any]:
    number = f"8{rng.choice(('916', '903', '495'))}{rng.randrange(10**7):07d}"
    times = {
        "ring": seconds(rng, 1, 5),
        "second_ring": seconds(rng, 2, 15),
        "talk": seconds(rng, 5, 120),
    }
    return {"agent": rng.choice(AGENTS), "number": number} | times


def _random_internal(rng: random.Random) -> dict[str, Any]:
    return two_agents(rng) | {"ring": seconds(rng, 1, 10), "talk": seconds(rng, 5, 120)}


def _random_pickup(rng: random.Random) -> dict[str, Any]:
    return (
        random_caller(rng)
        | two_agents(rng)
        | {"ring": seconds(rng, 2, 15), "talk": seconds(rng, 5, 90)}
    )


SCENARIOS = [
    Scenario(
        "blind_transfer",
        blind_transfer_call,
        expect_blind,
        {},
        _random_transfer,
    ),
    Scenario("attended_transfer", attended_transfer_call, expect_attended, {}, _random_transfer),
    Scenario(
        "click_to_call",
        click_to_call,
        expect_click_to_call,
        {"agent": "102", "second_ring": 3.0, "talk": 5.0},
        _random_click,
    ),
    Scenario("internal", internal, expect_internal, {"talk": 4.0}, _random_internal),
    Scenario(
        "pickup",
        pickup_call,
        expect_pickup,
        {"caller": "+79857776655", "ring": 4.0, "ring_timeout": 20},
        _random_pickup,
    ),
]
