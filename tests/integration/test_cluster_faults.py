"""Faults of a multi-node deployment, with real `cti serve` processes, the real PostgreSQL and
Redis: the leader killed mid-call (a standby takes over within 5 s, resynchronizes from Asterisk
and carries on), and an agent whose websocket dropped with it resumes on the other process.
After each: every call has exactly one correct record, no missed call is lost, no pop doubled."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy.engine import make_url

from tests.cluster_world import REDIS_URL, cluster, until
from tests.proxy import proxy

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
        # carried on whole from what the former leader kept (not rebuilt from Asterisk's
        # channels): the record is as exact as without the failover
        assert not record[during].resynced
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


async def test_a_killed_leader_loses_neither_its_unstored_calls_nor_those_ended_before_takeover(
    tmp_path: Path,
) -> None:
    """Against the simulator's own ground truth: a call finished while the leader's database
    was away (waiting in its memory), and a call whose caller gave up between the SIGKILL and
    the takeover (nobody read AMI then), are both recorded once by the new leader."""
    async with cluster(tmp_path) as world, proxy("127.0.0.1", _pg_port(world.database_url)) as pg:
        sim = world.sim
        a = await world.node("a", CTI_DATABASE_URL=_via(world.database_url, pg.port))
        await until(lambda: _is(a, "leader"))
        b = await world.node("b")
        agent = await world.feed(b, "102")
        await sim.wait_for_listener()
        pg.cut()  # the leader's database away: its finished calls wait in its memory
        unstored = await sim.play("answered", agent="101", ring=0.2, talk=0.2)
        await until(lambda: _buffered(a, 1))
        gap, truth, gap_task = sim.start_scenario(
            "abandoned", agent="102", caller="+79161110004", hangup_after=1.0
        )
        await until(lambda: agent.of("call.ringing", gap))
        a.kill()
        killed = time.monotonic()
        await gap_task  # the caller gives up while nobody reads AMI (the lease runs 2 s)
        assert not await _is(b, "leader")
        await until(lambda: _is(b, "leader"), timeout=10.0, every=0.05)
        assert time.monotonic() - killed < 5.0

        ids = {unstored["linkedid"], gap}
        calls, missed, callbacks = await until(lambda: _all_stored(world, ids), timeout=20.0)
        assert Counter(c.linkedid for c in calls) == dict.fromkeys(ids, 1)
        record = {c.linkedid: c for c in calls}
        first = record[unstored["linkedid"]]
        assert (first.outcome.value, list(first.answered_by)) == ("answered", ["101"])
        assert list(first.answered_by) == unstored["answered_by"] and not first.resynced
        ended = record[gap]
        assert ended.outcome.value == truth["outcome"] == "missed"
        assert list(ended.agents_rung) == truth["agents_rung"] and ended.resynced
        assert missed == [gap] and callbacks == 1
        taken = [e for e in b.logs() if e.get("event") == "handover"]
        assert taken and taken[-1]["calls"] >= 1 and taken[-1]["records"] == 1


async def _is(node: object, role: str) -> bool:
    return await node.role() == role  # type: ignore[attr-defined,no-any-return]


async def _all_stored(world: object, linkedids: set[str]) -> object:
    calls, missed, callbacks = await world.stored()  # type: ignore[attr-defined]
    return (calls, missed, callbacks) if linkedids <= {c.linkedid for c in calls} else None


async def test_a_dropped_ami_link_mid_call_is_resumed_by_the_leader_alone(tmp_path: Path) -> None:
    async with cluster(tmp_path) as world:
        sim = world.sim
        a = await world.node("a")
        await until(lambda: _is(a, "leader"))
        b = await world.node("b")
        agent = await world.feed(b, "101")
        await sim.wait_for_listener()
        linkedid, want, task = sim.start_scenario("answered", agent="101", ring=0.5, talk=4.0)
        await until(lambda: agent.of("call.answered", linkedid))
        assert sim.drop_clients() == 2  # the leader's session and the standby's
        await until(lambda: _consuming_again(a))
        assert await b.role() == "standby"
        await task
        await until(lambda: agent.pop_ended(linkedid))
        calls, _, _ = await until(lambda: _all_stored(world, {linkedid}))
        assert [c.linkedid for c in calls] == [linkedid]
        got = calls[0]
        assert (got.outcome.value, got.answered_by, got.talk_seconds) == (
            "answered",
            ("101",),
            pytest.approx(4.0, abs=0.5),
        )
        assert Counter(m["linkedid"] for m in agent.of("call.ringing")) == {linkedid: 1}


async def _consuming_again(node: object) -> bool:
    report = await node.health()  # type: ignore[attr-defined]
    return bool(report and report["ami"]["consuming"] and report["ami"]["connected"])


async def test_postgresql_away_for_10_s_keeps_the_calls_and_writes_them_when_it_returns(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as world, proxy("127.0.0.1", _pg_port(world.database_url)) as pg:
        sim = world.sim
        a = await world.node("a", CTI_DATABASE_URL=_via(world.database_url, pg.port))
        await until(lambda: _is(a, "leader"))
        await sim.wait_for_listener()
        pg.cut()
        cut_at = time.monotonic()
        started = [
            sim.start_scenario("answered", agent="101", ring=0.3, talk=0.5),
            sim.start_scenario("abandoned", agent="102", caller="+79161110001"),
            sim.start_scenario("no_answer_voicemail", agent="103", caller="+79161110002"),
        ]
        await asyncio.gather(*(task for _, _, task in started))
        metrics = await until(lambda: _buffered(a, 3))
        assert metrics["cti_database_up"] == 0 and metrics["cti_database_errors_total"] >= 1
        report = await a.health()
        assert report is not None and report["http_status"] == 503
        assert any(r.startswith("database unreachable") for r in report["reasons"])
        await asyncio.sleep(max(0.0, 10.0 - (time.monotonic() - cut_at)))
        pg.restore()
        ids = {linkedid for linkedid, _, _ in started}
        calls, missed, callbacks = await until(lambda: _all_stored(world, ids), timeout=30.0)
        assert sorted(c.linkedid for c in calls) == sorted(ids)
        assert sorted(missed) == sorted(ids - {started[0][0]}) and callbacks == 2
        metrics = await until(lambda: _buffered(a, 0))
        assert metrics["cti_calls_dropped_total"] == 0
        assert any(e.get("event") == "database_error" for e in a.logs())
        assert any(e.get("event") == "database_back" for e in a.logs())


async def test_a_full_call_buffer_says_so_in_the_log_the_metrics_and_the_health(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as world, proxy("127.0.0.1", _pg_port(world.database_url)) as pg:
        sim = world.sim
        a = await world.node(
            "a", CTI_DATABASE_URL=_via(world.database_url, pg.port), CTI_CALL_BUFFER_LIMIT="2"
        )
        await until(lambda: _is(a, "leader"))
        await sim.wait_for_listener()
        pg.cut()
        for agent in ("101", "102", "103"):
            await sim.play("answered", agent=agent, ring=0.2, talk=0.2)
        metrics = await until(lambda: _buffered(a, 2))
        assert metrics["cti_calls_dropped_total"] == 1 and metrics["cti_buffer_limit"] == 2
        report = await a.health()
        assert report is not None and report["http_status"] == 503
        assert "call buffer full: finished calls are being dropped" in report["reasons"]
        (full,) = [e for e in a.logs() if e.get("event") == "call_buffer_full"]
        assert full["level"] == "critical" and full["buffer_limit"] == 2 and full["linkedid"]
        pg.restore()
        calls, _, _ = await until(lambda: _stored_count(world, 2), timeout=30.0)
        assert full["linkedid"] not in {c.linkedid for c in calls}  # the one dropped, said so


async def test_redis_away_longer_than_the_lease_loses_no_call_and_doubles_no_pop(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as world, proxy("127.0.0.1", _redis_port()) as rd:
        sim = world.sim
        via = {"CTI_REDIS_URL": _redis_via(rd.port)}
        a = await world.node("a", **via)
        await until(lambda: _is(a, "leader"))
        b = await world.node("b", **via)
        agent = await world.feed(b, "101")
        await sim.wait_for_listener()
        linkedid, _, task = sim.start_scenario("answered", agent="101", ring=0.5, talk=6.0)
        await until(lambda: agent.of("call.answered", linkedid))
        rd.cut()  # like a restart: every connection reset, none accepted for 3 s (lease: 2 s)
        await until(lambda: _no_leader(a, b), timeout=5.0)  # nobody can be sure to hold it
        await asyncio.sleep(3.0)
        rd.restore()
        await until(lambda: _one_leader(a, b), timeout=10.0)
        await task
        after, _, after_task = sim.start_scenario("abandoned", agent="101", caller="+79161110003")
        await after_task
        calls, missed, _ = await until(lambda: _all_stored(world, {linkedid, after}), timeout=20.0)
        assert Counter(c.linkedid for c in calls) == {linkedid: 1, after: 1}
        assert missed == [after]
        record = {c.linkedid: c for c in calls}[linkedid]
        assert (record.outcome.value, record.answered_by) == ("answered", ("101",))
        await until(lambda: agent.pop_ended(after) or agent.closed, timeout=10.0)
        for feed, _ in world.feeds:
            rung = Counter(m["linkedid"] for m in feed.of("call.ringing"))
            assert all(n == 1 for n in rung.values()), rung


async def _buffered(node: object, depth: int) -> object:
    metrics = await node.metrics()  # type: ignore[attr-defined]
    return metrics if metrics["cti_buffer_depth"] == depth else None


async def _stored_count(world: object, n: int) -> object:
    stored = await world.stored()  # type: ignore[attr-defined]
    return stored if len(stored[0]) == n else None


async def _no_leader(*nodes: object) -> bool:
    return all([await n.role() != "leader" for n in nodes])  # type: ignore[attr-defined]


async def _one_leader(*nodes: object) -> bool:
    return [await n.role() for n in nodes].count("leader") == 1  # type: ignore[attr-defined]


def _pg_port(url: str) -> int:
    return make_url(url).port or 5432


def _via(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def _redis_port() -> int:
    return urlsplit(REDIS_URL).port or 6379


def _redis_via(port: int) -> str:
    parts = urlsplit(REDIS_URL)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


async def test_a_leader_stopped_with_sigterm_writes_its_calls_and_hands_over_at_once(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as world:
        sim = world.sim
        a = await world.node("a")
        await until(lambda: _is(a, "leader"))
        b = await world.node("b")
        await sim.wait_for_listener()
        linkedid = (await sim.play("answered", agent="101", ring=0.2, talk=0.2))["linkedid"]
        a.process.terminate()  # a rolling restart
        stopped = time.monotonic()
        await until(lambda: _is(b, "leader"), timeout=5.0)
        assert time.monotonic() - stopped < 1.5  # released, not left to expire (2 s)
        assert a.process.wait(10) == 0
        calls, _, _ = await until(lambda: _all_stored(world, {linkedid}))
        assert [c.linkedid for c in calls] == [linkedid]
        assert any(
            e.get("event") == "lease_lost" and e.get("reason") == "shutting down" for e in a.logs()
        )
