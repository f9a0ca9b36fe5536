"""Call shapes of other people's dialplans, written from Asterisk's documented event shapes (the
recorded ones are in tests/captures): Local channel chains, Originate styles, transfers, pickup,
a resync that lists channels in any order."""

from __future__ import annotations

import itertools

import pytest

from cti.ami import events as ev
from cti.calls.model import Direction, MissedKind, Outcome

from .pbx import Pbx

TRUNK = "PJSIP/trunk"


def inbound(p: Pbx, num: str = "+79161234567", did: str = "74952220101") -> str:
    return p.channel(TRUNK, num=num, exten=did, state="Ring")


def local_pair(p: Pbx, target: str, linkedid: str) -> tuple[str, str]:
    """The two halves of `Local/<target>`: same name, `;1` and `;2`."""
    one = p.channel(f"Local/{target}", linkedid or None)
    name, linkedid = p.chan[one]
    p.n += 1
    two = f"1000.{p.n}"
    p.chan[two] = (name[:-2] + ";2", linkedid)
    p.send(ev.Newchannel(p.t, two, linkedid, name[:-2] + ";2", "Ring", "", "", "ctx", target))
    return one, two


def mobile_via_local(p: Pbx, caller: str, number: str) -> tuple[str, str, str]:
    """caller dials Local/<number>@followme; its ;2 half dials the mobile through the trunk."""
    lid = p.chan[caller][1]
    one, two = local_pair(p, f"{number}@followme", lid)
    p.dial(caller, one, exten=number, dial_string=f"{number}@followme")
    mobile = p.channel(TRUNK, lid)
    p.dial(two, mobile, exten=number, dial_string=f"{number}@trunk")
    return one, two, mobile


# --- 1. an inner leg that answers is not a person talking to the caller -------------------------


def test_mobile_that_answers_and_refuses_at_the_prompt_is_not_an_answer() -> None:
    p = Pbx()
    c = inbound(p)
    one, two, mobile = mobile_via_local(p, c, "79260000001")
    p.at(3)
    p.up(mobile)
    p.dial_end(two, mobile, "ANSWER")  # the mobile picked up: "press 1 to accept"
    p.bridge("inner", mobile, two)
    p.at(8)  # no key: the prompt times out, the mobile is hung up
    p.leave("inner", mobile, two)
    p.hangup(mobile, two)
    p.dial_end(c, one, "NOANSWER")
    p.hangup(one)
    p.up(c)  # voicemail
    p.at(20)
    p.hangup(c)
    r = p.only()
    assert (r.outcome, r.missed_kind, r.answered_by) == (Outcome.MISSED, MissedKind.NO_ANSWER, ())
    assert r.agents_rung == ("79260000001",)


def test_of_several_mobiles_only_the_one_connected_answered() -> None:
    p = Pbx()
    c = inbound(p)
    one_a, two_a, mob_a = mobile_via_local(p, c, "79260000001")
    one_b, two_b, mob_b = mobile_via_local(p, c, "79260000002")
    p.at(3)
    for two, mob, bridge in ((two_a, mob_a, "ia"), (two_b, mob_b, "ib")):
        p.dial_end(two, mob, "ANSWER")  # both pick up (one of them is its voicemail)
        p.bridge(bridge, mob, two)
    p.at(5)  # ...01 presses 1: its Local half answers, the caller is bridged with it
    p.dial_end(c, one_a, "ANSWER")
    p.dial_end(c, one_b, "CANCEL")
    p.bridge("outer", one_a, c)
    p.hangup(one_b, two_b, mob_b)
    p.at(15)
    p.hangup(c, one_a, two_a, mob_a)
    r = p.only()
    assert r.answered_by == ("79260000001",) and r.outcome is Outcome.ANSWERED
    assert r.wait_seconds == pytest.approx(5.0) and r.talk_seconds == pytest.approx(10.0)


