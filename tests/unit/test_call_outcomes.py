"""SPEC's call outcomes, case by case, through the pure tracker (no AMI text, no mocks)."""

from __future__ import annotations

import pytest

from cti.ami import events as ev
from cti.calls.model import Direction, MissedKind, Outcome

from .pbx import Pbx

TRUNK = "PJSIP/trunk"


def inbound(p: Pbx, num: str = "+79161234567", name: str = "", did: str = "74952220101") -> str:
    return p.channel(TRUNK, num=num, name=name, exten=did, state="Ring")


def test_answered_by_account_manager() -> None:
    p = Pbx()
    c = inbound(p, name="Иван Сергеевич")
    a = p.channel("PJSIP/101", p.chan[c][1])
    p.dial(c, a)
    p.at(2)
    p.up(a)
    p.dial_end(c, a, "ANSWER")
    p.bridge("b1", a, c)
    p.at(5)
    p.hangup(c, a)
    r = p.only()
    assert (r.direction, r.outcome, r.answered_by, r.agents_rung) == (
        Direction.INBOUND,
        Outcome.ANSWERED,
        ("101",),
        ("101",),
    )
    assert r.caller_name == "Иван Сергеевич"
    assert r.caller_e164 == "+79161234567"
    assert r.wait_seconds == pytest.approx(2.0) and r.talk_seconds == pytest.approx(3.0)


def test_no_answer_then_duty_answers() -> None:
    p = Pbx()
    c = inbound(p, num="89161234567")
    a = p.channel("PJSIP/101", p.chan[c][1])
    p.dial(c, a)
    p.at(8)
    p.dial_end(c, a, "NOANSWER")
    p.hangup(a, cause="0")
    d = p.channel("PJSIP/199", p.chan[c][1])
    p.dial(c, d)
    p.at(10)
    p.dial_end(c, d, "ANSWER")
    p.bridge("b", d, c)
    p.at(13)
    p.hangup(d, c)
    r = p.only()
    assert r.agents_rung == ("101", "199") and r.answered_by == ("199",)
    assert r.caller_e164 == "+79161234567" and r.caller == "89161234567"
    assert r.wait_seconds == pytest.approx(10.0)


@pytest.mark.parametrize(("ring", "short"), [(1.5, True), (5.0, True), (5.1, False), (8.0, False)])
def test_caller_hangs_up_while_ringing_is_abandoned(ring: float, short: bool) -> None:
    p = Pbx()
    c = inbound(p)
    a = p.channel("PJSIP/101", p.chan[c][1])
    p.dial(c, a)
    p.at(ring)
    p.dial_end(c, a, "CANCEL")
    p.hangup(c, a, cause="127")
    r = p.only()
    assert (r.outcome, r.missed_kind, r.short_abandon) == (
        Outcome.MISSED,
        MissedKind.ABANDONED,
        short,
    )


def test_caller_hangup_before_dialend_is_abandoned() -> None:
    p = Pbx()
    c = inbound(p)
    a = p.channel("PJSIP/101", p.chan[c][1])
    p.dial(c, a)
    p.at(9)
    p.hangup(c)
    p.hangup(a)
    assert p.only().missed_kind is MissedKind.ABANDONED


def _busy_everywhere(p: Pbx, statuses: list[str]) -> str:
    c = inbound(p)
    for i, status in enumerate(statuses):
        a = p.channel(f"PJSIP/10{i + 1}", p.chan[c][1])
        p.dial(c, a)
        p.at(i * 10 + (0.1 if status == "BUSY" else 8))
        p.dial_end(c, a, status)
        p.hangup(a, cause="17" if status == "BUSY" else "0")
    p.up(c)  # voicemail answers: not a person
    p.at(60)
    p.hangup(c)
    return c


