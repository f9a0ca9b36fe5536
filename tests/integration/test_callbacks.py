"""Missed calls and callbacks on SQLite and PostgreSQL, case by case from SPEC."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.db.calls import CallRepository
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from cti.missed.book import CallbackBook, MissContext
from cti.missed.callbacks import CallbackError, CallbackFilter, Callbacks, MissedFilter
from cti.missed.model import CallbackState, OwnerContext

MSK, VLAT = ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Vladivostok")
IVAN = "+79161234567"  # customer of manager ivanova, Moscow
FAR = "+79241234567"  # a customer in Vladivostok


def at(h: int, m: int, s: int = 0, day: int = 25) -> float:
    return datetime(2026, 11, day, h, m, s, tzinfo=MSK).timestamp()


def missed(
    linkedid: str,
    ended: float,
    *,
    number: str = IVAN,
    kind: MissedKind = MissedKind.NO_ANSWER,
    short: bool = False,
) -> CallRecord:
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        caller="8" + number[2:],
        caller_e164=number,
        caller_name="",
        did="74952220101",
        agents_rung=("101",) if kind is not MissedKind.OUT_OF_HOURS else (),
        answered_by=(),
        outcome=Outcome.MISSED,
        missed_kind=kind,
        short_abandon=short,
        started_at=ended - 10,
        answered_at=None,
        ended_at=ended,
        wait_seconds=10.0,
        talk_seconds=0.0,
    )


def answered_in(
    linkedid: str, ended: float, number: str = IVAN, by: tuple[str, ...] = ("102",), **kw: object
) -> CallRecord:
    return replace(
        missed(linkedid, ended, number=number),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        answered_by=by,
        answered_at=ended - 5,
        **kw,
    )


def outbound(
    linkedid: str, ended: float, number: str = IVAN, answered: bool = True, agent: str = "101"
) -> CallRecord:
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.OUTBOUND,
        caller=agent,
        caller_e164=None,
        caller_name="",
        did="8" + number[2:],
        did_e164=number,
        agents_rung=(agent,),
        answered_by=(agent,) if answered else (),
        outcome=Outcome.ANSWERED if answered else Outcome.UNANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=ended - 30,
        answered_at=ended - 20 if answered else None,
        ended_at=ended,
        wait_seconds=10.0,
        talk_seconds=20.0 if answered else 0.0,
    )


@dataclass
class Office:
    """The directory and rota the book asks: ivanova manages IVAN; petrov is on duty at lunch."""

    lunch: bool = False
    announced: list[dict] = field(default_factory=list)

    async def context(self, number: str, when: datetime) -> MissContext:
        manager = "ivanova" if number in (IVAN, FAR) else None
        duty = "petrov" if 12 <= when.astimezone(MSK).hour < 14 else None
        zone = VLAT if number == FAR else MSK
        return MissContext(
            customer_id=1 if manager else None,
            owner=OwnerContext(manager, not self.lunch, duty, "supervisor"),
            timezone=zone,
        )


@pytest.fixture
async def world(
    database_url: str,
) -> AsyncIterator[tuple[CallRepository, Callbacks, Office, list[datetime]]]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    office = Office()
    now = [datetime(2026, 11, 25, 15, 0, tzinfo=MSK)]
    sessions = session_factory(engine)
    repo = CallRepository(
        session_factory=sessions,
        after_save=[CallbackBook(context=office.context).record_calls],
        announce=office.announced.append,
    )
    callbacks = Callbacks(
        session_factory=sessions, context=office.context, clock=lambda: now[0].astimezone(UTC)
    )
    try:
        yield repo, callbacks, office, now
    finally:
        await engine.dispose()


async def open_callbacks(callbacks: Callbacks) -> list[dict]:
    return await callbacks.list(CallbackFilter(state=CallbackState.OPEN))


@pytest.mark.parametrize(
    ("kind", "short"),
    [
        (MissedKind.NO_ANSWER, False),
        (MissedKind.ABANDONED, False),
        (MissedKind.ABANDONED, True),
        (MissedKind.BUSY, False),
        (MissedKind.OUT_OF_HOURS, False),
    ],
)
async def test_each_kind_of_miss_is_one_missed_call_with_a_callback(
    world, kind: MissedKind, short: bool
) -> None:
    repo, callbacks, office, _ = world
    await repo.save_many([missed("m1", at(10, 0), kind=kind, short=short)])
    await repo.save_many(
        [missed("m1", at(10, 0), kind=kind, short=short)]
    )  # stored again: nothing new
    [row] = await callbacks.missed(MissedFilter())
    assert (row["kind"], row["short_abandon"], row["callback_owner"]) == (
        kind.value,
        short,
        "ivanova",
    )
    [cb] = await open_callbacks(callbacks)
    assert (
        cb["misses"] == 1
        and cb["owner"] == "ivanova"
        and cb["deadline_at"] == "2026-11-25T07:05:00Z"
    )
    assert [m["type"] for m in office.announced] == ["call.missed", "callback.created"]


async def test_answered_calls_are_not_missed(world) -> None:
    repo, callbacks, _, _ = world
    await repo.save_many(
        [
            answered_in("a1", at(10, 0), by=("199",)),  # fallback answered by the duty operator
            answered_in(
                "a2", at(10, 5), by=("101", "102"), transferred=True
            ),  # answered, then transferred
            replace(
                outbound("o1", at(10, 9), answered=False),
                direction=Direction.INTERNAL,
                did_e164=None,
            ),
        ]
    )
    assert await callbacks.missed(MissedFilter()) == [] and await open_callbacks(callbacks) == []


async def test_resolution_by_outbound_answer_not_by_an_unanswered_attempt(world) -> None:
    repo, callbacks, office, now = world
    now[0] = datetime(2026, 11, 25, 10, 5, tzinfo=MSK)
    await repo.save_many([missed("m1", at(10, 0))])
    await repo.save_many([outbound("o1", at(10, 2), answered=False)])
    [cb] = await open_callbacks(callbacks)
    assert cb["attempts"] == 1 and cb["held_by"] == "101"  # being called back by 101
    await repo.save_many([outbound("o2", at(10, 4))])
    assert await open_callbacks(callbacks) == []
    done = await callbacks.get(cb["id"])
    assert (done["resolution"], done["resolving_linkedid"], done["resolved_by"]) == (
        "outbound_answered",
        "o2",
        "101",
    )
    assert [e["action"] for e in done["log"]] == ["created", "attempt", "resolved"]
    assert office.announced[-1]["type"] == "callback.resolved"


async def test_resolution_by_the_customers_next_answered_call(world) -> None:
    repo, callbacks, _, _ = world
    await repo.save_many([missed("m1", at(10, 0)), answered_in("a1", at(10, 30), by=("103",))])
    [cb] = await callbacks.list(CallbackFilter())
    assert (cb["state"], cb["resolution"], cb["resolved_by"]) == (
        "resolved",
        "inbound_answered",
        "103",
    )


async def test_repeated_misses_are_one_open_callback_with_a_count(world) -> None:
    repo, callbacks, _, _ = world
    await repo.save_many([missed("m1", at(10, 0)), missed("m2", at(10, 1))])
    await repo.save_many([missed("m3", at(10, 3), kind=MissedKind.ABANDONED)])
    [cb] = await open_callbacks(callbacks)
    assert (
        cb["misses"] == 3 and cb["deadline_at"] == "2026-11-25T07:05:00Z"
    )  # the first miss sets it
    assert len(await callbacks.missed(MissedFilter())) == 3
    # after the callback is resolved, a new miss opens a new callback
    await repo.save_many([outbound("o1", at(10, 10)), missed("m4", at(11, 0))])
    assert [c["misses"] for c in await open_callbacks(callbacks)] == [1]


async def test_owner_when_the_manager_is_at_lunch_is_the_duty_operator(world) -> None:
    repo, callbacks, office, _ = world
    office.lunch = True
    await repo.save_many([missed("m1", at(12, 30))])
    [cb] = await open_callbacks(callbacks)
    assert (cb["owner"], cb["owner_reason"]) == ("petrov", "duty")


async def test_late_miss_from_vladivostok_is_due_in_their_morning(world) -> None:
    repo, callbacks, _, _ = world
    await repo.save_many([missed("m1", at(23, 30), number=FAR)])
    [cb] = await open_callbacks(callbacks)
    due = datetime.fromisoformat(cb["deadline_at"].replace("Z", "+00:00"))
    assert (
        due.astimezone(VLAT) == datetime(2026, 11, 26, 9, 0, tzinfo=VLAT)
        and cb["timezone"] == "Asia/Vladivostok"
    )


async def test_restart_between_miss_and_callback(world, database_url: str) -> None:
    repo, _, office, now = world
    await repo.save_many([missed("m1", at(10, 0))])
    # a new process: new engine, new book; nothing was kept in memory
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        clock = lambda: datetime(2026, 11, 25, 10, 30, tzinfo=MSK).astimezone(UTC)  # noqa: E731
        callbacks = Callbacks(session_factory=sessions, context=office.context, clock=clock)
        [cb] = await open_callbacks(callbacks)
        assert [c["id"] for c in await callbacks.escalate_due()] == [cb["id"]]
        assert await callbacks.escalate_due() == []  # escalated once, from stored times
        repo2 = CallRepository(
            session_factory=sessions, after_save=[CallbackBook(context=office.context).record_calls]
        )
        await repo2.save_many([outbound("o1", at(10, 40))])
        assert await open_callbacks(callbacks) == []
    finally:
        await engine.dispose()


async def test_duty_leaves_a_callback_for_the_manager_at_a_chosen_time(world) -> None:
    _, callbacks, _, _ = world
    three_pm = datetime(2026, 11, 25, 15, 0, tzinfo=MSK)
    cb = await callbacks.create(
        number=IVAN,
        by="petrov",
        owner="ivanova",
        note="call back about order 1234",
        requested_for=three_pm,
    )
    assert (cb["owner"], cb["created_by"], cb["source"], cb["note"]) == (
        "ivanova",
        "petrov",
        "agent",
        "call back about order 1234",
    )
    assert cb["deadline_at"] == "2026-11-25T12:00:00Z"
    with pytest.raises(CallbackError, match="outside the customer's callback window"):
        await callbacks.create(
            number=FAR, by="petrov", requested_for=three_pm
        )  # 22:00 in Vladivostok
    moved = await callbacks.reassign(
        cb["id"], to="sidorova", by="boss", reason="ivanova is off sick"
    )
    assert moved["owner"] == "sidorova"
    held = await callbacks.hold(cb["id"], by="sidorova")
    assert held["held_by"] == "sidorova"
    with pytest.raises(CallbackError, match="being called back by sidorova"):
        await callbacks.hold(cb["id"], by="petrov")
    with pytest.raises(CallbackError, match="needs a note"):
        await callbacks.resolve(cb["id"], by="sidorova", note=" ")
    closed = await callbacks.resolve(cb["id"], by="sidorova", note="order 1234 confirmed")
    assert (closed["state"], closed["resolution"]) == ("resolved", "manual")
    log = (await callbacks.get(cb["id"]))["log"]
    assert [e["action"] for e in log] == ["created", "reassigned", "held", "resolved"]
    assert log[1]["actor"] == "boss" and log[1]["detail"]["from"] == "ivanova"


async def test_withheld_number_is_listed_without_a_callback(world) -> None:
    repo, callbacks, _, _ = world
    await repo.save_many([replace(missed("m1", at(10, 0)), caller="anonymous", caller_e164=None)])
    [row] = await callbacks.missed(MissedFilter())
    assert row["callback_id"] is None and await open_callbacks(callbacks) == []


async def test_a_call_before_the_miss_does_not_resolve_it(world) -> None:
    repo, callbacks, _, _ = world
    await repo.save_many(
        [missed("m1", at(10, 0)), outbound("o-early", at(10, 0, 5))]
    )  # answered 9:59:45
    assert len(await open_callbacks(callbacks)) == 1


async def test_an_agents_missed_calls_are_found_behind_newer_ones_of_others(world) -> None:
    repo, callbacks, _, _ = world
    mine = dataclasses.replace(missed("m-mine", at(9, 0), number=FAR), agents_rung=("102",))
    others = [missed(f"m-{n}", at(10, n)) for n in range(3)]  # rang 101, newer
    await repo.save_many([mine, *others])
    rows = await callbacks.missed(MissedFilter(agent="102", limit=2))
    assert [r["linkedid"] for r in rows] == ["m-mine"]
    assert await callbacks.missed(MissedFilter(agent="10", limit=5)) == []  # "10" is not "101"


async def test_owner_whose_login_differs_from_the_extension_holds_retries_and_is_never_refused(
    world, database_url: str
) -> None:
    """ivanova's phone is 101: her unanswered attempt holds the callback as ivanova (not 101);
    she retries; a colleague is refused while the hold is fresh and may take it once it expired."""
    from datetime import timedelta

    from cti.db.models import Agent

    repo, callbacks, _, now = world
    engine = create_engine(database_url)
    async with session_factory(engine)() as session, session.begin():
        session.add(Agent(login="ivanova", name="Иванова", extension="101", device="PJSIP/101"))
        session.add(Agent(login="petrov", name="Петров", extension="102", device="PJSIP/102"))
    await engine.dispose()
    await repo.save_many([missed("m1", at(14, 50))])
    await repo.save_many([outbound("o1", at(14, 58), answered=False, agent="101")])
    [cb] = await open_callbacks(callbacks)
    assert (cb["attempts"], cb["held_by"]) == (1, "ivanova")
    assert (await callbacks.hold(cb["id"], by="ivanova"))["held_by"] == "ivanova"  # her retry
    await repo.save_many([outbound("o2", at(14, 59), answered=False, agent="101")])
    [cb] = await open_callbacks(callbacks)
    assert (cb["attempts"], cb["held_by"]) == (2, "ivanova")
    with pytest.raises(CallbackError, match=r"being called back by Иванова \(ivanova\)"):
        await callbacks.hold(cb["id"], by="petrov")
    now[0] = now[0] + timedelta(minutes=11)  # the hold expires 10 minutes after it was taken
    assert (await callbacks.hold(cb["id"], by="petrov"))["held_by"] == "petrov"
    assert (await callbacks.hold(cb["id"], by="ivanova"))["held_by"] == "ivanova"  # the owner


async def test_holds_name_logins_whatever_the_phones_are_called_and_expire_after_the_attempt(
    world, database_url: str
) -> None:
    """A real PBX names phones by their device's endpoint, which is neither the login nor the
    extension people dial: ivanova (extension 101) calls from PJSIP/2101, petrov (102) from
    PJSIP/2102. Whoever holds a callback (the owner, or a colleague helping) holds it by login,
    retries as often as needed without being refused, every attempt is counted, and the hold
    lets go 10 minutes after the last unanswered attempt ended."""
    from datetime import timedelta

    from cti.db.models import Agent

    repo, callbacks, _, now = world
    engine = create_engine(database_url)
    async with session_factory(engine)() as session, session.begin():
        session.add(Agent(login="ivanova", name="Иванова", extension="101", device="PJSIP/2101"))
        session.add(Agent(login="petrov", name="Петров", extension="102", device="PJSIP/2102"))
        session.add(Agent(login="sidorov", name="Сидоров", extension="103", device="PJSIP/2103"))
    await engine.dispose()
    start = datetime(2026, 11, 25, 15, 0, tzinfo=MSK)

    def minute(n: int) -> float:
        return (start + timedelta(minutes=n)).timestamp()

    await repo.save_many([missed("m1", at(14, 50))])  # ivanova's customer
    [cb] = await open_callbacks(callbacks)
    assert cb["owner"] == "ivanova"
    # petrov helps: he dials the number from his phone (the record names 2102), nobody answers
    await repo.save_many([outbound("o1", minute(1), answered=False, agent="2102")])
    [cb] = await open_callbacks(callbacks)
    assert (cb["attempts"], cb["held_by"], cb["held_by_name"]) == (1, "petrov", "Петров")
    now[0] = start + timedelta(minutes=2)
    assert (await callbacks.hold(cb["id"], by="petrov"))["held_by"] == "petrov"  # his retry
    await repo.save_many([outbound("o2", minute(3), answered=False, agent="2102")])
    # a third colleague is told who is calling back, by name and login
    with pytest.raises(CallbackError, match=r"being called back by Петров \(petrov\)"):
        await callbacks.hold(cb["id"], by="sidorov")
    # the owner may always try; her attempt from 2101 is hers, by login
    assert (await callbacks.hold(cb["id"], by="ivanova"))["held_by"] == "ivanova"
    await repo.save_many([outbound("o3", minute(5), answered=False, agent="2101")])
    [cb] = await open_callbacks(callbacks)
    assert (cb["attempts"], cb["held_by"]) == (3, "ivanova")
    assert cb["held_until"] == "2026-11-25T12:15:00Z"  # 10 min after her attempt ended
    now[0] = start + timedelta(minutes=7)
    assert (await callbacks.hold(cb["id"], by="ivanova"))["held_by"] == "ivanova"
    await repo.save_many([outbound("o4", minute(8), answered=False, agent="2101")])
    [cb] = await open_callbacks(callbacks)
    assert (cb["attempts"], cb["held_by"]) == (4, "ivanova")
    now[0] = start + timedelta(minutes=17)  # 9 minutes after her last attempt: still hers
    assert await callbacks.expire_holds() == []
    with pytest.raises(CallbackError, match="being called back by Иванова"):
        await callbacks.hold(cb["id"], by="sidorov")
    now[0] = start + timedelta(minutes=18)  # 10 minutes after: the hold expires
    [freed] = await callbacks.expire_holds()
    assert (freed["id"], freed["held_by"]) == (cb["id"], None)
    [cb] = await open_callbacks(callbacks)
    assert cb["held_by"] is None and cb["attempts"] == 4
    log = [entry["action"] for entry in (await callbacks.get(cb["id"]))["log"]]
    assert log.count("attempt") == 4 and log[-1] == "hold_expired"
    assert (await callbacks.hold(cb["id"], by="sidorov"))["held_by"] == "sidorov"