def test_deep_local_chain_to_an_agent_phone_answers_when_bridged_end_to_end() -> None:
    """Ring group -> Local/ringgroup -> Local/101@member -> PJSIP/101 (two pairs deep)."""
    p = Pbx()
    c = inbound(p)
    lid = p.chan[c][1]
    g1, g2 = local_pair(p, "600@ringgroups", lid)
    p.dial(c, g1)
    m1, m2 = local_pair(p, "101@member", lid)
    p.dial(g2, m1)
    phone = p.channel("PJSIP/101", lid)
    p.dial(m2, phone)
    p.at(4)
    p.dial_end(m2, phone, "ANSWER")
    p.bridge("b3", phone, m2)
    assert not any(type(e).__name__ == "Answered" for e in p.effects)  # not yet: inner only
    p.dial_end(g2, m1, "ANSWER")
    p.bridge("b2", m1, g2)
    p.dial_end(c, g1, "ANSWER")
    p.bridge("b1", g1, c)
    p.at(10)
    p.hangup(c, g1, g2, m1, m2, phone)
    r = p.only()
    assert r.answered_by == ("101",) and r.agents_rung == ("101",)
    assert r.wait_seconds == pytest.approx(4.0)


def test_no_bridge_events_at_all_falls_back_to_the_callers_own_dialend() -> None:
    """An AMI user whose stream has no Bridge* events: DialEnd ANSWER of the caller's own dial."""
    p = Pbx()
    c = inbound(p)
    a = p.channel("PJSIP/101", p.chan[c][1])
    p.dial(c, a)
    p.at(2)
    p.dial_end(c, a, "ANSWER")
    p.at(7)
    p.hangup(c, a)
    r = p.only()
    assert r.answered_by == ("101",) and r.talk_seconds == pytest.approx(5.0)


# --- 2. Originate through Local channels ---------------------------------------------------------


def _originate_agent_first(p: Pbx, outside: str) -> tuple[str, str, str, str]:
    """Originate Local/102@from-internal, then Exten=89161234567 on the ;1 half."""
    one, two = local_pair(p, "102@from-internal", "")
    lid = p.chan[one][1]
    phone = p.channel("PJSIP/102", lid)
    p.dial(two, phone)
    p.at(2)
    p.dial_end(two, phone, "ANSWER")
    p.bridge("agent", phone, two)
    t = p.channel(TRUNK, lid)
    p.dial(one, t, exten="89161234567", dial_string="89161234567@trunk")
    p.at(5)
    p.dial_end(one, t, outside)
    if outside == "ANSWER":
        p.bridge("outside", t, one)
        p.at(10)
    return one, two, phone, t


@pytest.mark.parametrize(
    ("outside", "outcome", "answered_by"),
    [("ANSWER", Outcome.ANSWERED, ("102",)), ("BUSY", Outcome.UNANSWERED, ())],
)
def test_click_to_call_through_local_agent_first(
    outside: str, outcome: Outcome, answered_by: tuple[str, ...]
) -> None:
    p = Pbx()
    one, two, phone, t = _originate_agent_first(p, outside)
    p.hangup(t, one, two, phone)
    r = p.only()
    assert (r.direction, r.caller, r.did, r.agents_rung) == (
        Direction.OUTBOUND,
        "102",
        "89161234567",
        ("102",),
    )
    assert (r.outcome, r.answered_by) == (outcome, answered_by)
    assert "?" not in r.answered_by and "<unknown>" not in (r.caller, r.caller_name)


@pytest.mark.parametrize("agent_answers", [True, False])
def test_call_me_now_customer_first_then_the_agent(agent_answers: bool) -> None:
    """Originate Local/89161234567@from-internal first; when the customer answers, 102 rings."""
    p = Pbx()
    one, two = local_pair(p, "89161234567@from-internal", "")
    lid = p.chan[one][1]
    t = p.channel(TRUNK, lid)
    p.dial(two, t, exten="89161234567", dial_string="89161234567@trunk")
    p.at(2)
    p.dial_end(two, t, "ANSWER")
    p.bridge("customer", t, two)
    phone = p.channel("PJSIP/102", lid)
    p.dial(one, phone)
    p.at(4)
    if agent_answers:
        p.dial_end(one, phone, "ANSWER")
        p.bridge("agent", phone, one)
        p.at(10)
    else:
        p.dial_end(one, phone, "NOANSWER")
    p.hangup(t, one, two, phone)
    r = p.only()
    assert (r.direction, r.caller, r.did, r.agents_rung) == (
        Direction.OUTBOUND,
        "102",
        "89161234567",
        ("102",),
    )
    assert r.outcome is (Outcome.ANSWERED if agent_answers else Outcome.UNANSWERED)
    if agent_answers:
        assert r.wait_seconds == pytest.approx(4.0) and r.talk_seconds == pytest.approx(6.0)


