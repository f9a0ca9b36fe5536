"""Reconnects: resynchronization from CoreShowChannels, duplicates and orphans never double a call."""

from __future__ import annotations

from cti.ami import events as ev
from cti.calls.model import Outcome

from .pbx import Pbx

TRUNK = "PJSIP/trunk"


def _answered_call(p: Pbx) -> tuple[str, str, str]:
    c = p.channel(TRUNK, num="+79161234567", exten="74952220101", state="Ring")
    lid = p.chan[c][1]
    a = p.channel("PJSIP/101", lid)
    p.dial(c, a)
    p.at(2)
    p.dial_end(c, a, "ANSWER")
    p.bridge("b1", a, c)
    return c, a, lid


def _listing(
    p: Pbx, uid: str, state: str = "Up", duration: float = 5, bridge: str = ""
) -> ev.CoreShowChannel:
    name, lid = p.chan[uid]
    return ev.CoreShowChannel(
        p.t, uid, lid, name, state, "", "", "", "", "", "Dial", duration, bridge, "r1"
    )


def test_call_that_continues_across_a_reconnect_is_recorded_once() -> None:
    p = Pbx()
    c, a, lid = _answered_call(p)
    p.at(4)
    p.send(ev.SessionStarted(p.t, "Asterisk Call Manager/11.0.0"))
    p.send(_listing(p, c, bridge="b1"))
    p.send(_listing(p, a, bridge="b1"))
    p.send(ev.CoreShowChannelsComplete(p.t, "r1"))
    p.at(9)
    p.hangup(c, a)
    p.hangup(c, a)  # duplicated after the reconnect
    r = p.only()
    assert r.outcome is Outcome.ANSWERED and r.talk_seconds == 7.0 and not r.resynced


def test_call_that_ended_during_the_outage_is_closed_by_the_resync() -> None:
    p = Pbx()
    _answered_call(p)
    p.at(30)
    p.send(ev.SessionStarted(p.t))
    p.send(ev.CoreShowChannelsComplete(p.t, "r1"))
    r = p.only()
    assert r.outcome is Outcome.ANSWERED and r.answered_by == ("101",) and r.resynced
    assert p.tracker.calls == {}


def test_call_that_began_during_the_outage_is_picked_up_from_the_listing() -> None:
    p = Pbx()
    p.send(ev.SessionStarted(p.t))
    p.n += 1
    uid, lid = "2000.1", "2000.1"
    p.chan[uid] = ("PJSIP/trunk-00000099", lid)
    p.chan["2000.2"] = ("PJSIP/102-0000009a", lid)
    p.at(10)
    p.send(
        ev.CoreShowChannel(
            p.t,
            uid,
            lid,
            "PJSIP/trunk-00000099",
            "Up",
            "+79031112233",
            "",
            "102",
            "from-trunk",
            "74952220101",
            "Dial",
            8.0,
            "bx",
            "r1",
        )
    )
    p.send(
        ev.CoreShowChannel(
            p.t,
            "2000.2",
            lid,
            "PJSIP/102-0000009a",
            "Up",
            "102",
            "",
            "",
            "",
            "",
            "AppDial",
            6.0,
            "bx",
            "r1",
        )
    )
    p.send(ev.CoreShowChannelsComplete(p.t, "r1"))
    p.at(15)
    p.hangup(uid, "2000.2")
    r = p.only()
    assert r.answered_by == ("102",) and r.caller == "+79031112233" and r.resynced
    assert r.started_at == 1002.0


def test_lone_hangup_and_late_events_make_no_record() -> None:
    p = Pbx()
    p.chan["9.9"] = ("PJSIP/trunk-000000ff", "9.9")
    p.hangup("9.9")
    assert p.records == [] and p.tracker.stats.orphans == 1
    c, a, lid = _answered_call(p)
    p.hangup(c, a)
    p.hangup(c)
    p.dial_end(c, a, "ANSWER")
    assert len(p.records) == 1 and p.tracker.stats.late >= 1


def test_duplicate_newchannel_and_dialbegin_do_not_duplicate_offers() -> None:
    p = Pbx()
    c = p.channel(TRUNK, num="+7916", exten="1", state="Ring")
    lid = p.chan[c][1]
    a = p.channel("PJSIP/101", lid)
    p.dial(c, a)
    p.send(ev.Newchannel(p.t, a, lid, p.chan[a][0], "Down", "", "", "", ""))
    p.dial(c, a)
    assert len(p.tracker.calls[lid].offers) == 1


def test_idle_calls_are_swept() -> None:
    p = Pbx()
    _answered_call(p)
    effects = p.tracker.sweep(now=p.t + 7 * 3600, max_idle=6 * 3600)
    assert len(effects) == 1 and p.tracker.calls == {}
