"""Simulator scenarios of inbound calls to the main DID: answered, duty fallback, abandoned, busy, voicemail."""

from __future__ import annotations

import random
from typing import Any

from cti.ami.scenarios_kit import (
    AGENTS,
    BUSY_REPLY_SECONDS,
    Call,
    Params,
    Scenario,
    random_caller,
    record,
    seconds,
)
from cti.ami.sim_clock import Steps
from cti.ami.sim_pbx import Channel


def dial_first(c: Call) -> tuple[Channel, Channel]:
    """The trunk call arrives, FastAGI routes it to `agent`, and Dial() creates the phone's channel."""
    p, dp = c.p, c.dp
    trunk = dp.inbound(caller=p.caller, caller_name=p.caller_name, did=p.did, uniqueid=c.uniqueid)
    dp.route(trunk, p.agent)
    dp.dial_app(trunk, f"PJSIP/{p.agent},{p.ring_timeout}", priority=2)
    return trunk, dp.dial(trunk, p.agent)


def ring_first(c: Call) -> tuple[Channel, Channel]:
    trunk, phone = dial_first(c)
    c.dp.ring(trunk, phone)
    return trunk, phone


def fall_back(c: Call, trunk: Channel, failed: Channel, status: str, cause: int) -> Channel:
    """The first Dial failed: the dialplan dials the duty operator (capture 02)."""
    p, dp = c.p, c.dp
    dp.dial_failed(trunk, failed, status)
    dp.next_attempt(trunk, "First attempt", status)
    dp.dial_app(trunk, f"PJSIP/{p.duty},{p.duty_timeout}")
    c.pbx.hangup(failed, cause)
    return dp.dial(trunk, p.duty)


def talk_then_caller_hangs_up(c: Call, trunk: Channel, phone: Channel) -> Steps:
    answered_at = c.now
    bridge = c.dp.answer(trunk, phone)
    yield c.p.talk
    c.dp.hang_up_bridged(trunk, phone, bridge, first=trunk, answered_at=answered_at)


def voicemail_then_caller_hangs_up(c: Call, trunk: Channel, status: str, option: str) -> Steps:
    c.dp.next_attempt(trunk, "Second attempt", status)
    c.dp.play_prompt(trunk, "VoiceMail", f"{c.p.agent}@default,{option}")
    answered_at = c.now
    yield c.p.prompt
    c.dp.caller_hangs_up_alone(trunk, answered_at=answered_at)


# ----- scenarios -------------------------------------------------------------------------------


def answered(c: Call) -> Steps:
    trunk, phone = ring_first(c)
    yield c.p.ring
    yield from talk_then_caller_hangs_up(c, trunk, phone)


def expect_answered(p: Params) -> dict[str, Any]:
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=[p.agent],
        answered_by=[p.agent],
        wait=p.ring,
        talk=p.talk,
    )


def no_answer_then_duty(c: Call) -> Steps:
    trunk, phone = ring_first(c)
    yield c.p.ring_timeout
    duty = fall_back(c, trunk, phone, "NOANSWER", 0)
    c.dp.ring(trunk, duty)
    yield c.p.second_ring
    yield from talk_then_caller_hangs_up(c, trunk, duty)


def expect_no_answer_then_duty(p: Params) -> dict[str, Any]:
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=[p.agent, p.duty],
        answered_by=[p.duty],
        wait=p.ring_timeout + p.second_ring,
        talk=p.talk,
    )


def abandoned(c: Call) -> Steps:
    trunk, phone = ring_first(c)
    yield c.p.hangup_after
    c.dp.caller_cancels(trunk, [phone])


def expect_abandoned(p: Params) -> dict[str, Any]:
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=[p.agent],
        answered_by=[],
        wait=p.hangup_after,
        missed_kind="abandoned",
    )


def busy(c: Call) -> Steps:
    trunk, phone = dial_first(c)
    yield BUSY_REPLY_SECONDS
    duty = fall_back(c, trunk, phone, "BUSY", 17)
    yield BUSY_REPLY_SECONDS
    c.dp.dial_failed(trunk, duty, "BUSY")
    c.pbx.hangup(duty, 17)
    yield from voicemail_then_caller_hangs_up(c, trunk, "BUSY", "b")


def expect_busy(p: Params) -> dict[str, Any]:
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=[p.agent, p.duty],
        answered_by=[],
        wait=2 * BUSY_REPLY_SECONDS + p.prompt,
        missed_kind="busy",
    )


