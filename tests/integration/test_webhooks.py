"""Webhooks end to end on SQLite and PostgreSQL, with a real HTTP receiver on loopback: signed
bodies that validate against schemas/webhooks, retries with backoff, nothing lost or sent twice
across a restart, order kept per call, the delivery log."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.app import call_store
from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.config import Settings
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from cti.db.webhook_models import WebhookEventRow
from cti.webhooks.delivery import DeliveryWorker
from cti.webhooks.links import Links
from cti.webhooks.retry import RetryPolicy
from cti.webhooks.service import WebhookError, WebhookService
from tests.webhooks_world import receiver

SECRET = "a-long-enough-webhook-secret"
NUMBER = "+79161234567"
FAST = RetryPolicy(first=0.1, factor=2.0, cap=1.0, jitter=0.0, give_up_after=30.0)


def record(
    linkedid: str, *, missed: bool = False, ended: float | None = None, recording: str | None = None
) -> CallRecord:
    end = ended if ended is not None else datetime.now(UTC).timestamp()
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        caller="89161234567",
        caller_e164=NUMBER,
        caller_name="Иван",
        did="74952220101",
        agents_rung=("101",),
        answered_by=() if missed else ("101",),
        outcome=Outcome.MISSED if missed else Outcome.ANSWERED,
        missed_kind=MissedKind.NO_ANSWER if missed else None,
        short_abandon=False,
        started_at=end - 30,
        answered_at=None if missed else end - 20,
        ended_at=end,
        wait_seconds=10.0,
        talk_seconds=0.0 if missed else 20.0,
        recording=recording,
    )


@dataclass
class Store:
    sessions: async_sessionmaker[AsyncSession]
    service: WebhookService
    url: str

    def worker(self, policy: RetryPolicy = FAST, **kw: object) -> DeliveryWorker:
        worker = DeliveryWorker(sessions=self.sessions, policy=policy, timeout=2.0, idle=0.05, **kw)  # type: ignore[arg-type]
        self.service.on_enqueued = worker.wake
        return worker

    async def store(self, *records: CallRecord) -> None:
        repository, _ = call_store(
            Settings(database_url=self.url), self.sessions, webhooks=self.service
        )
        await repository.save_many(list(records))

    async def events(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(WebhookEventRow)) or 0)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    links = Links(recording_url_template="https://pbx.example/recordings/{file}")
    yield Store(sessions, WebhookService(sessions=sessions, links=links), database_url)
    await engine.dispose()


@contextlib.asynccontextmanager
async def running(worker: DeliveryWorker) -> AsyncIterator[DeliveryWorker]:
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_signed_events_reach_the_receiver_and_match_their_schemas(store: Store) -> None:
    async with receiver(SECRET) as hook:
        sub, secret = await store.service.add(
            hook.url, "call.ended,call.missed", secret=SECRET, actor="admin"
        )
        assert secret == SECRET and "secret" not in sub and SECRET not in str(sub)
        async with running(store.worker()):
            await store.store(
                record("1.1", recording="/var/spool/asterisk/monitor/1.1-in.wav"),
                record("1.2", missed=True),
            )
            await hook.wait_for(3)
        assert hook.bad_signatures == 0 and hook.invalid == []
        kinds = sorted(h.kind for h in hook.accepted())
        assert kinds == ["call.ended", "call.ended", "call.missed"]
        ended = next(h.payload for h in hook.hits if h.payload["data"]["call"]["linkedid"] == "1.1")
        assert ended["data"]["call"]["recording_url"] == "https://pbx.example/recordings/1.1-in.wav"
        listed = await store.service.listing()
        assert listed[0]["delivered"] == 3 and listed[0]["pending"] == 0
        assert SECRET not in str(listed) and listed[0]["secret_hint"].endswith(SECRET[-2:])


async def test_a_wrong_secret_does_not_verify(store: Store) -> None:
    async with receiver(SECRET) as hook:
        await store.service.add(hook.url, ["call.ended"], secret="another-secret-of-the-same-size")
        async with running(store.worker()):
            await store.store(record("2.1"))
            deadline = asyncio.get_running_loop().time() + 10
            while hook.bad_signatures == 0:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
        assert hook.accepted() == []


async def test_a_failing_receiver_gets_retries_with_backoff_then_the_event(store: Store) -> None:
    async with receiver(SECRET, fail_first=3) as hook:
        sub, _ = await store.service.add(hook.url, ["call.ended"], secret=SECRET)
        async with running(store.worker()):
            await store.store(record("3.1"))
            await hook.wait_for(1)
        assert [h.attempt for h in hook.hits] == [1, 2, 3, 4]
        assert [h.status for h in hook.hits] == [503, 503, 503, 200]
        assert len({h.event_id for h in hook.hits}) == 1
        gaps = [b.at - a.at for a, b in zip(hook.hits, hook.hits[1:], strict=False)]
        assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # 0.1, 0.2, 0.4 s
        (log,) = await store.service.deliveries(sub["id"])
        assert log["state"] == "delivered" and log["attempts"] == 4 and log["last_status"] == 200


async def test_a_receiver_failing_past_the_window_is_marked_failed_with_its_last_error(
    store: Store,
) -> None:
    async with receiver(SECRET, fail_first=1000, fail_status=500) as hook:
        sub, _ = await store.service.add(hook.url, ["call.ended"], secret=SECRET)
        policy = replace(FAST, give_up_after=0.5)
        async with running(store.worker(policy)):
            await store.store(record("4.1"))
            deadline = asyncio.get_running_loop().time() + 10
            while not (await store.service.deliveries(sub["id"], state="failed")):
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
        (log,) = await store.service.deliveries(sub["id"])
        assert log["state"] == "failed" and log["attempts"] >= 3 and log["last_status"] == 500
        assert "HTTP 500" in log["last_error"] and log["next_attempt_at"] is None
        assert (await store.service.listing())[0]["last_error"] == log["last_error"]


async def test_a_restart_loses_nothing_and_sends_nothing_twice(store: Store) -> None:
    calls = [record(f"5.{n}", missed=n % 2 == 0) for n in range(6)]
    async with receiver(SECRET) as hook:
        await store.service.add(hook.url, ["call.ended", "call.missed"], secret=SECRET)
        hook_url = hook.url
    # the receiver is gone: the first process stores the calls, fails to deliver, stops
    async with running(store.worker()):
        await store.store(*calls[:3])
        await asyncio.sleep(0.3)
    # a new process (engine, service, worker) starts, more calls come, the receiver is back
    engine = create_engine(store.url)
    try:
        again = Store(
            session_factory(engine), WebhookService(sessions=session_factory(engine)), store.url
        )
        port = int(hook_url.rsplit(":", 1)[1].split("/")[0])
        async with receiver(SECRET, port=port) as hook, running(again.worker()):
            await again.store(*calls[3:])
            await again.store(*calls)  # the same calls again (a replay): no new events
            await hook.wait_for(9)
            await asyncio.sleep(0.3)  # anything sent twice would arrive now
            ids = [h.event_id for h in hook.accepted()]
            assert len(ids) == 9 and len(set(ids)) == 9  # 6 ended + 3 missed, each once
            assert hook.invalid == []
        assert await again.events() == 9
    finally:
        await engine.dispose()


async def test_order_per_call_is_kept_while_other_calls_go_on(store: Store) -> None:
    async with receiver(SECRET) as hook:
        await store.service.add(
            hook.url, ["call.ended", "call.missed", "callback.resolved"], secret=SECRET
        )
        async with running(store.worker()):
            now = datetime.now(UTC).timestamp()
            await store.store(record("6.1", missed=True, ended=now - 100))  # opens a callback
            await hook.wait_for(2)
            first = hook.accepted()[-2:]
            assert [h.kind for h in first] == ["call.ended", "call.missed"]
            hook.fail_first, hook.fail_ids = 2, None  # the receiver stumbles on what comes next
            await store.store(record("6.2", ended=now))  # the customer calls again: resolved
            await hook.wait_for(4, timeout=20)
        kinds = [
            (h.kind, h.status)
            for h in hook.hits
            if h.payload["data"]
            .get("call", h.payload["data"].get("callback", {}))
            .get("linkedid", "6.2")
            == "6.2"
            or h.kind == "callback.resolved"
        ]
        accepted = [k for k, status in kinds if status == 200]
        assert accepted == ["call.ended", "callback.resolved"]
        # callback.resolved was never sent before its call's call.ended was accepted
        ended_ok = next(
            i
            for i, h in enumerate(hook.hits)
            if h.kind == "call.ended"
            and h.status == 200
            and h.payload["data"]["call"]["linkedid"] == "6.2"
        )
        assert all(i > ended_ok for i, h in enumerate(hook.hits) if h.kind == "callback.resolved")
        assert hook.invalid == []


async def test_a_slow_call_does_not_hold_up_another(store: Store) -> None:
    async with receiver(SECRET) as hook:
        await store.service.add(hook.url, ["call.ended", "call.missed"], secret=SECRET)
        blocked = "7.1"
        async with running(store.worker()):
            await store.store(record(blocked, missed=True))
            await hook.wait_for(2)
            ids = {h.payload["data"]["call"]["linkedid"]: h.event_id for h in hook.accepted()}
            assert blocked in ids
        # now fail everything of call 7.2 for a while; 7.3 goes through meanwhile
        hook.fail_first = 3
        hook.hits.clear()
        async with running(store.worker()):
            await store.store(record("7.2", missed=True))
            await asyncio.sleep(0.05)
            hook.fail_ids = {h.event_id for h in hook.hits}
            await store.store(record("7.3"))
            await hook.wait_for(3)
        order = [(h.payload["data"]["call"]["linkedid"], h.kind, h.status) for h in hook.hits]
        seven_two = [(k, s) for linked, k, s in order if linked == "7.2"]
        assert [k for k, s in seven_two if s == 200] == ["call.ended", "call.missed"]
        first_ok_72 = next(
            i for i, (linked, k, s) in enumerate(order) if linked == "7.2" and s == 200
        )
        ok_73 = next(i for i, (linked, k, s) in enumerate(order) if linked == "7.3" and s == 200)
        assert ok_73 < first_ok_72  # 7.3 did not wait for 7.2's retries


async def test_subscriptions_are_checked_and_removed_with_their_log(store: Store) -> None:
    for url, events in [
        ("ftp://x.example/", "call.ended"),
        ("https://", "call.ended"),
        ("https://x.example/", "call.bogus"),
        ("https://x.example/ a", "call.ended"),
    ]:
        with pytest.raises(WebhookError):
            await store.service.add(url, events)
    with pytest.raises(WebhookError):
        await store.service.add("https://x.example/", "all", secret="short")
    sub, secret = await store.service.add("https://x.example/hook", "all")
    assert len(secret) >= 32 and len(sub["events"]) == 7
    await store.store(record("8.1"))
    assert len(await store.service.deliveries(sub["id"])) == 1
    await store.service.remove(sub["id"])
    assert await store.service.listing() == []


async def test_two_senders_share_the_outbox_and_send_each_event_once(store: Store) -> None:
    """Two processes' senders on one database (PostgreSQL: SKIP LOCKED claims)."""
    engine = create_engine(store.url)
    try:
        async with receiver(SECRET) as hook:
            await store.service.add(hook.url, ["call.ended"], secret=SECRET)
            await store.store(*[record(f"10.{n}") for n in range(30)])
            first = store.worker(batch=4)
            other = DeliveryWorker(
                sessions=session_factory(engine), policy=FAST, timeout=2.0, idle=0.05, batch=4
            )
            async with running(first), running(other):
                await hook.wait_for(30)
                await asyncio.sleep(0.3)  # anything sent twice would arrive now
        ids = [h.event_id for h in hook.hits]
        assert len(ids) == 30 and len(set(ids)) == 30
        assert first.stats.sent + other.stats.sent == 30
    finally:
        await engine.dispose()