def test_every_offer_busy_is_busy() -> None:
    p = Pbx()
    _busy_everywhere(p, ["BUSY", "CONGESTION", "CHANUNAVAIL"])
    r = p.only()
    assert (r.outcome, r.missed_kind, r.answered_by) == (Outcome.MISSED, MissedKind.BUSY, ())


def test_busy_then_ring_out_is_no_answer() -> None:
    p = Pbx()
    _busy_everywhere(p, ["BUSY", "NOANSWER"])
    assert p.only().missed_kind is MissedKind.NO_ANSWER


def test_dialplan_answering_is_not_a_person_no_agent() -> None:
    """Voicemail straight away while the line is open: nobody was offered the call (no_agent)."""
    p = Pbx()
    c = inbound(p)
    p.up(c)
    p.at(12)
    p.hangup(c)
    r = p.only()
    assert (r.outcome, r.missed_kind, r.agents_rung) == (
        Outcome.MISSED,
        MissedKind.NO_AGENT,
        (),
    )
    assert r.wait_seconds == pytest.approx(12.0) and r.talk_seconds == 0.0


@pytest.mark.parametrize(("value", "kind"), [("1", "out_of_hours"), ("0", "no_agent")])
def test_dialplan_marks_the_line_closed(value: str, kind: str) -> None:
    p = Pbx()
    c = inbound(p)
    p.send(ev.VarSet(p.t, *p._c(c), "CTI_OUT_OF_HOURS", value))
    p.up(c)
    p.at(8)
    p.hangup(c)
    assert p.only().missed_kind == kind


def test_out_of_hours_ranks_before_busy_and_after_abandoned() -> None:
    p = Pbx()
    c = inbound(p)
    p.send(ev.VarSet(p.t, *p._c(c), "CTI_OUT_OF_HOURS", "yes"))
    d = p.channel("PJSIP/199", p.chan[c][1])
    p.dial(c, d)
    p.at(1)
    p.dial_end(c, d, "BUSY")
    p.hangup(d, cause="17")
    p.at(5)
    p.hangup(c)
    assert p.only().missed_kind is MissedKind.OUT_OF_HOURS


def test_queue_abandon_and_waiting_with_nobody_logged_in() -> None:
    p = Pbx()
    c = inbound(p, did="700")
    p.up(c)
    p.queue_join(c)
    p.at(30)
    p.hangup(c)  # no member was ever rung, the caller gave up waiting
    r = p.only()
    assert r.missed_kind is MissedKind.ABANDONED and r.queue == "support"


def test_queue_times_out_to_voicemail_is_no_answer() -> None:
    p = Pbx()
    c = inbound(p, did="700")
    p.up(c)
    p.queue_join(c)
    m = p.channel("PJSIP/101", p.chan[c][1])
    p.agent(ev.AgentCalled, c, m, "PJSIP/101")
    p.dial(c, m)
    p.at(15)
    p.agent(ev.AgentRingNoAnswer, c, m, "PJSIP/101")
    p.dial_end(c, m, "NOANSWER")
    p.hangup(m)
    p.queue_leave(c)
    p.at(40)
    p.hangup(c)
    r = p.only()
    assert (r.missed_kind, r.agents_rung) == (MissedKind.NO_ANSWER, ("101",))


def test_queue_with_local_channel_members_credits_the_agent() -> None:
    p = Pbx()
    c = inbound(p, did="700")
    lid = p.chan[c][1]
    p.queue_join(c)
    loc = p.channel("Local/102@from-queue", lid)
    p.agent(ev.AgentCalled, c, loc, "Local/102@from-queue/n")
    p.dial(c, loc)
    phone = p.channel("PJSIP/102", lid)
    p.dial(loc, phone)
    p.at(3)
    p.dial_end(loc, phone, "ANSWER")
    p.dial_end(c, loc, "ANSWER")
    p.queue_leave(c)
    p.agent(ev.AgentConnect, c, loc, "Local/102@from-queue/n")
    p.at(9)
    p.hangup(c, loc, phone)
    r = p.only()
    assert r.agents_rung == ("102",) and r.answered_by == ("102",) and r.outcome is Outcome.ANSWERED


