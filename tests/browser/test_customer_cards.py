"""Customer cards from the pop in real headless Chromium against a whole server and the PBX
simulator: a number that belongs to another customer is offered as that customer's card or added
anyway; a shared number shows its candidates, the agent's pick is remembered for the next call
and for routing, a supervisor merges the cards; an unknown caller gets a lead card the agent
completes, where the fields an agent may not change are read-only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cti.customers.service import AgentService, CustomerService
from cti.db.session import create_engine, session_factory
from tests.browser.test_console import sign_in
from tests.browser.test_live_page import browser, chromium_path, watch  # noqa: F401 (fixtures)
from tests.pops_world import World, running

pytestmark = pytest.mark.browser

SHARED = "+74951112200"  #: an office line two customers share
UNKNOWN = "+74957770022"


async def directory(world: World) -> tuple[CustomerService, AgentService, Any]:
    engine = create_engine(world.c.settings.database_url)
    sessions = session_factory(engine)
    customers = CustomerService(
        sessions=sessions,
        region="RU",
        office_timezone="Europe/Moscow",
        directory=world.c.callers,
    )
    return customers, AgentService(sessions=sessions, region="RU"), engine


async def test_a_number_of_another_customer_opens_that_card_or_is_added_anyway(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async with running(tmp_path, speed=1.0) as world:
        customers, _, engine = await directory(world)
        existing = await customers.create(
            {"name": "Офис «Ромашка»", "company": "Ромашка", "phones": [SHARED]}, actor="test"
        )
        await engine.dispose()
        context, page, problems = await sign_in(world, browser, "103")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        linkedid, _, task = world.sim.start_scenario(
            "answered", agent="103", caller=UNKNOWN, ring=1.0, talk=4.0
        )
        pop = page.locator(f'.pop[data-linkedid="{linkedid}"]')
        form = pop.locator("form.pop-new")
        await form.locator('input[name="name"]').fill("Мария из Ромашки")
        await form.locator('input[name="phone"]').fill("8 495 111-22-00")
        await form.locator('button[type="submit"]').click()
        duplicate = form.locator(".pop-duplicate")
        await expect(duplicate).to_contain_text("Офис «Ромашка», Ромашка")
        await duplicate.locator(".dup-open").click()
        await expect(pop.locator(".pop-title")).to_have_text("Офис «Ромашка»")
        await expect(pop.locator(".pop-company")).to_have_text("Ромашка")
        await task

        # the same again, in Russian, and this time the number is added anyway
        await page.click('button[data-lang="ru"]')
        again, _, task = world.sim.start_scenario(
            "answered", agent="103", caller=UNKNOWN, ring=1.0, talk=4.0
        )
        pop = page.locator(f'.pop[data-linkedid="{again}"]')
        form = pop.locator("form.pop-new")
        await form.locator('input[name="name"]').fill("Мария из Ромашки")
        await form.locator('input[name="phone"]').fill("8 495 111-22-00")
        await form.locator('button[type="submit"]').click()
        await expect(form.locator(".pop-duplicate")).to_contain_text("Этот номер уже принадлежит")
        await form.locator(".dup-anyway").click()
        await expect(pop.locator(".pop-note")).to_have_text("Карточка клиента создана.")
        await expect(pop.locator(".pop-title")).to_have_text("Мария из Ромашки")
        await task
        found = await (
            await world.session.get(
                f"{world.url}/api/customers/lookup",
                params={"phone": SHARED},
                headers=world.bearer("103"),
            )
        ).json()
        assert found["ambiguous"] and existing["id"] in {
            found["customer_id"],
            *(c["customer_id"] for c in found["candidates"]),
        }
        # the two 409 answers are the browser's only complaints
        assert [p for p in problems if "status of 409 (Conflict)" not in p] == []
        assert len(problems) == 2
        await context.close()


async def test_a_shared_number_asks_who_is_calling_remembers_it_and_a_supervisor_merges(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async with running(tmp_path, speed=1.0) as world:
        customers, agents, engine = await directory(world)
        first = await customers.create(
            {"name": "Анна Офисная", "phones": [SHARED], "manager_login": "199"}, actor="test"
        )
        second = await customers.create(
            {"name": "Борис Офисный", "phones": [SHARED]}, actor="test", allow_duplicates=True
        )
        # the duty operator is a supervisor here: a person with a phone who may merge
        await agents.save("199", {"role": "supervisor"}, actor="test", partial=True)
        await engine.dispose()
        context, page, problems = await sign_in(world, browser, "199")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        linkedid, _, task = world.sim.start_scenario(
            "answered", agent="199", caller=SHARED, ring=1.5, talk=3.0
        )
        pop = page.locator(f'.pop[data-linkedid="{linkedid}"]')
        candidates = pop.locator(".pop-candidates li")
        await expect(candidates).to_have_count(2)
        await expect(pop.locator(".pop-candidates")).to_contain_text("Several customers")
        # the newest card is shown first; the caller is in fact Anna
        await expect(pop.locator(".pop-title")).to_have_text("Борис Офисный")
        await pop.locator(f'.pop-candidate[data-id="{first["id"]}"] .cand-pick').click()
        await expect(pop.locator(".pop-title")).to_have_text("Анна Офисная")
        await task
        await world.settle()

        # the next call from the number pops Anna, and routing sends it to her manager
        again, _, task = world.sim.start_scenario(
            "answered", agent="199", caller=SHARED, ring=1.5, talk=3.0
        )
        pop = page.locator(f'.pop[data-linkedid="{again}"]')
        await expect(pop.locator(".pop-title")).to_have_text("Анна Офисная")
        route = await (
            await world.session.get(
                f"{world.url}/api/route",
                params={"caller": SHARED, "did": "74950000000", "dry_run": "1"},
                headers=world.bearer("boss"),
            )
        ).json()
        assert route["customer"]["id"] in (first["id"], str(first["id"]))
        # a supervisor merges the other card into this one
        await pop.locator(f'.pop-candidate[data-id="{first["id"]}"] .cand-merge').click()
        await expect(pop.locator(".pop-note")).to_have_text("Cards merged.")
        await expect(pop.locator(".pop-candidates")).to_have_count(0)
        await task
        gone = await world.session.get(
            f"{world.url}/api/customers/{second['id']}", headers=world.bearer("boss")
        )
        assert gone.status == 404
        history = await (
            await world.session.get(
                f"{world.url}/api/customers/{first['id']}/history", headers=world.bearer("boss")
            )
        ).json()
        assert history["history"][0]["action"] == "merge"
        assert history["history"][0]["actor"] == "199"
        assert problems == []
        await context.close()


async def test_an_unknown_caller_gets_a_lead_card_the_agent_completes(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async with running(tmp_path, speed=1.0, auto_customer_cards=True) as world:
        context, page, problems = await sign_in(world, browser, "103")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        linkedid, _, task = world.sim.start_scenario(
            "answered", agent="103", caller=UNKNOWN, caller_name="Ольга Лидова", ring=2.0, talk=6.0
        )
        pop = page.locator(f'.pop[data-linkedid="{linkedid}"]')
        await expect(pop.locator(".pop-lead")).to_be_visible()
        await expect(pop.locator(".pop-title")).to_have_text("Ольга Лидова")
        assert await pop.locator("form.pop-new").count() == 0
        await pop.locator(".pop-edit").click()
        form = pop.locator("form.pop-edit-form")
        # an agent completes the card; VIP, manager, time zone and CRM link are not theirs
        for name in ("vip", "manager_login", "timezone", "crm_url"):
            await expect(form.locator(f'[name="{name}"]')).to_be_disabled()
        for name in ("name", "company", "phones", "notes"):
            await expect(form.locator(f'[name="{name}"]')).to_be_enabled()
        await form.locator('[name="company"]').fill("ООО «Лидер»")
        await form.locator('[name="notes"]').fill("Хочет счёт на 10 стульев")
        await form.locator(".edit-save").click()
        await expect(pop.locator(".pop-note")).to_have_text("Card saved.")
        await expect(pop.locator(".pop-company")).to_have_text("ООО «Лидер»")
        await task
        found = await (
            await world.session.get(
                f"{world.url}/api/customers/lookup",
                params={"phone": UNKNOWN},
                headers=world.bearer("103"),
            )
        ).json()
        card = await (
            await world.session.get(
                f"{world.url}/api/customers/{found['customer_id']}", headers=world.bearer("103")
            )
        ).json()
        assert card["source"] == "auto" and card["company"] == "ООО «Лидер»"
        assert card["notes"] == "Хочет счёт на 10 стульев" and not found["ambiguous"]
        assert problems == []
        await context.close()