def test_internal_click_to_call_through_local() -> None:
    p = Pbx()
    one, two = local_pair(p, "101@from-internal", "")
    lid = p.chan[one][1]
    me = p.channel("PJSIP/101", lid)
    p.dial(two, me)
    p.at(2)
    p.dial_end(two, me, "ANSWER")
    p.bridge("a", me, two)
    colleague = p.channel("PJSIP/102", lid)
    p.dial(one, colleague)
    p.at(5)
    p.dial_end(one, colleague, "ANSWER")
    p.bridge("b", colleague, one)
    p.at(9)
    p.hangup(one, two, me, colleague)
    r = p.only()
    assert (r.direction, r.caller, r.agents_rung, r.answered_by) == (
        Direction.INTERNAL,
        "101",
        ("102",),
        ("102",),
    )


# --- 3. transfers --------------------------------------------------------------------------------


def test_attended_transfer_without_transferee_headers_is_a_transfer() -> None:
    """Internal 101 -> 102; 102 consults 103 on a second call and completes: the event names the
    transferers and the target only."""
    p = Pbx()
    a = p.channel("PJSIP/101", num="101", exten="102", state="Ring")
    lid = p.chan[a][1]
    b = p.channel("PJSIP/102", lid)
    p.dial(a, b)
    p.at(2)
    p.dial_end(a, b, "ANSWER")
    p.bridge("b1", a, b)
    p.at(4)
    b2 = p.channel("PJSIP/102", num="102", exten="103", state="Ring")
    lid2 = p.chan[b2][1]
    c = p.channel("PJSIP/103", lid2)
    p.dial(b2, c)
    p.at(6)
    p.dial_end(b2, c, "ANSWER")
    p.bridge("b2", c, b2)
    p.at(8)
    p.send(ev.AttendedTransfer(p.t, b, lid, b2, lid2, "", "", c, lid2, "Success"))
    p.leave("b2", c)
    p.relink(c, lid)
    p.bridge("b1", c)
    p.leave("b1", b)
    p.hangup(b, b2)
    p.at(20)
    p.hangup(a, c)
    first = next(r for r in p.records if r.linkedid == lid)
    assert first.transferred and first.answered_by == ("102", "103")
    assert first.talk_seconds == pytest.approx(18.0)


def test_blonde_transfer_on_a_separate_consultation_call_closes_with_its_channels() -> None:
    """101 (talking to the caller) dials 102 on a second call and transfers while 102 still
    rings; Asterisk links the calls with a Local pair (DestType Link). The consultation call
    ends with its own channels, never by the idle sweep, and is no answered call."""
    p = Pbx()
    c = inbound(p)
    lid = p.chan[c][1]
    a = p.channel("PJSIP/101", lid)
    p.dial(c, a)
    p.at(2)
    p.dial_end(c, a, "ANSWER")
    p.bridge("b1", a, c)
    p.at(5)
    consult = p.channel("PJSIP/101", num="101", exten="102", state="Ring")
    lid2 = p.chan[consult][1]
    b = p.channel("PJSIP/102", lid2)
    p.dial(consult, b)
    p.at(7)  # 101 completes while 102 rings
    one, two = local_pair(p, "link", lid)
    p.send(ev.AttendedTransfer(p.t, a, lid, consult, lid2, c, lid, b, lid2, "Success"))
    p.leave("b1", a)
    p.hangup(a)
    p.bridge("b1", one)
    p.hangup(consult)  # its place in the dial is taken by the Local half
    p.at(10)
    p.dial_end(two, b, "ANSWER")
    p.bridge("b2", b, two)
    p.at(30)
    p.hangup(c, one, two, b)
    assert len(p.records) == 2 and p.tracker.calls == {}
    call = next(r for r in p.records if r.linkedid == lid)
    consult_rec = next(r for r in p.records if r.linkedid == lid2)
    assert call.transferred and call.answered_by == ("101", "102")
    assert consult_rec.outcome is Outcome.UNANSWERED and consult_rec.answered_by == ()


