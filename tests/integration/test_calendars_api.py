"""Shifts and business hours over the API: supervisors replace them, everyone reads them; bad
rows are a problem naming the line, and nothing changes. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from cti.auth.memory import MemoryAuthStore
from cti.auth.passwords import fast_passwords
from cti.auth.principal import Role, Scope
from cti.auth.service import AuthService
from cti.bus import InProcessBus
from cti.config import Settings
from cti.db.session import create_engine, session_factory
from cti.routing.setup import build_routing
from tests.integration.test_calendars_cli import ICS
from tests.integration.test_routing_cli import seed
from web.app import create_app

PASSWORD = "a long enough password"


async def _client(aiohttp_client: Any, database_url: str) -> tuple[Any, dict[str, dict]]:
    await seed(database_url)
    engine = create_engine(database_url)
    settings = Settings(database_url=database_url, routing_did_rules=("74951112233=sales",))
    routing, _ = build_routing(settings, session_factory(engine), live_calls=tuple)
    await routing.load()
    auth = AuthService(store=MemoryAuthStore(), passwords=fast_passwords())
    tokens: dict[str, dict[str, str]] = {}
    for login, role in (("ivanova", Role.AGENT), ("boss", Role.SUPERVISOR)):
        await auth.add_user(login, role=role, password=PASSWORD)
        _, token = await auth.create_token(login, scopes=frozenset({Scope.READ, Scope.WRITE}))
        tokens[login] = {"Authorization": f"Bearer {token}"}

    async def recent(limit: int, involving: Any = None) -> list[dict[str, Any]]:
        return []

    app = create_app(
        settings=settings,
        bus=InProcessBus(),
        live_calls=list,
        recent_calls=recent,
        health=lambda: {"status": "ok"},
        metrics=lambda: "",
        auth=auth,
        routing=routing,
    )

    async def dispose(_: Any) -> None:
        await engine.dispose()

    app.on_cleanup.append(dispose)
    return await aiohttp_client(app), tokens


async def test_supervisors_set_shifts_and_hours_and_everyone_reads_them(
    aiohttp_client: Any, database_url: str
) -> None:
    client, tokens = await _client(aiohttp_client, database_url)
    boss, agent = tokens["boss"], tokens["ivanova"]
    rows = {
        "rows": [
            {"who": "@sales", "days": "mon-fri", "hours": "09:00-18:00"},
            {
                "who": "ivanova",
                "days": "2026-11-23..2026-11-27",
                "hours": "off",
                "note": "vacation",
            },
        ]
    }
    denied = await client.put("/api/shifts", json=rows, headers=agent)
    assert denied.status == 403
    bad = await client.put(
        "/api/shifts",
        json={"rows": [*rows["rows"], {"who": "kozlov", "days": "mon", "hours": "9-18"}]},
        headers=boss,
    )
    assert bad.status == 422 and bad.content_type == "application/problem+json"
    problem = await bad.json()
    assert problem["detail"] == (
        "nothing changed: row 3: hours '9-18': time '9' is not HH:MM (e.g. 09:00, 24:00)"
    )
    assert problem["errors"][0]["row"] == 3
    ghost = await client.put(
        "/api/shifts",
        json={"rows": [{"who": "ghost", "days": "mon", "hours": "09:00-18:00"}]},
        headers=boss,
    )
    assert ghost.status == 422 and "ghost" in (await ghost.json())["detail"]
    missing = await client.put("/api/shifts", json={"rows": [{"who": "x"}]}, headers=boss)
    assert missing.status == 422 and "days" in (await missing.json())["detail"]
    assert (await (await client.get("/api/shifts", headers=agent)).json())["rows"] == []

    good = await client.put("/api/shifts", json=rows, headers=boss)
    assert good.status == 200 and (await good.json())["count"] == 2
    listed = (await (await client.get("/api/shifts", headers=agent)).json())["rows"]
    assert [(r["who"], r["hours"], r["note"]) for r in listed] == [
        ("@sales", "09:00-18:00", ""),
        ("ivanova", "off", "vacation"),
    ]
    now = await client.get("/api/shifts/now?at=2026-11-24T10:00", headers=agent)
    people = {a["login"]: a for a in (await now.json())["agents"]}
    assert people["ivanova"]["why"] == "Ivanova is off shift (vacation)"
    assert people["kozlov"]["on_shift"] is True and people["petrov"]["on_shift"] is None
    bad_at = await client.get("/api/shifts/now?at=tomorrow", headers=agent)
    assert bad_at.status == 400 and (await bad_at.json())["detail"].startswith("at: 'tomorrow'")

    csv = "line,days,hours,name\nsales,mon-fri,09:00-18:00,\n"
    hours = await client.put("/api/hours", data=csv, headers={**boss, "Content-Type": "text/csv"})
    assert hours.status == 200
    holidays = await client.put(
        "/api/hours/holidays", data=ICS, headers={**boss, "Content-Type": "text/calendar"}
    )
    assert holidays.status == 200 and (await holidays.json())["count"] == 1
    wrong = await client.put(
        "/api/hours/holidays", data="x", headers={**boss, "Content-Type": "text/plain"}
    )
    assert wrong.status == 415
    weekly = await client.put(
        "/api/hours/holidays", data=csv, headers={**boss, "Content-Type": "text/csv"}
    )
    assert weekly.status == 422 and "PUT /api/hours" in (await weekly.json())["detail"]
    status = await client.get(
        "/api/hours/status?did=74951112233&at=2027-01-04T11:00", headers=agent
    )
    body = await status.json()
    assert (body["team"], body["open"], body["holiday"]) == ("sales", False, "New Year holiday")
    assert body["next_open"].startswith("2027-01-11T09:00")
    listed_hours = (await (await client.get("/api/hours", headers=agent)).json())["rows"]
    assert [(r["line"], r["exception"]) for r in listed_hours] == [("sales", False), ("*", True)]
