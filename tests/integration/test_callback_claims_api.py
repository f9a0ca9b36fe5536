"""The shared list over HTTP: the line's agents see and claim (409 naming who, when late);
supervisors assign one or many; others neither see nor assign. SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cti.auth.memory import MemoryAuthStore
from cti.auth.principal import Role, Scope
from cti.auth.service import AuthService
from cti.bus import InProcessBus
from cti.calls.model import MissedKind
from cti.config import Settings
from cti.db.calls import CallRepository
from cti.db.migrate import upgrade
from cti.db.models import Agent
from cti.db.session import create_engine, session_factory
from cti.missed.book import CallbackBook, CallbackPolicy, MissContext
from cti.missed.callbacks import Callbacks
from cti.missed.model import OwnerContext
from tests.integration.test_callbacks import MSK, at, missed
from web import callbacks_api
from web.app import create_app

SHARED, STRANGER = "+79031112244", "+79031112233"
PEOPLE = (
    ("ivanova", "Иванова", "101", ["sales"], Role.AGENT),
    ("petrov", "Петров", "102", ["sales"], Role.AGENT),
    ("kuznetsova", "Кузнецова", "104", ["support"], Role.AGENT),
    ("boss", "Начальник", "199", [], Role.SUPERVISOR),
)


async def context(number: str, when: Any) -> MissContext:
    return MissContext(customer_id=None, owner=OwnerContext(None, True, None, None), timezone=MSK)


@dataclasses.dataclass
class Api:
    client: Any
    tokens: dict[str, str]
    ids: dict[str, int]

    def as_(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}


@pytest.fixture
async def api(aiohttp_client: Any, database_url: str) -> AsyncIterator[Api]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        for login, name, ext, teams, _ in PEOPLE:
            session.add(
                Agent(login=login, name=name, extension=ext, device=f"PJSIP/{ext}", teams=teams)
            )
    policy = CallbackPolicy(line_team=lambda did: "sales")
    repo = CallRepository(
        session_factory=sessions,
        after_save=[CallbackBook(context=context, policy=policy).record_calls],
    )
    await repo.save_many(
        [
            missed("m1", at(10, 0), number=SHARED, kind=MissedKind.OUT_OF_HOURS),  # nobody rang
            missed("m2", at(10, 1), number=STRANGER),  # 101 rang: ivanova's
        ]
    )
    auth = AuthService(store=MemoryAuthStore())
    tokens = {}
    for login, _, _, _, role in PEOPLE:
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
    callbacks = Callbacks(session_factory=sessions, context=context, policy=policy)
    callbacks_api.setup(app, callbacks=callbacks, default_region="RU")
    client = await aiohttp_client(app)
    every = await (
        await client.get("/api/callbacks", headers={"Authorization": f"Bearer {tokens['boss']}"})
    ).json()
    ids = {cb["number"]: cb["id"] for cb in every["callbacks"]}
    try:
        yield Api(client, tokens, ids)
    finally:
        await engine.dispose()


async def _no_calls(limit: int, involving: frozenset[str] | None) -> list[dict[str, Any]]:
    return []


async def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    return await resp.json(content_type=None)


async def numbers(api: Api, login: str, query: str = "") -> list[str]:
    body = await (await api.client.get("/api/callbacks" + query, headers=api.as_(login))).json()
    return sorted(cb["number"] for cb in body["callbacks"])


async def test_the_lines_agents_see_the_shared_list_and_the_first_claim_wins(api: Api) -> None:
    c, shared = api.client, api.ids[SHARED]
    assert await numbers(api, "petrov") == [SHARED]
    assert await numbers(api, "ivanova") == sorted([SHARED, STRANGER])
    assert await numbers(api, "ivanova", "?shared=true") == [SHARED]
    assert await numbers(api, "kuznetsova") == []  # another team's line
    await problem(await c.get(f"/api/callbacks/{shared}", headers=api.as_("kuznetsova")), 404)
    await problem(
        await c.post(f"/api/callbacks/{shared}/claim", headers=api.as_("kuznetsova")), 404
    )
    got = await c.post(f"/api/callbacks/{shared}/claim", headers=api.as_("petrov"))
    assert got.status == 200
    assert ((body := await got.json())["owner"], body["shared"]) == ("petrov", False)
    late = await problem(
        await c.post(f"/api/callbacks/{shared}/claim", headers=api.as_("ivanova")), 409
    )
    assert "already claimed by Петров (petrov)" in late["detail"] and late["owner"] == "petrov"
    assert await numbers(api, "ivanova") == [STRANGER]  # gone from her list
    again = await c.post(f"/api/callbacks/{shared}/claim", headers=api.as_("petrov"))
    assert again.status == 200  # a double click
    await problem(await c.post("/api/callbacks/999999/claim", headers=api.as_("petrov")), 404)


async def test_supervisors_assign_one_or_many_and_agents_cannot(api: Api) -> None:
    c = api.client
    both = [api.ids[SHARED], api.ids[STRANGER]]
    body = {"ids": both, "owner": "petrov", "reason": "ivanova is on leave"}
    refused = await problem(
        await c.post("/api/callbacks/assign", json=body, headers=api.as_("ivanova")), 403
    )
    assert "supervisor" in refused["detail"]
    await problem(
        await c.post(
            "/api/callbacks/assign", json={"ids": [], "owner": "petrov"}, headers=api.as_("boss")
        ),
        422,
    )
    unknown = {"ids": both, "owner": "nobody-such"}
    assert (
        "no agent"
        in (
            await problem(
                await c.post("/api/callbacks/assign", json=unknown, headers=api.as_("boss")), 422
            )
        )["detail"]
    )
    missing = {"ids": [*both, 999999], "owner": "petrov"}
    await problem(await c.post("/api/callbacks/assign", json=missing, headers=api.as_("boss")), 404)
    assert await numbers(api, "petrov") == [SHARED]  # all or nothing: nothing moved
    done = await c.post("/api/callbacks/assign", json=body, headers=api.as_("boss"))
    assert done.status == 200
    assert [cb["owner"] for cb in (await done.json())["callbacks"]] == ["petrov", "petrov"]
    assert await numbers(api, "petrov") == sorted([SHARED, STRANGER])
    assert await numbers(api, "ivanova") == []
    detail = await (
        await c.get(f"/api/callbacks/{api.ids[STRANGER]}", headers=api.as_("boss"))
    ).json()
    [move] = [e for e in detail["log"] if e["action"] == "reassigned"]
    assert (move["actor"], move["detail"]["from"], move["detail"]["to"]) == (
        "boss",
        "ivanova",
        "petrov",
    )