# --- 4. pickup -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pickup_event", [True, False])
@pytest.mark.parametrize("dialbegin_toward_picker", [True, False])
def test_pickup_is_one_record_and_the_picker_was_not_rung(
    pickup_event: bool, dialbegin_toward_picker: bool
) -> None:
    p = Pbx()
    c = inbound(p)
    lid = p.chan[c][1]
    a = p.channel("PJSIP/101", lid)
    p.dial(c, a)
    p.at(3)
    picker = p.channel("PJSIP/102", num="102", exten="*8101", state="Ring")
    if pickup_event:
        pname, plid = p.chan[picker]
        p.send(ev.Pickup(p.t, picker, plid, pname, a, lid, p.chan[a][0]))
    if dialbegin_toward_picker:
        p.dial(c, picker)  # Asterisk 13+: a dial toward the picking phone
    p.dial_end(c, picker, "ANSWER")
    p.hangup(a, cause="26")
    p.bridge("b", picker, c)
    p.relink(picker, lid)
    p.leave("b", picker)
    p.at(9)
    p.hangup(c, picker)
    r = p.only()
    assert (r.agents_rung, r.answered_by, r.outcome) == (("101",), ("102",), Outcome.ANSWERED)


# --- 5. starting while calls are in progress -----------------------------------------------------


def _listing(
    uid: str, lid: str, name: str, state: str, num: str, duration: float, bridge: str = ""
) -> ev.CoreShowChannel:
    return ev.CoreShowChannel(
        1000.0, uid, lid, name, state, num, "", "", "ctx", "s", "Dial", duration, bridge, "r"
    )


def _status(uid: str, lid: str, name: str, start: float, answer: float | None, did: str = ""):
    variables = (
        ("CTI_DID", did),
        ("CDR(start,u)", f"{start:.6f}"),
        ("CDR(answer,u)", f"{answer:.6f}" if answer else ""),
    )
    return ev.ChannelStatus(1000.0, uid, lid, name, "Up", "", "", 0.0, variables, "s")


CUSTOMER = ("9.1", "9.1", "PJSIP/trunk-00000001", "Up", "+79161234567", 7.0, "br")
AGENT = ("9.2", "9.1", "PJSIP/101-00000002", "Up", "101", 5.0, "br")
RINGING = ("9.3", "9.1", "PJSIP/102-00000003", "Ringing", "102", 1.0, "")


@pytest.mark.parametrize("order", list(itertools.permutations([CUSTOMER, AGENT, RINGING])))
def test_started_mid_call_in_any_listing_order(order: tuple) -> None:
    p = Pbx()
    p.at(0)
    p.send(ev.SessionStarted(p.t, "Asterisk Call Manager/11.0.0"))
    for item in order:
        p.send(_listing(*item))
    p.send(ev.CoreShowChannelsComplete(p.t, "r"))
    p.send(_status("9.1", "9.1", "PJSIP/trunk-00000001", 993.0, 994.5, did="74952220101"))
    p.send(_status("9.2", "9.1", "PJSIP/101-00000002", 995.0, 997.0, did="74952220101"))
    p.at(10)
    p.send(ev.Hangup(p.t, "9.3", "9.1", "PJSIP/102-00000003", "26"))
    p.send(ev.Hangup(p.t, "9.1", "9.1", "PJSIP/trunk-00000001", "16"))
    p.send(ev.Hangup(p.t, "9.2", "9.1", "PJSIP/101-00000002", "16"))
    r = p.only()
    assert (r.direction, r.caller, r.did) == (Direction.INBOUND, "+79161234567", "74952220101")
    assert r.agents_rung == ("101", "102") or r.agents_rung == ("102", "101")
    assert r.answered_by == ("101",) and r.resynced
    # Asterisk's own times: the call began at 993, 101 answered at 997 (not when cti looked)
    assert r.wait_seconds == pytest.approx(4.0) and r.talk_seconds == pytest.approx(13.0)


def test_resync_without_status_keeps_the_listing_times() -> None:
    p = Pbx()
    p.at(0)
    p.send(ev.SessionStarted(p.t))
    p.send(_listing(*AGENT))
    p.send(_listing(*CUSTOMER))
    p.send(ev.CoreShowChannelsComplete(p.t, "r"))
    p.at(5)
    p.send(ev.Hangup(p.t, "9.1", "9.1", "PJSIP/trunk-00000001", "16"))
    p.send(ev.Hangup(p.t, "9.2", "9.1", "PJSIP/101-00000002", "16"))
    r = p.only()
    assert r.direction is Direction.INBOUND and r.caller == "+79161234567"
    assert r.answered_by == ("101",) and r.resynced
    assert r.wait_seconds == pytest.approx(7.0)  # from the listing: as answered when we looked
