"""Faults of a multi-node deployment, with real `cti serve` processes, the real PostgreSQL and
Redis: the leader killed mid-call (a standby takes over within 5 s, resynchronizes from Asterisk
and carries on), and an agent whose websocket dropped with it resumes on the other process.
After each: every call has exactly one correct record, no missed call is lost, no pop doubled."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.cluster_world import cluster, until

pytestmark = pytest.mark.postgres


async def test_killing_the_leader_mid_call_hands_ami_to_a_standby_within_5_s(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as world:
        sim = world.sim
        a = await world.node("a")
        await until(lambda: _is(a, "leader"))
        b = await world.node("b")
        assert await b.role() == "standby"
        on_a = await world.feed(a, "101")
        on_b = await world.feed(b, "102")
        await sim.wait_for_listener()

        first, _, task = sim.start_scenario("answered", agent="101", ring=0.3, talk=0.5)
        await task
        await until(lambda: on_a.pop_ended(first))
        during, _, during_task = sim.start_scenario("answered", agent="102", ring=0.5, talk=8.0)
        await until(lambda: on_b.of("call.answered", during))  # mid-call: talking
        snapshot = on_a.messages[0]

        a.kill()
        killed = time.monotonic()
        await until(lambda: _is(b, "leader"), timeout=10.0, every=0.05)
        failover = time.monotonic() - killed
        assert failover < 5.0, f"a new leader after {failover:.1f} s"

        # the agent whose socket died with `a` resumes on `b` from where they were
        resumed = await world.feed(b, "101", since=on_a.last_seq, stream=snapshot["stream"])
        assert resumed.messages[0]["type"] == "resume"
        after, _, task = sim.start_scenario("answered", agent="101", ring=0.3, talk=0.5)
        missed, _, missed_task = sim.start_scenario("abandoned", agent="101")
        await asyncio.gather(task, missed_task, during_task)
        await until(lambda: resumed.pop_ended(after) and on_b.pop_ended(during))

        calls, missed_calls, callbacks = await until(
            lambda: _all_stored(world, {first, during, after, missed})
        )
        by_id = Counter(c.linkedid for c in calls)
        assert all(n == 1 for n in by_id.values()), by_id
        record = {c.linkedid: c for c in calls}
        assert record[during].outcome.value == "answered" and record[during].answered_by == ("102",)
        assert record[during].resynced  # carried on from Asterisk's channels by the new leader
        assert record[first].outcome.value == record[after].outcome.value == "answered"
        assert missed_calls == [missed] and callbacks == 1
        # no pop twice: one call.ringing per call and agent, across the failover and the resume
        for feed in (on_a, on_b, resumed):
            rung = Counter(m["linkedid"] for m in feed.of("call.ringing"))
            assert all(n == 1 for n in rung.values()), rung
        seqs = [m["seq"] for m in resumed.messages[1:]]
        assert seqs == sorted(set(seqs)) and seqs[0] == on_a.last_seq + 1 or not seqs
        # the takeover is in the structured log
        taken = [e for e in b.logs() if e.get("event") == "lease_acquired"]
        assert taken and taken[-1]["epoch"] == 2


async def _is(node: object, role: str) -> bool:
    return await node.role() == role  # type: ignore[attr-defined,no-any-return]


async def _all_stored(world: object, linkedids: set[str]) -> object:
    calls, missed, callbacks = await world.stored()  # type: ignore[attr-defined]
    return (calls, missed, callbacks) if linkedids <= {c.linkedid for c in calls} else None
