"""The callbacks API over HTTP: agents see and work their own, supervisors all; bodies validated;
CSV exports safe for spreadsheets. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cti.auth.memory import MemoryAuthStore
from cti.auth.principal import Role, Scope
from cti.auth.service import AuthService
from cti.bus import InProcessBus
from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.config import Settings
from cti.db.calls import CallRepository
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from cti.missed.book import CallbackBook, MissContext
from cti.missed.callbacks import Callbacks
from cti.missed.model import OwnerContext
from web import callbacks_api
from web.app import create_app

MSK = ZoneInfo("Europe/Moscow")
IVAN, OTHER = "+79161234567", "+79031112233"


async def context(number: str, when: datetime) -> MissContext:
    manager = "ivanova" if number == IVAN else None
    return MissContext(
        customer_id=None, owner=OwnerContext(manager, True, "petrov", None), timezone=MSK
    )


def missed(linkedid: str, number: str, name: str = "") -> CallRecord:
    ended = datetime(2026, 11, 25, 10, 0, tzinfo=MSK).timestamp()
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        caller=number,
        caller_e164=number,
        caller_name=name,
        did="74952220101",
        agents_rung=("101",),
        answered_by=(),
        outcome=Outcome.MISSED,
        missed_kind=MissedKind.NO_ANSWER,
        short_abandon=False,
        started_at=ended - 10,
        answered_at=None,
        ended_at=ended,
        wait_seconds=10.0,
        talk_seconds=0.0,
    )


@dataclasses.dataclass
class Api:
    client: Any
    tokens: dict[str, str]

    def as_(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}


@pytest.fixture
async def api(aiohttp_client: Any, database_url: str) -> AsyncIterator[Api]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    repo = CallRepository(
        session_factory=sessions, after_save=[CallbackBook(context=context).record_calls]
    )
    await repo.save_many([missed("m1", IVAN, '=HYPERLINK("http://evil")'), missed("m2", OTHER)])
    auth = AuthService(store=MemoryAuthStore())
    tokens = {}
    for login, role in (("ivanova", Role.AGENT), ("petrov", Role.AGENT), ("boss", Role.SUPERVISOR)):
        await auth.add_user(login, role=role, password="a long password 123")
        tokens[login] = (
            await auth.create_token(login, scopes=frozenset({Scope.READ, Scope.WRITE}))
        )[1]
    app = create_app(
        settings=Settings(),
        bus=InProcessBus(),
        live_calls=list,
        recent_calls=_no_calls,
        health=dict,
        metrics=str,
        auth=auth,
    )
    callbacks_api.setup(
        app, callbacks=Callbacks(session_factory=sessions, context=context), default_region="RU"
    )
    try:
        yield Api(await aiohttp_client(app), tokens)
    finally:
        await engine.dispose()


async def _no_calls(limit: int, involving: frozenset[str] | None) -> list[dict[str, Any]]:
    return []


async def problem(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    return (await resp.json(content_type=None))["detail"]


async def test_agents_see_only_their_own_callbacks(api: Api) -> None:
    c = api.client
    mine = await (await c.get("/api/callbacks", headers=api.as_("ivanova"))).json()
    assert [cb["number"] for cb in mine["callbacks"]] == [IVAN]
    assert "own callbacks" in await problem(
        await c.get("/api/callbacks?owner=petrov", headers=api.as_("ivanova")), 403
    )
    theirs = (await (await c.get("/api/callbacks", headers=api.as_("petrov"))).json())["callbacks"][
        0
    ]
    await problem(await c.get(f"/api/callbacks/{theirs['id']}", headers=api.as_("ivanova")), 404)
    every = await (await c.get("/api/callbacks?state=open", headers=api.as_("boss"))).json()
    assert sorted(cb["owner"] for cb in every["callbacks"]) == ["ivanova", "petrov"]
    await problem(await c.get("/api/callbacks"), 401)


async def test_missed_list_filters_and_safe_csv(api: Api) -> None:
    c = api.client
    rows = (await (await c.get("/api/missed?kind=no_answer", headers=api.as_("boss"))).json())[
        "missed"
    ]
    assert len(rows) == 2
    csv = await c.get("/api/missed?format=csv", headers=api.as_("boss"))
    assert csv.headers["Content-Type"].startswith("text/csv")
    text = await csv.text()
    assert "'=HYPERLINK" in text and ";=HYPERLINK" not in text and ",=HYPERLINK" not in text
    assert "kind must be" in await problem(
        await c.get("/api/missed?kind=lost", headers=api.as_("boss")), 400
    )
    assert "time zone offset" in await problem(
        await c.get("/api/missed?from=2026-11-25T09:00:00", headers=api.as_("boss")), 400
    )


async def test_leaving_and_working_a_callback(api: Api) -> None:
    c, duty = api.client, api.as_("petrov")
    detail = await problem(await c.post("/api/callbacks", json={"note": "x"}, headers=duty), 422)
    assert detail.startswith("number")
    detail = await problem(
        await c.post("/api/callbacks", json={"number": "+7916", "colour": 1}, headers=duty), 422
    )
    assert "colour" in detail
    assert "not a phone number" in await problem(
        await c.post("/api/callbacks", json={"number": "hello"}, headers=duty), 422
    )
    night = {"number": "8 926 555-00-00", "requested_for": "2026-11-25T23:00:00+03:00"}
    assert "outside the customer's callback window" in await problem(
        await c.post("/api/callbacks", json=night, headers=duty), 422
    )
    left = await c.post(
        "/api/callbacks",
        headers=duty,
        json={
            "number": "8 926 555-00-00",
            "owner": "ivanova",
            "note": "call back about order 1234",
            "requested_for": "2026-11-25T15:00:00+03:00",
        },
    )
    assert left.status == 201
    cb = await left.json()
    assert (cb["number"], cb["owner"], cb["created_by"], cb["deadline_at"]) == (
        "+79265550000",
        "ivanova",
        "petrov",
        "2026-11-25T12:00:00Z",
    )
    mine = api.as_("ivanova")
    assert (await (await c.post(f"/api/callbacks/{cb['id']}/hold", headers=mine)).json())[
        "held_by"
    ] == "ivanova"
    assert "needs a note" in await problem(
        await c.post(f"/api/callbacks/{cb['id']}/resolve", json={"note": " "}, headers=mine), 422
    )
    done = await c.post(
        f"/api/callbacks/{cb['id']}/resolve", json={"note": "confirmed"}, headers=mine
    )
    assert (await done.json())["resolution"] == "manual"
    assert "already resolved" in await problem(
        await c.post(f"/api/callbacks/{cb['id']}/resolve", json={"note": "again"}, headers=mine),
        409,
    )


async def test_supervisor_reassigns_and_it_is_logged(api: Api) -> None:
    c, boss = api.client, api.as_("boss")
    cb = (await (await c.get("/api/callbacks?owner=ivanova", headers=boss)).json())["callbacks"][0]
    moved = await c.post(
        f"/api/callbacks/{cb['id']}/reassign",
        json={"owner": "petrov", "reason": "sick"},
        headers=boss,
    )
    assert (await moved.json())["owner"] == "petrov"
    log = (await (await c.get(f"/api/callbacks/{cb['id']}", headers=boss)).json())["log"]
    assert (
        log[-1]["action"] == "reassigned"
        and log[-1]["actor"] == "boss"
        and log[-1]["detail"]["from"] == "ivanova"
    )
    assert "owner" in await problem(
        await c.post(f"/api/callbacks/{cb['id']}/reassign", json={}, headers=boss), 422
    )


async def test_an_agent_cannot_read_or_take_over_a_colleagues_callback_by_its_number(
    api: Api,
) -> None:
    """IVAN's open callback belongs to ivanova: petrov leaving one for the same number adds his
    note to hers, learns only whose it is, and cannot make it his."""
    c, petrov = api.client, api.as_("petrov")
    taken = await c.post("/api/callbacks", json={"number": IVAN, "owner": "petrov"}, headers=petrov)
    assert "belongs to ivanova" in await problem(taken, 403)
    left = await c.post(
        "/api/callbacks", json={"number": IVAN, "note": "he called the shop too"}, headers=petrov
    )
    assert left.status == 202
    body = await left.json()
    assert set(body) == {"id", "owner", "state", "detail"} and body["owner"] == "ivanova"
    mine = (await (await c.get("/api/callbacks", headers=api.as_("ivanova"))).json())["callbacks"]
    cb = next(x for x in mine if x["number"] == IVAN)
    assert cb["owner"] == "ivanova" and "he called the shop too" in cb["note"]
    boss = await c.post(
        "/api/callbacks", json={"number": IVAN, "owner": "petrov"}, headers=api.as_("boss")
    )
    assert boss.status == 201 and (await boss.json())["owner"] == "petrov"
