"""A hand-computed day of the office (2026-11-25, Moscow) for the report tests; figures in
docs/reports.md's worked example and in the tests that use it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.db.calls import CallRepository
from cti.db.models import Agent
from cti.db.routing_models import AgentStateRow
from cti.missed.book import CallbackBook, MissContext
from cti.missed.model import OwnerContext

MSK = ZoneInfo("Europe/Moscow")
DAY = "2026-11-25"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=MSK)  #: when the report is read


def at(hh: int, mm: int, ss: int = 0, day: int = 25) -> float:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=MSK).timestamp()


def inbound(
    linkedid: str,
    start: float,
    *,
    wait: float,
    answered_by: str | None = None,
    talk: float = 0.0,
    rung: tuple[str, ...] = (),
    kind: MissedKind | None = None,
    short: bool = False,
    caller: str = "+79161110000",
    did: str = "74952220101",
    route_kind: str | None = None,
    fallback: bool | None = None,
) -> CallRecord:
    answered = answered_by is not None
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        caller=caller,
        caller_e164=caller,
        caller_name="",
        did=did,
        agents_rung=rung,
        answered_by=(answered_by,) if answered else (),
        outcome=Outcome.ANSWERED if answered else Outcome.MISSED,
        missed_kind=kind,
        short_abandon=short,
        started_at=start,
        answered_at=start + wait if answered else None,
        ended_at=start + wait + talk,
        wait_seconds=wait,
        talk_seconds=talk,
        route_kind=route_kind,
        fallback=fallback,
    )


def outbound(
    linkedid: str, start: float, *, agent: str, number: str, wait: float, talk: float
) -> CallRecord:
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.OUTBOUND,
        caller=agent,
        caller_e164=None,
        caller_name="",
        did=number,
        agents_rung=(agent,),
        answered_by=(agent,),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=start,
        answered_at=start + wait,
        ended_at=start + wait + talk,
        wait_seconds=wait,
        talk_seconds=talk,
        did_e164=number,
    )


CALLS = [
    inbound("c1", at(9, 0), wait=10, answered_by="101", talk=100, rung=("101",)),
    inbound("c2", at(9, 10), wait=20, answered_by="101", talk=200, rung=("101",)),  # T is inclusive
    inbound(
        "c3",
        at(12, 5),
        wait=30,
        answered_by="102",
        talk=60,
        rung=("101", "102"),
        route_kind="duty",
        fallback=True,
    ),
    inbound(
        "c4", at(12, 20), wait=40, rung=("101",), kind=MissedKind.NO_ANSWER, caller="+79160000001"
    ),
    inbound(
        "c5",
        at(12, 30),
        wait=3,
        rung=("102",),
        kind=MissedKind.ABANDONED,
        short=True,
        caller="+79160000002",
    ),
    inbound(
        "c6",
        at(12, 40),
        wait=25,
        rung=("101", "102"),
        kind=MissedKind.ABANDONED,
        caller="+79160000003",
    ),
    inbound("c7", at(13, 0), wait=5, answered_by="102", talk=30, rung=("102",), did="74952220202"),
    inbound(
        "c8",
        at(23, 30),
        wait=0,
        kind=MissedKind.OUT_OF_HOURS,
        caller="+79160000004",
        did="74952220202",
    ),
    # call-backs: c4's after 3 minutes (on time), c6's after 10 minutes (late)
    outbound("o1", at(12, 23), agent="102", number="+79160000001", wait=40, talk=20),
    outbound("o2", at(12, 50), agent="102", number="+79160000003", wait=25, talk=20),
    inbound(
        "c0", at(23, 0, day=24), wait=1, answered_by="101", talk=5, rung=("101",)
    ),  # the day before
]

#: what the day's summary must say, computed by hand (docs/reports.md, "A worked example")
EXPECTED: dict[str, Any] = {
    "offered": 8,
    "offered_in_hours": 7,
    "answered": 4,
    "missed": 4,
    "missed_in_hours": 3,
    "short_abandons": 1,
    "answered_within_threshold": 3,
    "missed_abandoned": 2,
    "missed_no_answer": 1,
    "missed_busy": 0,
    "missed_out_of_hours": 1,
    "service_level": 3 / 6,
    "service_level_answered": 3 / 4,
    "missed_rate": 2 / 6,
    "abandon_rate": 1 / 6,
    "average_speed_of_answer": 16.25,
    "average_wait": 16.625,
    "longest_wait": 40.0,
    "average_talk": 97.5,
    "fallbacks": 1,
    "duty_fallbacks": 1,
    "callbacks": 4,
    "callbacks_resolved": 2,
    "callbacks_open": 2,
    "callbacks_overdue": 2,
    "callback_median": 390.0,
    "callback_p90": 558.0,
    "callbacks_within_sla": 0.25,
    "callbacks_on_time": 0.25,
    "time_available": 8 * 3600.0,
    "time_paused": 3600.0,
    "time_offline": 6 * 3600.0,
    "time_dnd": 0.0,
}


async def duty_petrov(number: str, when: datetime) -> MissContext:
    return MissContext(
        customer_id=None, owner=OwnerContext(None, True, "petrov", None), timezone=MSK
    )


async def populate(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The agents, their states and the calls (with the missed calls and callbacks they make)."""
    async with sessions() as session, session.begin():
        session.add_all(
            [
                Agent(
                    login="ivanova",
                    name="Иванова",
                    extension="101",
                    device="PJSIP/101",
                    teams=["sales"],
                ),
                Agent(
                    login="petrov",
                    name="Petrov",
                    extension="102",
                    device="PJSIP/102",
                    teams=["sales"],
                ),
            ]
        )
        utc = lambda ts: datetime.fromtimestamp(ts, UTC)  # noqa: E731
        session.add_all(
            [
                AgentStateRow(
                    login="ivanova",
                    state="available",
                    started_at=utc(at(9, 0)),
                    ended_at=utc(at(12, 0)),
                ),
                AgentStateRow(
                    login="ivanova",
                    state="paused",
                    reason="lunch",
                    started_at=utc(at(12, 0)),
                    ended_at=utc(at(13, 0)),
                ),
                AgentStateRow(
                    login="ivanova",
                    state="available",
                    started_at=utc(at(13, 0)),
                    ended_at=utc(at(18, 0)),
                ),
                AgentStateRow(
                    login="ivanova", state="offline", started_at=utc(at(18, 0)), ended_at=None
                ),
            ]
        )
    repository = CallRepository(
        session_factory=sessions, after_save=[CallbackBook(context=duty_petrov).record_calls]
    )
    for record in sorted(CALLS, key=lambda r: r.ended_at):  # as the live server stores them
        await repository.save_many([record])


