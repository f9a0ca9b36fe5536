"""A closed line end to end: the stored calendar, FastAGI's answer to Asterisk, the call record's
miss kind, and the callback deadline at the line's next opening; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cti.app import call_store
from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.config import Settings
from cti.db.calendars import CalendarRepository
from cti.db.session import create_engine, session_factory
from cti.missed.callbacks import CallbackFilter
from cti.missed.model import CallbackState
from cti.routing.agi_peer import channel_env, run_agi
from cti.routing.dialplan import agi_route
from cti.routing.fastagi import FastAgiServer
from cti.routing.setup import build_routing
from cti.routing.timetable import make_row
from tests.integration.test_routing_cli import seed

MSK = ZoneInfo("Europe/Moscow")
#: Saturday 2027-01-02 03:00 Moscow: the New Year holidays
HOLIDAY_NIGHT = datetime(2027, 1, 2, 3, 0, tzinfo=MSK).timestamp()


def missed(linkedid: str, at: float, kind: MissedKind) -> CallRecord:
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        caller="+79990001122",
        caller_e164="+79990001122",
        caller_name="",
        did="74951112233",
        agents_rung=(),
        answered_by=(),
        outcome=Outcome.MISSED,
        missed_kind=kind,
        short_abandon=False,
        started_at=at,
        answered_at=None,
        ended_at=at + 30,
        wait_seconds=30.0,
        talk_seconds=0.0,
    )


async def test_a_call_to_a_closed_line_is_marked_and_called_back_at_the_opening(
    database_url: str,
) -> None:
    await seed(database_url)
    settings = Settings(
        database_url=database_url,
        routing_did_rules=("74951112233=sales",),
        routing_after_hours=("sales=voicemail",),
        agi_port=0,
    )
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        await CalendarRepository(session_factory=sessions).replace_line_rows(
            [
                make_row("sales", "mon-fri", "09:00-18:00"),
                make_row("*", "2027-01-01..2027-01-08", "closed", "New Year holiday"),
            ]
        )
        routing, _ = build_routing(settings, sessions, live_calls=tuple)
        await routing.load()
        routing._clock = lambda: HOLIDAY_NIGHT  # noqa: SLF001 - the call comes at 03:00
        server = FastAgiServer(routes={"route": agi_route(routing.decide)}, port=0, timeout=2.0)
        await server.start()
        try:
            env = channel_env(
                callerid="+79990001122", extension="74951112233", uniqueid="1798848000.1"
            )
            session = await run_agi("127.0.0.1", server.port, env)
        finally:
            await server.close()
        v = session.variables
        assert v["CTI_OUT_OF_HOURS"] == "1"
        assert v["CTI_CLOSED_REASON"] == "closed: New Year holiday (opens 2027-01-11 09:00)"
        assert (v["CTI_TARGET_COUNT"], v["CTI_KIND_1"]) == ("1", "voicemail")
        assert v["CTI_REASON_1"].startswith("voicemail: closed: New Year holiday")

        # the tracker saw no offer (no_agent); routing's decision says the line was closed
        record = routing.annotate(missed("1798848000.1", HOLIDAY_NIGHT, MissedKind.NO_AGENT))
        assert record.missed_kind is MissedKind.OUT_OF_HOURS
        assert record.route_kind == "voicemail"
        abandoned = missed("1798848000.2", HOLIDAY_NIGHT, MissedKind.ABANDONED)
        await routing.decide("+79990001123", "74951112233", key="1798848000.2")
        assert routing.annotate(abandoned).missed_kind is MissedKind.ABANDONED

        # the callback is due when the line opens (Monday after the holidays, 09:00 Moscow),
        # not five minutes after a miss at 03:00 on a holiday
        repository, callbacks = call_store(settings, sessions, routing=lambda: routing)
        await repository.save_many([record])
        listed = await callbacks.list(CallbackFilter(state=CallbackState.OPEN))
        assert len(listed) == 1
        due = datetime.fromisoformat(listed[0]["deadline_at"])
        assert due == datetime(2027, 1, 11, 9, 0, tzinfo=MSK).astimezone(UTC)
    finally:
        await engine.dispose()


async def test_an_announcement_only_line_still_marks_the_miss() -> None:
    from cti.routing.policy import AfterHours
    from tests.routing_world import office

    routing = office([HOLIDAY_NIGHT], after_hours={"*": AfterHours.parse("announcement")})
    await routing.load()
    routing.set_calendar([make_row("*", "2027-01-01..2027-01-08", "closed", "New Year holiday")])
    decision = await routing.decide("+79990001122", "74951112233", key="k1")
    assert decision.targets == () and decision.announcement == "cti-closed"
    record = routing.annotate(missed("k1", HOLIDAY_NIGHT, MissedKind.NO_AGENT))
    assert record.missed_kind is MissedKind.OUT_OF_HOURS and record.route_kind is None