def test_ring_all_answer_wins_over_cancels_in_any_order() -> None:
    p = Pbx()
    c = inbound(p)
    lid = p.chan[c][1]
    a, b = p.channel("PJSIP/101", lid), p.channel("PJSIP/102", lid)
    p.dial(c, a)
    p.dial(c, b)
    p.at(3)
    p.dial_end(c, a, "CANCEL")
    p.dial_end(c, b, "ANSWER")
    p.hangup(a, cause="26")
    p.bridge("x", b, c)
    p.at(6)
    p.hangup(c, b)
    r = p.only()
    assert (
        r.outcome is Outcome.ANSWERED
        and r.answered_by == ("102",)
        and r.agents_rung == ("101", "102")
    )


def test_internal_call_is_never_missed() -> None:
    p = Pbx()
    a = p.channel("PJSIP/101", num="101", exten="102", state="Ring")
    b = p.channel("PJSIP/102", p.chan[a][1])
    p.dial(a, b)
    p.at(20)
    p.dial_end(a, b, "NOANSWER")
    p.hangup(b, a)
    r = p.only()
    assert (r.direction, r.outcome, r.missed_kind, r.agents_rung) == (
        Direction.INTERNAL,
        Outcome.UNANSWERED,
        None,
        ("102",),
    )


def test_outbound_answered_and_unanswered() -> None:
    for status, outcome in (("ANSWER", Outcome.ANSWERED), ("NOANSWER", Outcome.UNANSWERED)):
        p = Pbx()
        a = p.channel("PJSIP/103", num="103", exten="89031112233", state="Ring")
        t = p.channel(TRUNK, p.chan[a][1])
        p.dial(a, t, exten="89031112233")
        p.at(4)
        p.dial_end(a, t, status)
        if status == "ANSWER":
            p.bridge("o", t, a)
            p.at(10)
        p.hangup(t, a)
        r = p.only()
        assert (r.direction, r.outcome, r.caller, r.did, r.agents_rung) == (
            Direction.OUTBOUND,
            outcome,
            "103",
            "89031112233",
            ("103",),
        )
        assert r.answered_by == (("103",) if outcome is Outcome.ANSWERED else ())


def test_click_to_call_agent_never_picks_up_is_outbound_unanswered() -> None:
    p = Pbx()
    a = p.channel("PJSIP/102")
    p.dial(None, a)
    p.at(30)
    p.dial_end(None, a, "NOANSWER")
    p.send(
        ev.OriginateResponse(
            p.t, a, p.chan[a][0], "89161234567", "from-internal", "Failure", "3", "x"
        )
    )
    p.hangup(a)
    r = p.only()
    assert (r.direction, r.outcome, r.did, r.agents_rung) == (
        Direction.OUTBOUND,
        Outcome.UNANSWERED,
        "89161234567",
        ("102",),
    )


def test_follow_me_to_mobile_answered_is_answered() -> None:
    p = Pbx()
    c = inbound(p)
    m = p.channel(TRUNK, p.chan[c][1])
    p.dial(c, m, exten="+79260000001")
    p.at(6)
    p.dial_end(c, m, "ANSWER")
    p.at(9)
    p.hangup(m, c)
    r = p.only()
    assert r.outcome is Outcome.ANSWERED and r.answered_by == ("+79260000001",)


