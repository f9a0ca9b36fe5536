"""Agents' states and the duty rota over the API, with who may do what."""

from __future__ import annotations

from typing import Any

import pytest

from cti.auth.memory import MemoryAuthStore
from cti.auth.passwords import fast_passwords
from cti.auth.principal import Role, Scope
from cti.auth.service import AuthService
from cti.bus import InProcessBus
from cti.config import Settings
from cti.routing.service import RoutingService
from tests.routing_world import LUNCHTIME, office
from web.app import create_app

PASSWORD = "a long enough password"


class Office:
    def __init__(self) -> None:
        self.clock = [LUNCHTIME]
        self.routing: RoutingService = office(self.clock)
        self.auth = AuthService(store=MemoryAuthStore(), passwords=fast_passwords())
        self.tokens: dict[str, dict[str, str]] = {}

    async def start(self) -> None:
        await self.routing.load()
        for login, role in (("ivanova", Role.AGENT), ("boss", Role.SUPERVISOR)):
            await self.auth.add_user(login, role=role, password=PASSWORD)
            _, token = await self.auth.create_token(
                login, scopes=frozenset({Scope.READ, Scope.WRITE})
            )
            self.tokens[login] = {"Authorization": f"Bearer {token}"}
        _, read_only = await self.auth.create_token("boss", scopes=frozenset({Scope.READ}))
        self.tokens["boss-read"] = {"Authorization": f"Bearer {read_only}"}

    def app(self) -> Any:
        async def recent(limit: int, involving: Any = None) -> list[dict[str, Any]]:
            return []

        return create_app(
            settings=Settings(),
            bus=InProcessBus(),
            live_calls=list,
            recent_calls=recent,
            health=lambda: {"status": "ok"},
            metrics=lambda: "",
            auth=self.auth,
            routing=self.routing,
        )


@pytest.fixture
async def world(aiohttp_client: Any) -> tuple[Office, Any]:
    o = Office()
    await o.start()
    return o, await aiohttp_client(o.app())


async def test_an_agent_goes_to_lunch_and_the_supervisor_sees_how_long(world) -> None:
    o, client = world
    agent, boss = o.tokens["ivanova"], o.tokens["boss"]
    resp = await client.post(
        "/api/agents/ivanova/state", json={"state": "paused", "reason": "lunch"}, headers=agent
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["state"] == "paused"
    o.clock[0] += 40 * 60
    listing = await (await client.get("/api/agents/states", headers=boss)).json()
    ivanova = next(a for a in listing["agents"] if a["login"] == "ivanova")
    assert (ivanova["state"], ivanova["reason"], ivanova["seconds_in_state"]) == (
        "paused",
        "lunch",
        2400.0,
    )
    assert ivanova["available"] is False and ivanova["why_not"] == "Ivanova is away (lunch)"
    mine = await (await client.get("/api/agents/states", headers=agent)).json()
    assert [a["login"] for a in mine["agents"]] == ["ivanova"]  # an agent sees their own
    resp = await client.post(
        "/api/agents/ivanova/state", json={"state": "available"}, headers=agent
    )
    assert resp.status == 200
    history = await (await client.get("/api/agents/ivanova/state-history", headers=boss)).json()
    assert history["totals"] == [
        {"state": "paused", "reason": "lunch", "seconds": 2400.0},
        {"state": "available", "reason": "", "seconds": 0.0},
    ]
    # routing follows at once: the manager is back
    decision = await (
        await client.get(
            "/api/route",
            params={"caller": "+79161234567", "did": "74951112233", "dry_run": "1"},
            headers=boss,
        )
    ).json()
    assert decision["targets"][0]["kind"] == "manager"


async def test_who_may_set_and_see_states(world) -> None:
    o, client = world
    agent, boss = o.tokens["ivanova"], o.tokens["boss"]
    resp = await client.post("/api/agents/kozlov/state", json={"state": "offline"}, headers=agent)
    assert resp.status == 403  # not her own
    resp = await client.post("/api/agents/kozlov/state", json={"state": "offline"}, headers=boss)
    assert resp.status == 200
    resp = await client.post(
        "/api/agents/kozlov/state", json={"state": "dnd"}, headers=o.tokens["boss-read"]
    )
    assert resp.status == 403  # a read-only token changes nothing
    assert (await client.get("/api/agents/kozlov/state-history", headers=agent)).status == 403
    assert (await client.get("/api/route", params={"caller": "1"}, headers=agent)).status == 403
    resp = await client.post("/api/agents/ghost/state", json={"state": "offline"}, headers=boss)
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    resp = await client.post("/api/agents/kozlov/state", json={"state": "sleeping"}, headers=boss)
    detail = (await resp.json())["detail"]
    assert resp.status == 422 and "state: 'sleeping' is not one of ['available'," in detail
    resp = await client.post("/api/agents/kozlov/state", data="lunch", headers=boss)
    assert resp.status == 400


async def test_the_rota_is_edited_over_the_api_and_decides_at_once(world) -> None:
    o, client = world
    agent, boss = o.tokens["ivanova"], o.tokens["boss"]
    now = await (await client.get("/api/duty/now", headers=agent)).json()
    assert [d["login"] for d in now["on_duty"]] == ["smirnova"] and now["on_duty"][0]["available"]
    row = {"login": "petrov", "days": "tue", "start": "12:00", "end": "13:00"}
    assert (await client.post("/api/duty", json=row, headers=agent)).status == 403
    resp = await client.post("/api/duty", json=row, headers=boss)
    assert resp.status == 201
    added = await resp.json()
    now = await (await client.get("/api/duty/now", headers=boss)).json()
    assert [d["login"] for d in now["on_duty"]] == ["smirnova", "petrov"]
    resp = await client.put(
        f"/api/duty/{added['id']}", json={**row, "start": "13:00", "end": "14:00"}, headers=boss
    )
    assert resp.status == 200 and (await resp.json())["start"] == "13:00"
    assert (await client.delete(f"/api/duty/{added['id']}", headers=boss)).status == 204
    assert (await client.delete(f"/api/duty/{added['id']}", headers=boss)).status == 404
    bad = await client.post("/api/duty", json={**row, "days": "someday"}, headers=boss)
    assert bad.status == 422 and "someday" in (await bad.json())["detail"]
    ghost = await client.post("/api/duty", json={**row, "login": "ghost"}, headers=boss)
    assert ghost.status == 422
    csv = "login,days,start,end\npetrov,daily,00:00,24:00\n"
    resp = await client.put("/api/duty", data=csv, headers={**boss, "Content-Type": "text/csv"})
    assert resp.status == 200 and (await resp.json())["count"] == 1
    listing = await (await client.get("/api/duty", headers=agent)).json()
    assert [(s["login"], s["days"]) for s in listing["shifts"]] == [("petrov", "daily")]
    broken = await client.put(
        "/api/duty", data="petrov,daily,25:00,24:00\n", headers={**boss, "Content-Type": "text/csv"}
    )
    assert broken.status == 422 and "line 1" in (await broken.json())["detail"]
    decision = await (
        await client.get(
            "/api/route",
            params={"caller": "+79990000000", "did": "74951112233", "state": "ivanova=offline"},
            headers=boss,
        )
    ).json()
    assert [t["agent"] for t in decision["targets"] if t["kind"] == "duty"] == ["petrov"]