def no_answer_voicemail(c: Call) -> Steps:
    trunk, phone = ring_first(c)
    yield c.p.ring_timeout
    duty = fall_back(c, trunk, phone, "NOANSWER", 0)
    c.dp.ring(trunk, duty)
    yield c.p.duty_timeout
    c.dp.dial_failed(trunk, duty, "NOANSWER")
    c.pbx.hangup(duty, 0)
    yield from voicemail_then_caller_hangs_up(c, trunk, "NOANSWER", "u")


def expect_no_answer_voicemail(p: Params) -> dict[str, Any]:
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=[p.agent, p.duty],
        answered_by=[],
        wait=p.ring_timeout + p.duty_timeout + p.prompt,
        missed_kind="no_answer",
    )


def out_of_hours(c: Call) -> Steps:
    p, dp, pbx = c.p, c.dp, c.pbx
    trunk = dp.inbound(caller=p.caller, caller_name=p.caller_name, did=p.did, uniqueid=c.uniqueid)
    pbx.new_exten(trunk, "NoOp", f"Inbound call from {p.caller} to DID {p.did}", priority=1)
    pbx.new_exten(trunk, "GotoIfTime", "09:00-18:00,mon-fri,*,*?open,s,1", priority=2)
    pbx.new_exten(trunk, "Goto", "closed,s,1", priority=3)
    pbx.new_exten(trunk, "NoOp", "Closed hours", context="closed", exten="s", priority=1)
    pbx.var_set(trunk, "CTI_OUT_OF_HOURS", "1")  # the documented mark of a closed line
    dp.play_prompt(trunk, "Playback", "custom/closed-hours")
    answered_at = c.now
    yield p.prompt
    dp.dialplan_hangs_up(trunk, answered_at=answered_at)


def expect_out_of_hours(p: Params) -> dict[str, Any]:
    return record(
        direction="inbound",
        caller=p.caller,
        did=p.did,
        rung=[],
        answered_by=[],
        wait=p.prompt,
        missed_kind="out_of_hours",
    )


# ----- randomization ---------------------------------------------------------------------------


def _random_answered(rng: random.Random) -> dict[str, Any]:
    return random_caller(rng) | {
        "agent": rng.choice(AGENTS),
        "ring": seconds(rng, 0.5, 7.0),
        "talk": seconds(rng, 5, 120),
    }


def _random_duty(rng: random.Random) -> dict[str, Any]:
    return random_caller(rng) | {
        "agent": rng.choice(AGENTS),
        "second_ring": seconds(rng, 0.5, 10),
        "talk": seconds(rng, 5, 90),
    }


def _random_abandon(low: float, high: float) -> Any:
    def randomize(rng: random.Random) -> dict[str, Any]:
        return random_caller(rng) | {
            "agent": rng.choice(AGENTS),
            "hangup_after": seconds(rng, low, high),
        }

    return randomize


def _random_voicemail(rng: random.Random) -> dict[str, Any]:
    return random_caller(rng) | {"agent": rng.choice(AGENTS), "prompt": seconds(rng, 2, 30)}


SCENARIOS = [
    Scenario(
        "answered",
        answered,
        expect_answered,
        {"caller_name": "Иван Сергеевич"},
        _random_answered,
    ),
    Scenario(
        "no_answer_then_duty",
        no_answer_then_duty,
        expect_no_answer_then_duty,
        {"caller": "89161234567"},
        _random_duty,
    ),
    Scenario(
        "abandoned",
        abandoned,
        expect_abandoned,
        {"caller": "+79031112233", "ring_timeout": 20, "hangup_after": 8.0},
        _random_abandon(5.5, 19.0),
    ),
    Scenario(
        "short_abandon",
        abandoned,
        expect_abandoned,
        {"caller": "+79261112233", "ring_timeout": 20, "hangup_after": 1.5},
        _random_abandon(0.5, 4.5),
    ),
    Scenario("busy", busy, expect_busy, {"caller": "+79037778899"}, _random_voicemail),
    Scenario(
        "no_answer_voicemail",
        no_answer_voicemail,
        expect_no_answer_voicemail,
        {"caller": "+74951234567"},
        _random_voicemail,
    ),
    Scenario(
        "out_of_hours",
        out_of_hours,
        expect_out_of_hours,
        {"caller": "+79169990011"},
        _random_voicemail,
    ),
]