def test_blind_transfer_through_local_channel() -> None:
    p = Pbx()
    c = inbound(p)
    lid = p.chan[c][1]
    a = p.channel("PJSIP/101", lid)
    p.dial(c, a)
    p.at(2)
    p.dial_end(c, a, "ANSWER")
    p.bridge("b1", a, c)
    p.at(10)
    p.send(ev.BlindTransfer(p.t, a, lid, c, lid, "102", "Success"))
    loc1 = p.channel("Local/102@from-internal", lid)
    loc2 = p.channel("Local/102@from-internal", lid)
    p.leave("b1", a)
    p.hangup(a)
    p.bridge("b1", loc1)
    b = p.channel("PJSIP/102", lid)
    p.dial(loc2, b)
    p.at(14)
    p.dial_end(loc2, b, "ANSWER")
    p.bridge("b2", loc2, b)
    p.leave("b1", loc1)
    p.leave("b2", b)
    p.bridge("b1", b)  # local channel optimized away
    p.hangup(loc1, loc2)
    p.at(20)
    p.hangup(c, b)
    r = p.only()
    assert r.answered_by == ("101", "102") and r.transferred and r.agents_rung == ("101", "102")
    assert r.wait_seconds == pytest.approx(2.0) and r.talk_seconds == pytest.approx(18.0)


@pytest.mark.parametrize("linkedid_moves", [True, False])
def test_attended_transfer(linkedid_moves: bool) -> None:
    p = Pbx()
    c = inbound(p)
    lid = p.chan[c][1]
    a = p.channel("PJSIP/101", lid)
    p.dial(c, a)
    p.at(2)
    p.dial_end(c, a, "ANSWER")
    p.bridge("b1", a, c)
    p.at(5)
    p.send(ev.Hold(p.t, *p._c(c)))
    consult = p.channel("PJSIP/101", num="101", exten="102", state="Ring")
    lid2 = p.chan[consult][1]
    b = p.channel("PJSIP/102", lid2)
    p.dial(consult, b)
    p.at(7)
    p.dial_end(consult, b, "ANSWER")
    p.bridge("b2", b, consult)
    p.at(12)
    p.send(ev.AttendedTransfer(p.t, a, lid, consult, lid2, c, lid, b, lid2, "Success"))
    p.send(ev.Unhold(p.t, *p._c(c)))
    p.leave("b2", b)
    if linkedid_moves:
        p.relink(b, lid)
    p.bridge("b1", b)
    p.leave("b1", a)
    p.hangup(a, consult)
    p.at(30)
    p.hangup(c, b)
    assert len(p.records) == 2
    consult_rec = next(r for r in p.records if r.linkedid == lid2)
    call = next(r for r in p.records if r.linkedid == lid)
    assert (
        call.answered_by == ("101", "102") and call.transferred and call.outcome is Outcome.ANSWERED
    )
    assert call.hold_seconds == pytest.approx(7.0)
    assert consult_rec.direction is Direction.INTERNAL and consult_rec.answered_by == ("102",)


def test_pickup_credits_the_colleague_and_absorbs_the_star8_leg() -> None:
    p = Pbx()
    c = inbound(p)
    lid = p.chan[c][1]
    a = p.channel("PJSIP/101", lid)
    p.dial(c, a)
    p.at(3)
    picker = p.channel("PJSIP/102", num="102", exten="*8", state="Ring")
    pname, plid = p.chan[picker]
    aname = p.chan[a][0]
    p.send(ev.Pickup(p.t, picker, plid, pname, a, lid, aname))
    p.dial_end(c, a, "ANSWER")  # the ringing leg, now carrying 102's phone
    p.bridge("b", a, c)
    p.hangup(picker)
    p.at(9)
    p.hangup(c, a)
    r = p.only()
    assert r.agents_rung == ("101",) and r.answered_by == ("102",) and r.outcome is Outcome.ANSWERED
    assert p.tracker.stats.absorbed == 1


def test_withheld_number_and_odd_names() -> None:
    p = Pbx()
    c = inbound(p, num="anonymous", name='<script>"Ёлка"\u202e')
    p.up(c)
    p.hangup(c)
    r = p.only()
    assert (
        r.caller == "anonymous"
        and r.caller_e164 is None
        and r.caller_name == '<script>"Ёлка"\u202e'
    )