PASSWORD = "a long password for reports"


async def report_app(database_url: str) -> tuple[Any, dict[str, str], Any]:
    """The web app with the reports over the populated day: (app, bearer tokens, engine).
    People: boss (supervisor), ivanova (agent, 101), petrov (agent, 102)."""
    from cti.auth.memory import MemoryAuthStore
    from cti.auth.principal import Role, Scope
    from cti.auth.service import AuthService
    from cti.auth.store import Person
    from cti.bus import InProcessBus
    from cti.config import Settings
    from cti.db.migrate import upgrade
    from cti.db.session import create_engine, session_factory
    from cti.missed.callbacks import Callbacks
    from cti.reports.service import Reports
    from cti.routing.rules import parse_rules
    from web import reports_api
    from web.app import create_app

    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    await populate(sessions)
    store = MemoryAuthStore()
    auth = AuthService(store=store)
    tokens: dict[str, str] = {}
    for login, role, ext in (
        ("boss", Role.SUPERVISOR, ""),
        ("ivanova", Role.AGENT, "101"),
        ("petrov", Role.AGENT, "102"),
    ):
        await auth.add_user(login, role=role, password=PASSWORD)
        if ext:
            store.put_person(
                Person(
                    login=login, name=login.title(), role=role, extension=ext, device=f"PJSIP/{ext}"
                )
            )
        tokens[login] = (await auth.create_token(login, scopes=frozenset({Scope.READ})))[1]

    async def no_calls(limit: int, involving: frozenset[str] | None) -> list[dict[str, Any]]:
        return []

    app = create_app(
        settings=Settings(),
        bus=InProcessBus(),
        live_calls=list,
        recent_calls=no_calls,
        health=dict,
        metrics=str,
        auth=auth,
    )
    reports = Reports(
        sessions=sessions,
        timezone="Europe/Moscow",
        clock=lambda: NOW,
        did_rules=parse_rules(["74952220101=sales", "74952220202=support"]),
    )
    reports_api.setup(
        app, reports=reports, callbacks=Callbacks(session_factory=sessions, context=duty_petrov)
    )
    return app, tokens, engine
