"""Phantom calls: events for channels cti never saw created (a part of the stream it missed, or
junk) open calls that leave the boards after `phantom_call_max_idle` without a sign of life, not
after the 6 hours a call whose Hangup was lost gets."""

from __future__ import annotations

from cti.ami import events as ev
from cti.config import Settings

from .pbx import Pbx

SIX_HOURS = 6 * 3600.0
TEN_MINUTES = 600.0
TRUNK = "PJSIP/trunk-0000beef"


def _phantom(p: Pbx, uid: str = "77.1") -> str:
    """A Newstate for a channel cti never saw: it opens a call (the stream lost its start)."""
    p.send(ev.Newstate(p.t, uid, uid, TRUNK, "Ring", "+74951112233", ""))
    p.chan[uid] = (TRUNK, uid)
    return uid


def _sweep(p: Pbx, seconds: float) -> None:
    for effect in p.tracker.sweep(1000.0 + seconds, SIX_HOURS, TEN_MINUTES):
        p.effects.append(effect)
        if hasattr(effect, "record"):
            p.records.append(effect.record)


def test_a_phantom_call_without_events_is_closed_after_the_phantom_limit() -> None:
    p = Pbx()
    p.at(0)
    lid = _phantom(p)
    p.at(30)
    p.send(ev.Newstate(p.t, lid, lid, TRUNK, "Ring", "", ""))  # its last sign of life
    _sweep(p, 30 + TEN_MINUTES - 1)
    assert lid in p.tracker.calls

    _sweep(p, 30 + TEN_MINUTES + 1)

    assert lid not in p.tracker.calls
    record = p.only()
    assert record.linkedid == lid
    assert record.ended_at == 1030.0  # as of its last event, not when the sweep noticed
    assert record.resynced


def test_a_call_seen_starting_keeps_the_six_hour_limit() -> None:
    p = Pbx()
    c = p.channel("PJSIP/trunk", num="+74951112233", exten="74950000000", state="Ring")
    lid = p.chan[c][1]

    _sweep(p, TEN_MINUTES * 3)

    assert lid in p.tracker.calls
    _sweep(p, SIX_HOURS + 1)
    assert lid not in p.tracker.calls


def test_a_phantom_call_someone_talks_in_is_not_a_phantom() -> None:
    p = Pbx()
    lid = _phantom(p)
    a = p.channel("PJSIP/101", lid)
    p.dial(lid, a)
    p.dial_end(lid, a, "ANSWER")
    p.bridge("b1", lid, a)  # the caller and agent 101 are connected: a real call, joined late

    _sweep(p, TEN_MINUTES * 3)

    assert lid in p.tracker.calls
    assert not p.records


def test_a_resync_that_lists_the_channel_confirms_the_call() -> None:
    p = Pbx()
    lid = _phantom(p)
    p.at(5)
    p.send(ev.SessionStarted(p.t, "Asterisk Call Manager/9.0.0"))
    listed = ev.CoreShowChannel(
        p.t, lid, lid, TRUNK, "Ring", "+74951112233", "", "", "", "", "Queue", 5, "", "r1"
    )
    p.send(listed)
    p.send(ev.CoreShowChannelsComplete(p.t, "r1"))

    _sweep(p, TEN_MINUTES * 3)

    assert lid in p.tracker.calls


def test_a_phantom_call_with_events_stays_while_they_come() -> None:
    p = Pbx()
    lid = _phantom(p)
    for minute in range(1, 30):
        p.at(minute * 60)
        p.send(ev.Newstate(p.t, lid, lid, TRUNK, "Ring" if minute % 2 else "Up", "", ""))
        _sweep(p, minute * 60 + 30)
    assert lid in p.tracker.calls


def test_the_limits_are_settings_with_sane_defaults() -> None:
    settings = Settings()
    assert settings.call_max_idle == SIX_HOURS
    assert 60 <= settings.phantom_call_max_idle <= 1800
