"""A takeover carries on from the former AMI consumer's live calls (SPEC: every call recorded
once, right): a call that goes on is recorded as if nobody had changed, a call that ended while
nobody read AMI is closed by the resync with what was known of it, never forgotten."""

from __future__ import annotations

import json

from cti.ami import events as ev
from cti.calls.codec import call_from_json, call_to_json
from cti.calls.model import Outcome

from .pbx import Pbx
from .test_resync import TRUNK, _answered_call, _listing


def _carried(p: Pbx) -> Pbx:
    """A new consumer with the former one's live calls, through JSON as Redis keeps them."""
    q = Pbx()
    q.t, q.n, q.chan = p.t, p.n, dict(p.chan)
    kept = [json.loads(json.dumps(call_to_json(c))) for c in p.tracker.calls.values()]
    assert len(q.tracker.adopt(call_from_json(k) for k in kept)) == len(kept)
    return q


def _ringing_call(p: Pbx) -> tuple[str, str]:
    c = p.channel(TRUNK, num="+79161230000", exten="74952220101", state="Ring")
    a = p.channel("PJSIP/102", p.chan[c][1])
    p.dial(c, a)
    return c, a


def test_a_live_call_reads_back_whole_from_its_json() -> None:
    p = Pbx()
    _answered_call(p)
    _ringing_call(p)
    for call in p.tracker.calls.values():
        assert call_from_json(json.loads(json.dumps(call_to_json(call)))) == call


def test_a_call_that_goes_on_across_the_takeover_is_recorded_as_without_one() -> None:
    p, same = Pbx(), Pbx()
    c, a, _ = _answered_call(p)
    _answered_call(same)
    p.at(4)
    q = _carried(p)
    q.send(ev.SessionStarted(q.t, "Asterisk Call Manager/11.0.0"))
    q.send(_listing(q, c, bridge="b1"))
    q.send(_listing(q, a, bridge="b1"))
    q.send(ev.CoreShowChannelsComplete(q.t, "r1"))
    q.at(9)
    same.at(9)
    q.hangup(c, a)
    same.hangup(c, a)
    assert q.only() == same.only()  # answered at 2 s by 101, 7 s of talk, not "resynced"


def test_calls_that_ended_while_nobody_read_ami_are_closed_by_the_resync() -> None:
    p, same = Pbx(), Pbx()
    for pbx in (p, same):
        _answered_call(pbx)
        pbx.at(3)
        _ringing_call(pbx)
        pbx.at(5)
    q = _carried(p)  # the former consumer died here; both calls end before the takeover
    for pbx in (q, same):  # the takeover, and the same consumer reconnecting, at 8 s
        pbx.at(8)
        pbx.send(ev.SessionStarted(pbx.t))
        pbx.send(ev.CoreShowChannelsComplete(pbx.t, "r1"))
    answered, missed = sorted(q.records, key=lambda r: r.started_at)
    assert answered.outcome is Outcome.ANSWERED and answered.answered_by == ("101",)
    assert answered.answered_at == 1002.0 and answered.resynced
    assert missed.outcome is Outcome.MISSED and missed.agents_rung == ("102",) and missed.resynced
    assert q.records == same.records  # as good as a reconnect of the consumer itself
    assert q.tracker.calls == {}


def test_a_call_the_new_consumer_already_tracks_is_not_replaced() -> None:
    p = Pbx()
    _answered_call(p)
    q = _carried(p)
    assert q.tracker.adopt(list(p.tracker.calls.values())) == []
