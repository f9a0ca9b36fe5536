"""Who may see and change which customer, over real HTTP on SQLite and PostgreSQL: every customer
route and every field against every kind of principal (an agent on their own customer and on a
colleague's, a supervisor, an administrator, read-only and read-write tokens); agents_see all,
team and own; numbers of another customer (409, add anyway, never taken from a colleague's
customer); merging two customers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cti.auth.principal import Role, Scope
from cti.auth.setup import auth_service
from cti.bus import InProcessBus
from cti.calls.model import CallRecord, Direction, Outcome
from cti.config import Settings
from cti.customers.access import CustomerPolicy, Visibility
from cti.customers.directory import CallerDirectory
from cti.customers.service import AgentService, CustomerService, DirectoryServices
from cti.db.calls import CallRepository
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from web.app import create_app

READ_WRITE = frozenset({Scope.READ, Scope.WRITE})
READ = frozenset({Scope.READ})
#: one value per field that differs from what the customers below have
CHANGES: dict[str, Any] = {
    "name": "Новое имя",
    "company": "Новая компания",
    "phones": ["+7 903 000-00-99"],
    "notes": "перезвонить после обеда",
    "manager_login": "boss",
    "vip": False,
    "timezone": "Asia/Yekaterinburg",
    "crm_url": "https://crm.example.com/c/changed",
    "external_id": "changed-id",
    "orders": [
        {"number": "Z-1", "date": "2026-11-20", "status": "paid", "amount": "1", "currency": "RUB"}
    ],
}
AGENT_FIELDS = {"name", "company", "phones", "notes"}


@dataclasses.dataclass
class World:
    client: Any
    tokens: dict[str, str]
    repo: CallRepository
    customers: dict[str, int]

    async def call(
        self, method: str, path: str, who: str = "admin", **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        async with self.client.request(method, path, headers=headers, **kwargs) as resp:
            text = await resp.text()
            if resp.status >= 400:
                assert resp.headers["Content-Type"].startswith("application/problem+json"), text
            return resp.status, (json.loads(text) if text else None)


async def _world(aiohttp_client: Any, database_url: str, agents_see: Visibility) -> World:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    callers = CallerDirectory(engine=engine, region="RU")
    await callers.reload()
    agents = AgentService(sessions=sessions, region="RU", directory=callers)
    for login, role, ext, team in (
        ("ivanova", "agent", "101", "sales"),
        ("petrov", "agent", "102", "sales"),
        ("orlov", "agent", "103", "support"),
        ("boss", "supervisor", "", "sales"),
        ("root", "admin", "", ""),
    ):
        body = {"login": login, "name": login.title(), "role": role, "extension": ext}
        await agents.save(None, {**body, "teams": [team] if team else []}, actor="test")
    customers = CustomerService(
        sessions=sessions,
        region="RU",
        office_timezone="Europe/Moscow",
        directory=callers,
        policy=CustomerPolicy(agents_see=agents_see),
    )
    ids = {}
    for key, manager, phone in (
        ("ivanova", "ivanova", "+7 916 111-11-11"),
        ("petrov", "petrov", "+7 916 222-22-22"),
        ("orlov", "orlov", "+7 916 333-33-33"),
        ("nobody", None, "+7 916 444-44-44"),
    ):
        created = await customers.create(
            {
                "name": f"Customer {key}",
                "phones": [phone],
                "vip": True,
                "manager_login": manager,
                "external_id": f"crm-{key}",
            },
            actor="cli",
        )
        ids[key] = created["id"]
    auth = auth_service(Settings(), sessions)
    tokens = {}
    for login, who, scopes in (
        ("ivanova", "ivanova", READ_WRITE),
        ("petrov", "petrov", READ_WRITE),
        ("orlov", "orlov", READ_WRITE),
        ("boss", "boss", READ_WRITE),
        ("admin", "root", frozenset(Scope)),
        ("ivanova-read", "ivanova", READ),
        ("boss-read", "boss", READ),
    ):
        role = {"boss": Role.SUPERVISOR, "root": Role.ADMIN}.get(who, Role.AGENT)
        await auth.add_user(who, role=role, password="a long password 123")
        tokens[login] = (await auth.create_token(who, scopes=scopes))[1]
    app = create_app(
        settings=Settings(),
        bus=InProcessBus(),
        live_calls=list,
        recent_calls=_no_calls,
        health=dict,
        metrics=str,
        auth=auth,
        directory=DirectoryServices(customers=customers, agents=agents, callers=callers),
    )
    app.on_cleanup.append(lambda _: engine.dispose())
    client = await aiohttp_client(app)
    return World(client, tokens, CallRepository(session_factory=sessions), ids)


async def _no_calls(limit: int, involving: frozenset[str] | None = None) -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def world(aiohttp_client: Any, database_url: str) -> AsyncIterator[World]:
    yield await _world(aiohttp_client, database_url, Visibility.ALL)


@pytest.fixture
async def own_world(aiohttp_client: Any, database_url: str) -> AsyncIterator[World]:
    yield await _world(aiohttp_client, database_url, Visibility.OWN)


@pytest.fixture
async def team_world(aiohttp_client: Any, database_url: str) -> AsyncIterator[World]:
    yield await _world(aiohttp_client, database_url, Visibility.TEAM)


# --- field x role --------------------------------------------------------------------------------

#: (who, whose customer, fields that may change); the rest is refused, naming the field
MATRIX = [
    ("ivanova", "ivanova", AGENT_FIELDS),
    ("ivanova", "petrov", set()),
    ("ivanova", "nobody", set()),  # an imported card nobody manages is not hers
    ("boss", "petrov", set(CHANGES)),
    ("admin", "ivanova", set(CHANGES)),
]


@pytest.mark.parametrize(("who", "whose", "allowed"), MATRIX)
async def test_each_field_by_each_role(world: World, who: str, whose: str, allowed: set) -> None:
    cid = world.customers[whose]
    for name, value in CHANGES.items():
        if name == "manager_login" and whose == "nobody":
            value = "ivanova"  # taking an unmanaged customer over is a handover too
        status, body = await world.call("PATCH", f"/api/customers/{cid}", who, json={name: value})
        if name in allowed:
            assert status == 200, (name, body)
        else:
            assert status == 403, (name, body)
            assert [e["field"] for e in body["errors"]] == [name], body
            assert name in body["detail"]
    _, card = await world.call("GET", f"/api/customers/{cid}", who)
    assert set(card["editable"]) == allowed
    if who == "ivanova":  # her read-only token may change nothing, whatever the card
        _, card = await world.call("GET", f"/api/customers/{cid}", "ivanova-read")
        assert card["editable"] == []


async def test_a_refused_change_changes_nothing_and_is_not_in_the_history(world: World) -> None:
    cid = world.customers["petrov"]
    status, body = await world.call(
        "PATCH",
        f"/api/customers/{cid}",
        "ivanova",
        json={"vip": False, "phones": ["+7 903 123-45-67"], "crm_url": None},
    )
    assert status == 403
    # crm_url was empty already: not a change, so not refused
    assert sorted(e["field"] for e in body["errors"]) == ["phones", "vip"]
    _, card = await world.call("GET", f"/api/customers/{cid}")
    assert card["vip"] is True and [p["e164"] for p in card["phones"]] == ["+79162222222"]
    _, history = await world.call("GET", f"/api/customers/{cid}/history")
    assert [e["action"] for e in history["history"]] == ["create"]


async def test_an_agent_edits_their_own_new_card_but_not_its_vip_flag(world: World) -> None:
    status, mine = await world.call(
        "POST", "/api/customers", "orlov", json={"name": "Новый", "phones": ["+7 903 555-00-01"]}
    )
    assert status == 201 and mine["created_by"] == "orlov" and mine["source"] == "manual"
    assert set(mine["editable"]) == AGENT_FIELDS
    path = f"/api/customers/{mine['id']}"
    assert (await world.call("PATCH", path, "orlov", json={"notes": "строка 1\nстрока 2"}))[
        0
    ] == 200
    assert (await world.call("PATCH", path, "petrov", json={"notes": "чужое"}))[0] == 403
    status, body = await world.call("PATCH", path, "orlov", json={"vip": True})
    assert status == 403 and [e["field"] for e in body["errors"]] == ["vip"]
    status, body = await world.call(
        "POST", "/api/customers", "orlov", json={"name": "VIP", "vip": True}
    )
    assert status == 403 and [e["field"] for e in body["errors"]] == ["vip"]
    # naming themselves the manager of their own new card is theirs to do; someone else is not
    assert (
        await world.call(
            "POST", "/api/customers", "orlov", json={"name": "A", "manager_login": "orlov"}
        )
    )[0] == 201
    status, body = await world.call(
        "POST", "/api/customers", "orlov", json={"name": "B", "manager_login": "petrov"}
    )
    assert status == 403 and [e["field"] for e in body["errors"]] == ["manager_login"]


async def test_routes_for_each_token(world: World) -> None:
    cid = world.customers["ivanova"]
    card = f"/api/customers/{cid}"
    table = [
        ("GET", "/api/customers", None, {"ivanova": 200, "ivanova-read": 200, "boss-read": 200}),
        ("GET", card, None, {"ivanova": 200, "ivanova-read": 200, "boss-read": 200}),
        ("GET", f"{card}/history", None, {"ivanova-read": 200, "boss-read": 200}),
        ("GET", f"{card}/calls", None, {"ivanova-read": 200, "boss-read": 200}),
        (
            "PATCH",
            card,
            {"notes": "x"},
            {"orlov": 403, "ivanova-read": 403, "boss-read": 403, "ivanova": 200},
        ),
        (
            "PUT",
            card,
            {"name": "Same", "phones": ["+7 916 111-11-11"], "manager_login": "ivanova"},
            {"ivanova": 403, "boss": 200, "ivanova-read": 403},  # PUT resets vip: not hers
        ),
        (
            "POST",
            "/api/customers/bulk",
            {"customers": [{"external_id": "b1", "name": "B"}]},
            {"ivanova": 403, "boss-read": 403, "boss": 200},
        ),
        (
            "POST",
            f"{card}/merge",
            {"from": world.customers["nobody"]},
            {"ivanova": 403, "boss-read": 403},
        ),
        (
            "DELETE",
            f"/api/customers/{world.customers['orlov']}",
            None,
            {"orlov": 403, "boss-read": 403, "boss": 204},
        ),
    ]
    for method, path, body, expected in table:
        for who, status in expected.items():
            got, answer = await world.call(method, path, who, json=body)
            assert got == status, (method, path, who, answer)


# --- seeing ----------------------------------------------------------------------------------------


async def _call_of(world: World, whose: str, extension: str) -> None:
    record = CallRecord(
        linkedid=f"call-{whose}-{extension}",
        direction=Direction.INBOUND,
        caller="+79162222222",
        caller_e164="+79162222222",
        caller_name="",
        did="74950000000",
        agents_rung=(extension,),
        answered_by=(extension,),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=1_764_000_000.0,
        answered_at=1_764_000_005.0,
        ended_at=1_764_000_060.0,
        wait_seconds=5.0,
        talk_seconds=55.0,
        customer_id=world.customers[whose],
    )
    await world.repo.save_many([record])


async def _listed(world: World, who: str) -> set[str]:
    status, page = await world.call("GET", "/api/customers?limit=100", who)
    assert status == 200
    names = {v: k for k, v in world.customers.items()}
    return {names[c["id"]] for c in page["customers"] if c["id"] in names}


async def test_agents_see_all_by_default_but_only_calls_they_took_part_in(world: World) -> None:
    await _call_of(world, "petrov", "102")
    assert await _listed(world, "ivanova") == set(world.customers)
    path = f"/api/customers/{world.customers['petrov']}/calls"
    assert [c["linkedid"] for c in (await world.call("GET", path, "ivanova"))[1]["calls"]] == []
    assert len((await world.call("GET", path, "petrov"))[1]["calls"]) == 1
    assert len((await world.call("GET", path, "boss-read"))[1]["calls"]) == 1


async def test_agents_see_their_own_and_those_who_called_them(own_world: World) -> None:
    world = own_world
    await _call_of(world, "petrov", "101")  # Petrov's customer called Ivanova once
    assert await _listed(world, "ivanova") == {"ivanova", "petrov"}
    assert await _listed(world, "orlov") == {"orlov"}
    assert await _listed(world, "boss-read") == set(world.customers)
    hidden = world.customers["nobody"]
    for path in (
        f"/api/customers/{hidden}",
        f"/api/customers/{hidden}/history",
        f"/api/customers/{hidden}/calls",
    ):
        assert (await world.call("GET", path, "ivanova"))[0] == 404
    assert (await world.call("PATCH", f"/api/customers/{hidden}", "ivanova", json={"notes": "x"}))[
        0
    ] == 404
    # nor does the caller lookup name a customer she may not see
    _, found = await world.call(
        "GET", "/api/customers/lookup", "ivanova", params={"phone": "89164444444"}
    )
    assert found["customer_id"] is None and found["name"] is None and found["candidates"] == []
    _, found = await world.call(
        "GET", "/api/customers/lookup", "ivanova", params={"phone": "89162222222"}
    )
    assert found["customer_id"] == world.customers["petrov"]  # he called her
    _, found = await world.call(
        "GET", "/api/customers/lookup", "boss", params={"phone": "89164444444"}
    )
    assert found["customer_id"] == hidden
    # a card she creates is hers to see
    _, mine = await world.call("POST", "/api/customers", "ivanova", json={"name": "Новая"})
    assert (await world.call("GET", f"/api/customers/{mine['id']}", "ivanova"))[0] == 200


async def test_agents_see_their_teams_customers(team_world: World) -> None:
    assert await _listed(team_world, "ivanova") == {"ivanova", "petrov"}
    assert await _listed(team_world, "orlov") == {"orlov"}


# --- numbers of another customer -------------------------------------------------------------------


async def test_a_number_of_another_customer_is_a_conflict_naming_it(world: World) -> None:
    status, body = await world.call(
        "POST", "/api/customers", "boss", json={"name": "Двойник", "phones": ["8 916 222-22-22"]}
    )
    assert status == 409
    assert [e["field"] for e in body["errors"]] == ["phones[0]"]
    assert [c["id"] for c in body["existing"]] == [world.customers["petrov"]]
    assert body["existing"][0]["name"] == "Customer petrov"
    _, page = await world.call("GET", "/api/customers?q=Двойник")
    assert page["customers"] == []  # nothing was written
    status, added = await world.call(
        "POST",
        "/api/customers?allow_duplicates=1",
        "boss",
        json={"name": "Двойник", "phones": ["8 916 222-22-22"]},
    )
    assert status == 201 and added["phones"][0]["e164"] == "+79162222222"


async def test_an_agent_never_takes_a_colleagues_customers_number(world: World) -> None:
    mine = f"/api/customers/{world.customers['ivanova']}"
    for query in ("", "?allow_duplicates=1"):
        status, body = await world.call(
            "PATCH", mine + query, "ivanova", json={"phones": ["+7 916 222-22-22"]}
        )
        assert status == 403, body
        assert [e["field"] for e in body["errors"]] == ["phones[0]"]
        assert "petrov" in body["errors"][0]["reason"]
    status, body = await world.call(
        "POST",
        "/api/customers?allow_duplicates=1",
        "ivanova",
        json={"name": "X", "phones": ["+7 916 222-22-22"]},
    )
    assert status == 403
    # a number of a customer nobody manages: a conflict she may resolve by adding anyway
    nobody = "+7 916 444-44-44"
    assert (await world.call("PATCH", mine, "ivanova", json={"phones": [nobody]}))[0] == 409
    assert (
        await world.call(
            "PATCH", mine + "?allow_duplicates=1", "ivanova", json={"phones": [nobody]}
        )
    )[0] == 200


# --- merging ---------------------------------------------------------------------------------------


async def test_a_supervisor_merges_two_customers(world: World) -> None:
    target, source = world.customers["ivanova"], world.customers["nobody"]
    await world.call(
        "PATCH",
        f"/api/customers/{source}",
        json={
            "company": "Уютный дом",
            "orders": [
                {
                    "number": "A-1",
                    "date": "2026-11-01",
                    "status": "paid",
                    "amount": "100",
                    "currency": "RUB",
                }
            ],
        },
    )
    await _call_of(world, "nobody", "101")
    status, merged = await world.call(
        "POST", f"/api/customers/{target}/merge", "boss", json={"from": source}
    )
    assert status == 200, merged
    assert [p["e164"] for p in merged["phones"]] == ["+79161111111", "+79164444444"]
    assert merged["company"] == "Уютный дом" and merged["orders"]["count"] == 1
    assert merged["manager_login"] == "ivanova" and merged["external_id"] == "crm-ivanova"
    assert (await world.call("GET", f"/api/customers/{source}"))[0] == 404
    _, calls = await world.call("GET", f"/api/customers/{target}/calls")
    assert [c["linkedid"] for c in calls["calls"]] == ["call-nobody-101"]
    _, history = await world.call("GET", f"/api/customers/{target}/history")
    actions = [(e["action"], e["actor"], e["entity_id"]) for e in history["history"]]
    assert actions[0] == ("merge", "boss", target)
    assert ("create", "cli", target) in actions and len(
        [a for a in actions if a[0] == "create"]
    ) == 2
    _, found = await world.call("GET", "/api/customers/lookup", params={"phone": "89164444444"})
    assert found["customer_id"] == target and not found["ambiguous"]
    status, body = await world.call(
        "POST", f"/api/customers/{target}/merge", "boss", json={"from": target}
    )
    assert status == 422 and [e["field"] for e in body["errors"]] == ["from"]


# --- a shared number's pick ------------------------------------------------------------------------


async def test_a_pick_for_a_shared_number_holds_until_a_customer_with_it_changes(
    world: World,
) -> None:
    shared = "+7 916 111-11-11"  # Ivanova's customer's number, now also on a second card
    status, other = await world.call(
        "POST",
        "/api/customers?allow_duplicates=1",
        "boss",
        json={"name": "Второй", "phones": [shared]},
    )
    assert status == 201
    lookup = {"params": {"phone": "89161111111"}}
    _, found = await world.call("GET", "/api/customers/lookup", "ivanova", **lookup)
    assert found["customer_id"] == other["id"] and found["ambiguous"] and not found["chosen"]
    hers = world.customers["ivanova"]
    status, picked = await world.call(
        "POST",
        "/api/customers/lookup/choice",
        "ivanova",
        json={"phone": "8 916 111-11-11", "customer_id": hers},
    )
    assert status == 200 and picked["customer_id"] == hers and picked["chosen"]
    _, found = await world.call("GET", "/api/customers/lookup", "ivanova", **lookup)
    assert found["customer_id"] == hers and found["chosen"]
    # a customer that does not have the number, a number nobody shares: refused, naming the field
    status, body = await world.call(
        "POST",
        "/api/customers/lookup/choice",
        "ivanova",
        json={"phone": shared, "customer_id": world.customers["orlov"]},
    )
    assert status == 422 and [e["field"] for e in body["errors"]] == ["customer_id"]
    status, body = await world.call(
        "POST",
        "/api/customers/lookup/choice",
        "ivanova",
        json={"phone": "+7 916 333-33-33", "customer_id": world.customers["orlov"]},
    )
    assert status == 422 and [e["field"] for e in body["errors"]] == ["phone"]
    # the directory changes for that number: the usual rule again (the newest change wins)
    await world.call(
        "PATCH",
        f"/api/customers/{other['id']}",
        "boss",
        json={"phones": [shared, "+7 903 000-11-22"]},
    )
    _, found = await world.call("GET", "/api/customers/lookup", "ivanova", **lookup)
    assert found["customer_id"] == other["id"] and not found["chosen"]
