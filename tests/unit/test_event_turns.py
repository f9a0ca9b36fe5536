"""A burst of queued AMI events does not hold the loop until the last one is handled: the
consumer lets other work (health probes, the AMI keepalive, the lease renewal) run between
turns."""

from __future__ import annotations

import asyncio

from cti.ami import events as ev
from cti.calls.endpoints import TrackingRules
from cti.calls.service import CallService
from cti.calls.tracker import CallTracker


async def test_other_work_runs_while_a_burst_of_events_is_handled() -> None:
    service = CallService(tracker=CallTracker(rules=TrackingRules()), store=None, bus=None)
    for n in range(2000):
        uid = f"1.{n}"
        service.submit(ev.Newchannel(1.0, uid, uid, f"PJSIP/trunk-{n}", "Ring", "", "", "", ""))
    backlog_seen: list[int] = []

    async def probe() -> None:
        while service.backlog:
            backlog_seen.append(service.backlog)
            await asyncio.sleep(0)

    consumer = asyncio.create_task(service.consume())
    await probe()
    consumer.cancel()

    assert len(service.tracker.calls) == 2000
    assert len(backlog_seen) > 10  # it ran many times while the burst was being worked off
