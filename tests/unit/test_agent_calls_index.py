"""The tracker's index of agents' phones in live calls (what routing counts an agent's calls
from) is, after every event of every real capture, what a scan of the live calls would find."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cti.ami.ingest import EventStream
from cti.calls.endpoints import TrackingRules
from cti.calls.tracker import CallTracker, agent_calls_of
from cti.routing.model import AgentProfile

from .pbx import Pbx

CAPTURES = sorted((Path(__file__).parent.parent / "captures").glob("*.ami"))


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.stem for c in CAPTURES])
def test_the_index_matches_the_live_calls_after_every_event(capture: Path) -> None:
    tracker = CallTracker(rules=TrackingRules())
    mismatches: list[str] = []

    def on_event(event: object) -> None:
        tracker.handle(event)  # type: ignore[arg-type]
        if tracker.agent_calls != agent_calls_of(tracker.calls.values()):
            mismatches.append(type(event).__name__)

    EventStream(on_event=on_event).feed(capture.read_bytes(), time.time())
    assert mismatches == []


def test_routing_counts_an_agents_calls_from_the_index() -> None:
    from cti.config import Settings
    from cti.routing.service import RoutingService
    from cti.routing.setup import routing_options, routing_rules

    p = Pbx()
    c1 = p.channel("PJSIP/trunk", num="+74951112233", exten="74950000000", state="Ring")
    a1 = p.channel("PJSIP/101", p.chan[c1][1])
    p.dial(c1, a1)
    c2 = p.channel("PJSIP/trunk", num="+74951112244", exten="74950000000", state="Ring")
    a2 = p.channel("PJSIP/101", p.chan[c2][1])
    p.dial(c2, a2)
    p.hangup(a2)  # 101 stopped ringing for the second call
    routing = RoutingService(
        store=None,  # type: ignore[arg-type]
        lookup=None,
        rules=routing_rules(Settings()),
        options=routing_options(Settings()),
        timezone="Europe/Moscow",
        agent_calls=lambda: p.tracker.agent_calls,
    )
    routing.set_agents([AgentProfile(login="ivanova", name="Ivanova", extension="101")])

    assert routing.calls_in_progress() == {"ivanova": 1}
