"""The consumer's periodic list of live calls goes out in pages, the loop free between them (one
message of 20,000 calls held the loop ~0.3 s every 5 s); a standby rebuilds its mirror from the
pages, dropping the calls whose end it missed, keeping the ones that started meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

from cti.ami import events as ev
from cti.calls.endpoints import TrackingRules
from cti.calls.service import CallService
from cti.calls.tracker import CallTracker
from cti.cluster.mirror import ClusterMirror


def _call(n: int) -> dict[str, Any]:
    return {"linkedid": f"c{n}", "state": "ringing"}


async def _one_round(
    mirror: ClusterMirror, live: Any, sent: list[dict[str, Any]], page: int
) -> list[dict[str, Any]]:
    done = asyncio.Event()
    original = mirror._publish

    def publish(message: dict[str, Any]) -> None:
        original(message)
        if message.get("last") or "live_all" in message:
            done.set()

    mirror._publish = publish  # type: ignore[method-assign]
    task = asyncio.create_task(mirror.publish_forever(live, every=0, page=page))
    await done.wait()
    task.cancel()
    return sent


async def test_the_consumer_sends_its_live_calls_in_pages_and_lets_others_run_between() -> None:
    sent: list[dict[str, Any]] = []
    ran_between: list[int] = []
    mirror = ClusterMirror(publish=sent.append, leader=lambda: True)

    async def another_task() -> None:
        while True:
            ran_between.append(len(sent))
            await asyncio.sleep(0)

    other = asyncio.create_task(another_task())
    await _one_round(mirror, lambda: [_call(n) for n in range(1200)], sent, page=500)
    other.cancel()

    pages = [m for m in sent if "live_page" in m]
    assert [len(m["live_page"]) for m in pages] == [500, 500, 200]
    assert [(m["first"], m["last"]) for m in pages] == [
        (True, False),
        (False, False),
        (False, True),
    ]
    assert 1 in ran_between and 2 in ran_between  # the loop ran other work between the pages


async def test_a_call_that_ends_between_pages_is_in_no_later_page() -> None:
    service = CallService(tracker=CallTracker(rules=TrackingRules()), store=None, bus=None)
    for n in range(4):
        uid = f"1.{n}"
        service.handle(
            ev.Newchannel(1.0, uid, uid, f"PJSIP/trunk-{n}", "Ring", "+7495", "", "", "")
        )
    sent: list[dict[str, Any]] = []

    def publish(message: dict[str, Any]) -> None:
        sent.append(message)
        if message.get("first"):  # the last call hangs up while the first page is on its way
            service.handle(ev.Hangup(2.0, "1.3", "1.3", "PJSIP/trunk-3", "16"))

    mirror = ClusterMirror(publish=publish, leader=lambda: True)
    await _one_round(mirror, service.each_live_call, sent, page=2)

    listed = [c["linkedid"] for m in sent for c in m.get("live_page", ())]
    assert listed == ["1.0", "1.1", "1.2"]


def test_a_standby_rebuilds_its_mirror_from_the_pages() -> None:
    standby = ClusterMirror(publish=lambda m: None, leader=lambda: False)
    standby.apply({"live": _call(1)})
    standby.apply({"live": _call(2)})  # its "ended" will be lost
    standby.apply({"live": _call(3)})

    standby.apply({"live_page": [_call(1)], "first": True, "last": False})
    standby.apply({"live": _call(4)})  # started during the round, after its page went
    standby.apply({"ended": "c3"})  # ended during the round, after its page went
    standby.apply({"live_page": [_call(5)], "first": False, "last": True})

    assert sorted(standby.live) == ["c1", "c4", "c5"]


def test_a_round_whose_first_page_was_lost_only_adds() -> None:
    standby = ClusterMirror(publish=lambda m: None, leader=lambda: False)
    standby.apply({"live": _call(1)})
    standby.apply({"live_page": [_call(2)], "first": False, "last": True})
    assert sorted(standby.live) == ["c1", "c2"]
