"""The customer directory's REST API over real HTTP, on SQLite and PostgreSQL: CRUD, validation
errors as problem+json naming the field, the caller lookup staying correct after changes, bulk
upserts, CSV uploads, agents, the audit of a handover, a customer's recent calls."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from cti.auth.memory import MemoryAuthStore
from cti.auth.principal import ALL_SCOPES, Role, Scope
from cti.auth.service import AuthService
from cti.bus import InProcessBus
from cti.calls.model import CallRecord, Direction, Outcome
from cti.config import Settings
from cti.customers.directory import CallerDirectory
from cti.customers.service import AgentService, CustomerService, DirectoryServices
from cti.db.calls import CallRepository
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from web.app import create_app
from web.customers_api import validator

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "api"
IVAN = {
    "external_id": "crm-1",
    "name": "Иван Сергеевич Кузнецов",
    "company": "Уютный дом",
    "phones": ["8 (916) 123-45-67", "+7 495 123 45 67"],
    "vip": True,
}


@dataclasses.dataclass
class Api:
    client: Any
    tokens: dict[str, str]
    callers: CallerDirectory
    repo: CallRepository

    def as_(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}

    async def call(
        self, method: str, path: str, who: str = "admin", **kwargs: Any
    ) -> tuple[int, Any]:
        async with self.client.request(method, path, headers=self.as_(who), **kwargs) as resp:
            text = await resp.text()
            if resp.status >= 400:
                assert resp.headers["Content-Type"].startswith("application/problem+json"), text
            return resp.status, (json.loads(text) if text else None)


@pytest.fixture
async def api(aiohttp_client: Any, database_url: str) -> AsyncIterator[Api]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    callers = CallerDirectory(engine=engine, region="RU")
    await callers.reload()
    directory = DirectoryServices(
        customers=CustomerService(
            sessions=sessions, region="RU", office_timezone="Europe/Moscow", directory=callers
        ),
        agents=AgentService(sessions=sessions, region="RU", directory=callers),
        callers=callers,
    )
    auth = AuthService(store=MemoryAuthStore())
    tokens = {}
    for login, role, scopes in (
        ("admin", Role.ADMIN, ALL_SCOPES),
        ("boss", Role.SUPERVISOR, frozenset({Scope.READ, Scope.WRITE})),
        ("ivanova", Role.AGENT, frozenset({Scope.READ, Scope.WRITE})),
        ("reader", Role.AGENT, frozenset({Scope.READ})),
    ):
        await auth.add_user(login, role=role, password="a long password 123")
        tokens[login] = (await auth.create_token(login, scopes=scopes))[1]
    app = create_app(
        settings=Settings(),
        bus=InProcessBus(),
        live_calls=list,
        recent_calls=_no_calls,
        health=dict,
        metrics=str,
        auth=auth,
        directory=directory,
    )
    try:
        yield Api(
            await aiohttp_client(app), tokens, callers, CallRepository(session_factory=sessions)
        )
    finally:
        await engine.dispose()


async def _no_calls(limit: int, involving: frozenset[str] | None = None) -> list[dict[str, Any]]:
    return []


async def add_agents(api: Api, *logins: str) -> None:
    for n, login in enumerate(logins):
        status, body = await api.call(
            "POST",
            "/api/agents",
            json={"login": login, "name": login.title(), "extension": str(101 + n)},
        )
        assert status == 201, body


def fields_of(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem["errors"]]


# --- CRUD ----------------------------------------------------------------------------------------


async def test_create_read_change_delete(api: Api) -> None:
    status, created = await api.call("POST", "/api/customers", json=IVAN)
    assert status == 201
    assert [p["e164"] for p in created["phones"]] == ["+79161234567", "+74951234567"]
    assert [p["raw"] for p in created["phones"]] == IVAN["phones"]
    # a mobile spans zones and a Moscow landline does not: together they do not agree
    assert (created["timezone"], created["timezone_source"]) == ("Europe/Moscow", "office")
    cid = created["id"]
    read = (await api.call("GET", f"/api/customers/{cid}", "reader"))[1]
    assert read.pop("editable") == []  # a read-only token changes nothing
    assert read == {k: v for k, v in created.items() if k != "editable"}

    status, patched = await api.call(
        "PATCH", f"/api/customers/{cid}", "boss", json={"phones": ["+7 343 212-34-56"]}
    )
    assert status == 200 and patched["name"] == IVAN["name"] and patched["vip"] is True
    assert (patched["timezone"], patched["timezone_source"]) == ("Asia/Yekaterinburg", "number")

    status, replaced = await api.call("PUT", f"/api/customers/{cid}", json={"name": "Иван К."})
    assert (
        status == 200
        and replaced["phones"] == []
        and replaced["vip"] is False
        and replaced["company"] == ""
    )

    status, page = await api.call("GET", "/api/customers?limit=10")
    assert [c["id"] for c in page["customers"]] == [cid] and page["next_after_id"] is None

    assert (await api.call("DELETE", f"/api/customers/{cid}", "ivanova"))[
        0
    ] == 403  # agents do not delete
    assert (await api.call("DELETE", f"/api/customers/{cid}", "boss"))[0] == 204
    assert (await api.call("GET", f"/api/customers/{cid}"))[0] == 404
    assert (await api.call("POST", "/api/customers", "reader", json=IVAN))[
        0
    ] == 403  # a read-only token


async def test_orders_make_the_summary(api: Api) -> None:
    body = {
        **IVAN,
        "orders": [
            {
                "number": "A-1",
                "date": "2026-11-01",
                "status": "delivered",
                "amount": "1000.50",
                "currency": "RUB",
            },
            {
                "number": "A-2",
                "date": "2026-11-20",
                "status": "paid",
                "amount": 250,
                "currency": "rub",
            },
        ],
    }
    status, created = await api.call("POST", "/api/customers", json=body)
    assert status == 201, created
    assert created["orders"]["count"] == 2 and created["orders"]["total"] == "1250.50"
    assert [o["number"] for o in created["orders"]["last"]] == ["A-2", "A-1"]
    more = {
        "orders": [
            {
                "number": "A-2",
                "date": "2026-11-20",
                "status": "shipped",
                "amount": "250",
                "currency": "RUB",
            }
        ]
    }
    _, patched = await api.call("PATCH", f"/api/customers/{created['id']}", json=more)
    assert patched["orders"]["count"] == 2 and patched["orders"]["last"][0]["status"] == "shipped"


# --- validation ------------------------------------------------------------------------------------


async def test_validation_errors_name_every_field(api: Api) -> None:
    status, problem = await api.call(
        "POST",
        "/api/customers",
        json={"name": "", "vip": "yes", "colour": "red", "phones": ["+7 916 123 45 67", 5]},
    )
    assert status == 422 and problem["title"] == "Invalid request"
    assert fields_of(problem) == ["colour", "name", "phones[1]", "vip"]
    assert "colour" in problem["detail"]

    status, problem = await api.call("POST", "/api/customers", json={"company": "x"})
    assert status == 422 and fields_of(problem) == ["name"]

    status, problem = await api.call(
        "POST",
        "/api/customers",
        json={
            "name": "X",
            "phones": ["8 916 123 45 67", "12", "call me"],
            "timezone": "Mars/Base",
            "manager_login": "ghost",
            "crm_url": "javascript:alert(1)",
        },
    )
    assert status == 422
    assert sorted(fields_of(problem)) == ["crm_url", "manager_login", "phones[1]", "timezone"]
    reasons = {e["field"]: e["reason"] for e in problem["errors"]}
    assert "too short" in reasons["phones[1]"] and "no agent" in reasons["manager_login"]

    status, problem = await api.call(
        "POST",
        "/api/customers",
        json={
            "name": "X",
            "orders": [{"number": "1", "date": "soon", "amount": "1.005", "currency": "RUB"}],
        },
    )
    assert status == 422 and sorted(fields_of(problem)) == [
        "orders[0].amount",
        "orders[0].date",
    ]  # the schema
    status, problem = await api.call(
        "POST",
        "/api/customers",
        json={
            "name": "X",
            "orders": [{"number": "1", "date": "sometime", "amount": "1", "currency": "RUB"}],
        },
    )
    assert status == 422 and fields_of(problem) == ["orders[0].date"]

    async with api.client.post(
        "/api/customers",
        data=b"{nope",
        headers={**api.as_("admin"), "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 400 and resp.headers["Content-Type"].startswith(
            "application/problem+json"
        )
    assert (await api.call("PATCH", "/api/customers/1", json={}))[0] == 422  # nothing to change
    assert (await api.call("PATCH", "/api/customers/999", json={"name": "x"}))[0] == 404
    assert (await api.call("GET", "/api/customers?limit=0"))[0] == 400


async def test_external_id_is_unique(api: Api) -> None:
    assert (await api.call("POST", "/api/customers", json=IVAN))[0] == 201
    status, problem = await api.call("POST", "/api/customers", json={**IVAN, "name": "Other"})
    assert status == 409 and fields_of(problem) == ["external_id"]


# --- lookup ----------------------------------------------------------------------------------------


async def test_lookup_in_every_format_and_after_every_change(api: Api) -> None:
    _, created = await api.call("POST", "/api/customers", json=IVAN)
    schema = Draft202012Validator(json.loads((SCHEMAS / "lookup.result.json").read_text()))
    for phone in (
        "8 (916) 123-45-67",
        "+7 916 123 45 67",
        "79161234567",
        "9161234567",
        "0079161234567",
    ):
        status, found = await api.call(
            "GET", "/api/customers/lookup", "reader", params={"phone": phone}
        )
        assert status == 200 and found["customer_id"] == created["id"], phone
        assert (
            found["normalized"] == "+79161234567"
            and not found["internal"]
            and not found["ambiguous"]
        )
        assert list(schema.iter_errors(found)) == []
    # the live lookup (in memory) sees each change as soon as the API answers
    await api.call(
        "PATCH",
        f"/api/customers/{created['id']}",
        json={"name": "Иван К.", "phones": ["+7 903 111 22 33"]},
    )
    assert api.callers.match_now("+79161234567").customer is None  # type: ignore[union-attr]
    assert api.callers.match_now("89031112233").customer.name == "Иван К."  # type: ignore[union-attr]
    status, duplicate = await api.call(
        "POST", "/api/customers", json={"name": "Анна", "phones": ["+7 903 111-22-33"]}
    )
    assert status == 409 and [c["id"] for c in duplicate["existing"]] == [created["id"]]
    _, other = await api.call(
        "POST",
        "/api/customers?allow_duplicates=1",  # a shared office line: added anyway
        json={"name": "Анна", "phones": ["+7 903 111-22-33"]},
    )
    status, found = await api.call("GET", "/api/customers/lookup", params={"phone": "+79031112233"})
    assert found["customer_id"] == other["id"] and found["ambiguous"]  # the newest change wins
    assert [c["customer_id"] for c in found["candidates"]] == [created["id"]]
    await api.call("DELETE", f"/api/customers/{other['id']}")
    _, found = await api.call("GET", "/api/customers/lookup", params={"phone": "+79031112233"})
    assert found["customer_id"] == created["id"] and not found["ambiguous"]
    _, none = await api.call("GET", "/api/customers/lookup", params={"phone": "anonymous"})
    assert none["customer_id"] is None and none["kind"] == "withheld"
    status, problem = await api.call("GET", "/api/customers/lookup")
    assert status == 422 and fields_of(problem) == ["phone"]


# --- handover and audit ------------------------------------------------------------------------------


async def test_handover_is_audited_and_reserved_to_supervisors(api: Api) -> None:
    await add_agents(api, "ivanova", "petrov")
    _, created = await api.call(
        "POST", "/api/customers", "boss", json={**IVAN, "manager_login": "ivanova"}
    )
    cid = created["id"]
    status, problem = await api.call(
        "PATCH", f"/api/customers/{cid}", "ivanova", json={"manager_login": "ivanova2"}
    )
    assert status in (403, 422)
    status, problem = await api.call(
        "PATCH", f"/api/customers/{cid}", "ivanova", json={"manager_login": "petrov"}
    )
    assert status == 403 and "supervisors" in problem["detail"]
    # an agent may still edit the card, and may create a card of their own
    assert (
        await api.call(
            "PATCH", f"/api/customers/{cid}", "ivanova", json={"company": "Уютный дом 2"}
        )
    )[0] == 200
    assert (
        await api.call(
            "POST", "/api/customers", "ivanova", json={"name": "Mine", "manager_login": "ivanova"}
        )
    )[0] == 201

    status, handed = await api.call(
        "PATCH", f"/api/customers/{cid}", "boss", json={"manager_login": "petrov"}
    )
    assert status == 200 and handed["manager_login"] == "petrov"
    _, history = await api.call("GET", f"/api/customers/{cid}/history", "reader")
    latest, edit, creation = history["history"]
    assert latest["actor"] == "boss" and latest["action"] == "update"
    assert latest["changes"] == {"manager_login": {"old": "ivanova", "new": "petrov"}}
    assert latest["at"].endswith("Z")
    assert edit["actor"] == "ivanova" and edit["changes"]["company"] == {
        "old": "Уютный дом",
        "new": "Уютный дом 2",
    }
    assert creation["action"] == "create" and creation["changes"]["phones"]["new"] == [
        "+79161234567",
        "+74951234567",
    ]
    # a petrov with customers cannot be deleted; history of agents too
    status, problem = await api.call("DELETE", "/api/agents/petrov")
    assert status == 409 and "hand them over" in problem["detail"]
    _, agent_history = await api.call("GET", "/api/agents/petrov/history")
    assert (
        agent_history["history"][0]["action"] == "create"
        and agent_history["history"][0]["actor"] == "admin"
    )


# --- agents ------------------------------------------------------------------------------------------


async def test_agents_are_configured_by_administrators(api: Api) -> None:
    body = {
        "login": "ivanova",
        "name": "Мария Иванова",
        "extension": "101",
        "mobile": "8 916 000-00-01",
        "teams": ["sales", "vip"],
        "seniority": 5,
        "max_calls": 2,
    }
    assert (await api.call("POST", "/api/agents", "boss", json=body))[0] == 403
    status, agent = await api.call("POST", "/api/agents", json=body)
    assert (
        status == 201
        and agent["device"] == "PJSIP/101"
        and agent["mobile"] == "+79160000001"
        and agent["role"] == "agent"
    )
    assert (await api.call("POST", "/api/agents", json=body))[0] == 409
    status, problem = await api.call(
        "POST", "/api/agents", json={**body, "login": "x y", "role": "boss", "extension": "10a"}
    )
    assert status == 422 and sorted(fields_of(problem)) == ["extension", "login", "role"]
    status, problem = await api.call("PATCH", "/api/agents/ivanova", json={"login": "other"})
    assert status == 422 and fields_of(problem) == ["login"]
    _, changed = await api.call(
        "PATCH", "/api/agents/ivanova", json={"role": "supervisor", "max_calls": 3}
    )
    assert (changed["role"], changed["max_calls"], changed["teams"]) == (
        "supervisor",
        3,
        ["sales", "vip"],
    )
    _, found = await api.call("GET", "/api/customers/lookup", params={"phone": "101"})
    assert found["internal"] is True and found["agent"] == "ivanova"
    _, listed = await api.call("GET", "/api/agents", "reader")
    assert [a["login"] for a in listed["agents"]] == ["ivanova"]
    assert (await api.call("DELETE", "/api/agents/ivanova"))[0] == 204
    assert (await api.call("GET", "/api/agents/ivanova"))[0] == 404


# --- bulk and CSV ------------------------------------------------------------------------------------


async def test_bulk_upsert_reports_by_index_and_is_idempotent(api: Api) -> None:
    items = [
        {"external_id": "b1", "name": "One", "phones": ["+7 916 000 00 01"]},
        {"external_id": "b2", "name": "Two", "phones": ["12"]},
        {"external_id": "b3"},  # new, without a name
        {"external_id": "b1", "name": "One again"},  # duplicate in the request
    ]
    status, report = await api.call(
        "POST", "/api/customers/bulk", "boss", json={"customers": items}
    )
    assert status == 200, report
    assert (report["created"], report["rejected"]) == (1, 3)
    assert [(e["index"], e["field"]) for e in report["errors"]] == [
        (1, "phones[0]"),
        (2, "name"),
        (3, "external_id"),
    ]
    status, again = await api.call(
        "POST", "/api/customers/bulk", "boss", json={"customers": items[:1]}
    )
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1)
    _, changed = await api.call(
        "POST",
        "/api/customers/bulk",
        "boss",
        json={"customers": [{"external_id": "b1", "vip": True}]},
    )
    assert changed["updated"] == 1
    assert (
        await api.call("POST", "/api/customers/bulk", "ivanova", json={"customers": items[:1]})
    )[0] == 403
    status, problem = await api.call(
        "POST", "/api/customers/bulk", "boss", json={"customers": [{"name": "no id"}]}
    )
    assert status == 422 and fields_of(problem) == ["customers[0].external_id"]
    schema = validator("import.report")
    assert list(schema.iter_errors(report)) == []


async def test_csv_upload_as_body_and_as_form(api: Api) -> None:
    text = "external_id;name;phones\nu1;Upload One;8 916 111-11-11\nu2;Upload Two;nope\n"
    async with api.client.post(
        "/api/customers/import?dry_run=1",
        data=text.encode(),
        headers={**api.as_("boss"), "Content-Type": "text/csv"},
    ) as resp:
        dry = await resp.json()
    assert (
        dry["dry_run"]
        and dry["created"] == 1
        and dry["errors"] == [{"row": 3, "field": "phones", "reason": dry["errors"][0]["reason"]}]
    )
    assert (await api.call("GET", "/api/customers/lookup", params={"phone": "89161111111"}))[1][
        "customer_id"
    ] is None
    form = aiohttp.FormData()
    form.add_field(
        "file", ("\ufeff" + text).encode(), filename="customers.csv", content_type="text/csv"
    )
    async with api.client.post("/api/customers/import", data=form, headers=api.as_("boss")) as resp:
        report = await resp.json()
    assert resp.status == 200 and report["created"] == 1 and report["rejected"] == 1
    assert (await api.call("GET", "/api/customers/lookup", params={"phone": "89161111111"}))[1][
        "name"
    ] == "Upload One"
    orders = "external_id,order_number,date,status,amount,currency\nu1,Z-1,2026-11-02,paid,99.90,EUR\nghost,Z-2,2026-11-02,paid,1,EUR\n"
    async with api.client.post(
        "/api/customers/orders/import",
        data=orders.encode(),
        headers={**api.as_("boss"), "Content-Type": "text/csv"},
    ) as resp:
        report = await resp.json()
    assert report["updated"] == 1 and [(e["row"], e["field"]) for e in report["errors"]] == [
        (3, "external_id")
    ]
    async with api.client.post(
        "/api/customers/import",
        data=b"name\nx\n",
        headers={**api.as_("boss"), "Content-Type": "text/csv"},
    ) as resp:
        problem = await resp.json(content_type=None)
    assert resp.status == 422 and "external_id" in problem["detail"]
    agents = "login,name,extension\nkim,Ким,105\n"
    async with api.client.post(
        "/api/agents/import",
        data=agents.encode(),
        headers={**api.as_("boss"), "Content-Type": "text/csv"},
    ) as resp:
        assert resp.status == 403
    async with api.client.post(
        "/api/agents/import",
        data=agents.encode(),
        headers={**api.as_("admin"), "Content-Type": "text/csv"},
    ) as resp:
        assert (await resp.json())["created"] == 1


# --- recent calls ----------------------------------------------------------------------------------


async def test_a_customers_recent_calls(api: Api) -> None:
    _, created = await api.call("POST", "/api/customers", json=IVAN)
    base = CallRecord(
        linkedid="1",
        direction=Direction.INBOUND,
        caller="89161234567",
        caller_e164="+79161234567",
        caller_name="",
        did="74950000000",
        agents_rung=("101",),
        answered_by=("101",),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=1_764_000_000.0,
        answered_at=1_764_000_005.0,
        ended_at=1_764_000_060.0,
        wait_seconds=5.0,
        talk_seconds=55.0,
    )
    await api.repo.save_many(
        [
            dataclasses.replace(base, linkedid="1", customer_id=created["id"]),
            dataclasses.replace(
                base, linkedid="2", customer_id=created["id"], started_at=1_764_000_100.0
            ),
            dataclasses.replace(base, linkedid="3", customer_id=None),
        ]
    )
    status, calls = await api.call("GET", f"/api/customers/{created['id']}/calls?limit=10", "boss")
    assert status == 200 and [c["linkedid"] for c in calls["calls"]] == ["2", "1"]
    assert calls["calls"][0]["customer_id"] == created["id"]
    assert (await api.call("GET", "/api/customers/999/calls"))[0] == 404


async def test_broken_uploads_are_client_errors(api: Api) -> None:
    headers = {**api.as_("boss")}
    async with api.client.post(
        "/api/customers/import",
        data=b"",
        headers={**headers, "Content-Type": "multipart/form-data"},
    ) as resp:
        assert resp.status == 400  # no boundary
    form = aiohttp.FormData()
    form.add_field("other", "{}")
    form.add_field("file", b"\xff|\xfe\x00`", filename="file")
    async with api.client.post("/api/customers/orders/import", data=form, headers=headers) as resp:
        assert resp.status == 422, await resp.text()
    async with api.client.post(
        "/api/customers/import",
        data="external_id,name\nc1,\ud800".encode("utf-8", "surrogatepass"),
        headers={**headers, "Content-Type": "text/csv"},
    ) as resp:
        assert resp.status == 422, await resp.text()
    raw = (
        b'--b1\r\nContent-Disposition: form-data; name="\xc3\x82;\xf0\x97\x83\xbb\x01s"\r\n\r\n{}\r\n'
        b'--b1\r\nContent-Disposition: form-data; name="\x10"\r\n\r\n{}\r\n'
        b'--b1\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n\r\n\xff|\xfe\xfd`\r\n--b1--\r\n'
    )
    async with api.client.post(
        "/api/customers/orders/import",
        data=raw,
        headers={**headers, "Content-Type": "multipart/form-data; boundary=b1"},
    ) as resp:
        assert resp.status in (400, 422), await resp.text()
