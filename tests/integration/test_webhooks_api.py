"""Webhooks over the API and the CLI: administrators only, secrets shown once and never listed,
the delivery log; customer.created/updated and a callback closed by hand reach the outbox in
their own transaction and a real receiver."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cti.app import call_store
from cti.auth.memory import MemoryAuthStore
from cti.auth.principal import Role, Scope
from cti.auth.service import AuthService
from cti.bus import InProcessBus
from cti.config import Settings
from cti.customers.directory import CallerDirectory
from cti.customers.service import AgentService, CustomerService, DirectoryServices
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from cti.webhooks.delivery import DeliveryWorker
from cti.webhooks.retry import RetryPolicy
from cti.webhooks.service import WebhookService
from tests.integration.test_webhooks import record
from tests.webhooks_world import receiver
from web import callbacks_api, webhooks_api
from web.app import create_app

SECRET = "the-crm-shared-secret-123"
PASSWORD = "a long password 123"


@dataclass
class Api:
    client: Any
    tokens: dict[str, str]
    service: WebhookService
    sessions: Any
    url: str

    def as_(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}


async def _no_calls(limit: int, involving: frozenset[str] | None) -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def api(aiohttp_client: Any, database_url: str) -> AsyncIterator[Api]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    service = WebhookService(sessions=sessions)
    auth = AuthService(store=MemoryAuthStore())
    tokens = {}
    for login, role, scopes in (
        ("root", Role.ADMIN, {Scope.READ, Scope.WRITE, Scope.ADMIN}),
        ("boss", Role.SUPERVISOR, {Scope.READ, Scope.WRITE}),
    ):
        await auth.add_user(login, role=role, password=PASSWORD)
        tokens[login] = (await auth.create_token(login, scopes=frozenset(scopes)))[1]
    callers = CallerDirectory(engine=engine, region="RU")
    directory = DirectoryServices(
        customers=CustomerService(
            sessions=sessions,
            region="RU",
            office_timezone="Europe/Moscow",
            on_saved=service.customer_saved,
        ),
        agents=AgentService(sessions=sessions, region="RU"),
        callers=callers,
    )
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
    _, callbacks = call_store(Settings(database_url=database_url), sessions, webhooks=service)
    callbacks_api.setup(app, callbacks=callbacks, default_region="RU")
    webhooks_api.setup(app, webhooks=service)
    try:
        yield Api(await aiohttp_client(app), tokens, service, sessions, database_url)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def sending(api: Api) -> AsyncIterator[None]:
    worker = DeliveryWorker(
        sessions=api.sessions, policy=RetryPolicy(first=0.1, jitter=0), idle=0.05
    )
    api.service.on_enqueued = worker.wake
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_only_administrators_manage_webhooks_and_secrets_are_shown_once(api: Api) -> None:
    c = api.client
    body = {"url": "https://crm.example/hooks/cti", "events": ["call.missed", "call.answered"]}
    refused = await c.post("/api/webhooks", json=body, headers=api.as_("boss"))
    assert refused.status == 403
    assert (await c.get("/api/webhooks", headers=api.as_("boss"))).status == 403
    made = await c.post("/api/webhooks", json=body, headers=api.as_("root"))
    assert made.status == 201, await made.text()
    created = await made.json()
    assert len(created["secret"]) >= 32 and created["events"] == ["call.answered", "call.missed"]
    listed = await (await c.get("/api/webhooks", headers=api.as_("root"))).json()
    assert created["secret"] not in str(listed) and "secret" not in listed["webhooks"][0]
    one = await c.get(f"/api/webhooks/{created['id']}", headers=api.as_("root"))
    assert (await one.json())["url"] == body["url"]
    bad = await c.post(
        "/api/webhooks",
        json={"url": "https://x.example/", "events": ["call.nope"]},
        headers=api.as_("root"),
    )
    assert bad.status == 422 and (await bad.json())["detail"].startswith("events")
    short = await c.post("/api/webhooks", json={**body, "secret": "short"}, headers=api.as_("root"))
    assert short.status == 422
    log = await c.get(
        f"/api/webhooks/{created['id']}/deliveries?state=failed", headers=api.as_("root")
    )
    assert (await log.json()) == {"deliveries": []}
    assert (await c.delete(f"/api/webhooks/{created['id']}", headers=api.as_("root"))).status == 204
    assert (await c.delete(f"/api/webhooks/{created['id']}", headers=api.as_("root"))).status == 404


async def test_customer_changes_and_a_callback_closed_by_hand_reach_the_receiver(api: Api) -> None:
    c = api.client
    async with receiver(SECRET) as hook, sending(api):
        made = await c.post(
            "/api/webhooks",
            json={
                "url": hook.url,
                "events": ["customer.created", "customer.updated", "callback.resolved"],
                "secret": SECRET,
            },
            headers=api.as_("root"),
        )
        assert made.status == 201
        customer = await c.post(
            "/api/customers",
            json={"name": "ACME", "external_id": "crm-1", "phones": ["+79161234567"]},
            headers=api.as_("root"),
        )
        assert customer.status == 201, await customer.text()
        cid = (await customer.json())["id"]
        await delivered(api, 1)  # SQLite: a customer write that reads first fails ("database is
        # locked") if another connection commits between its read and its write; see docs/webhooks.md
        patched = await c.patch(
            f"/api/customers/{cid}", json={"company": "ACME LLC"}, headers=api.as_("root")
        )
        assert patched.status == 200, await patched.text()
        await delivered(api, 2)
        repository, _ = call_store(
            Settings(database_url=api.url), api.sessions, webhooks=api.service
        )
        await repository.save_many([record("9.1", missed=True)])
        (open_cb,) = (
            await (await c.get("/api/callbacks?state=open", headers=api.as_("root"))).json()
        )["callbacks"]
        closed = await c.post(
            f"/api/callbacks/{open_cb['id']}/resolve",
            json={"note": "wrote to them instead"},
            headers=api.as_("root"),
        )
        assert closed.status == 200, await closed.text()
        await hook.wait_for(3)
    kinds = [h.kind for h in hook.accepted()]
    assert kinds == ["customer.created", "customer.updated", "callback.resolved"]
    assert hook.accepted()[1].payload["data"]["customer"]["company"] == "ACME LLC"
    assert hook.accepted()[2].payload["data"]["callback"]["resolution"] == "manual"
    assert hook.invalid == [] and hook.bad_signatures == 0
    log = await (
        await c.get(
            f"/api/webhooks/{(await made.json())['id']}/deliveries", headers=api.as_("root")
        )
    ).json()
    assert [d["state"] for d in log["deliveries"]] == ["delivered"] * 3


async def delivered(api: Api, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 20
    while sum(w["delivered"] for w in await api.service.listing()) < count:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


def _cti(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cti.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_adds_lists_and_removes_webhooks(tmp_path: Path) -> None:
    env = {**os.environ, "CTI_DATABASE_URL": f"sqlite:///{tmp_path / 'cti.db'}"}
    added = _cti(
        "webhook",
        "add",
        "https://crm.example/hook",
        "--events",
        "call.missed,call.answered",
        "--secret",
        SECRET,
        env=env,
    )
    assert added.returncode == 0, added.stderr
    assert "#1" in added.stdout and SECRET not in added.stdout + added.stderr
    generated = _cti("webhook", "add", "https://shop.example/hook", "--events", "all", env=env)
    secret = generated.stdout.splitlines()[-1]
    assert generated.returncode == 0 and len(secret) >= 32
    listed = _cti("webhook", "list", env=env)
    assert "crm.example" in listed.stdout and "shop.example" in listed.stdout
    assert SECRET not in listed.stdout and secret not in listed.stdout
    assert _cti("webhook", "deliveries", "1", env=env).returncode == 0
    bad = _cti("webhook", "add", "gopher://x", "--events", "call.missed", env=env)
    assert bad.returncode == 2 and "http" in bad.stderr
    assert _cti("webhook", "remove", "1", env=env).returncode == 0
    assert _cti("webhook", "remove", "1", env=env).returncode == 1
    assert "crm.example" not in _cti("webhook", "list", env=env).stdout
