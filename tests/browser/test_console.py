"""The agent console in real headless Chromium against a whole server and the PBX simulator:
sign in, a known customer's call pops their card with the last order within a second, a
colleague's answer closes it, an unknown caller gets a card created from the pop and the next
call from that number pops it, a caller name full of HTML stays text, pops survive a reload,
a background tab gets a notification, a callback is called back with one click."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from cti.customers.service import CustomerService
from cti.db.session import create_engine, session_factory
from tests.browser.test_live_page import browser, chromium_path, watch  # noqa: F401 (fixtures)
from tests.pops_world import PASSWORD, World, running, until

pytestmark = pytest.mark.browser

#: the README's picture; written when CTI_UPDATE_SCREENSHOTS=1 (else to the test's temp dir)
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "console.png"
HOSTILE = "<img src=x onerror=alert(1)>Пётр"
NEW_NUMBER = "+74957770011"

#: a fake Notification that records what the page shows, and a switchable document.hidden
NOTIFICATIONS = """
window.__hidden = false;
Object.defineProperty(document, 'hidden', { get: () => window.__hidden });
window.__notified = [];
class FakeNotification {
  constructor(title, options) { window.__notified.push({ title: title, body: options.body }); }
  close() {}
  static requestPermission() { FakeNotification.permission = 'granted'; return Promise.resolve('granted'); }
}
FakeNotification.permission = 'default';
window.Notification = FakeNotification;
"""


async def add_customer(world: World) -> int:
    """A VIP customer of 101 in Yekaterinburg with orders; returns the id."""
    engine = create_engine(world.c.settings.database_url)
    try:
        service = CustomerService(
            sessions=session_factory(engine), region="RU", office_timezone="Europe/Moscow"
        )
        created = await service.create(
            {
                "name": "Ольга Викторовна Соколова",
                "company": "Уральские самоцветы",
                "phones": ["8 (343) 555-12-34"],
                "vip": True,
                "timezone": "Asia/Yekaterinburg",
                "manager_login": "101",
                "crm_url": "https://crm.example.com/customers/42",
                "orders": [
                    {
                        "number": "A-1041",
                        "date": "2026-11-02",
                        "status": "доставлен",
                        "amount": "15400.00",
                        "currency": "RUB",
                    },
                    {
                        "number": "A-1187",
                        "date": "2026-11-20",
                        "status": "оплачен",
                        "amount": "8990.50",
                        "currency": "RUB",
                    },
                ],
            },
            actor="test",
        )
    finally:
        await engine.dispose()
    if world.c.callers is not None:
        await world.c.callers.refresh()
    return int(created["id"])


async def sign_in(
    world: World, chromium: Any, login: str, locale: str = "en-US"
) -> tuple[Any, Any, list[str]]:
    context = await chromium.new_context(locale=locale, viewport={"width": 1280, "height": 860})
    await context.add_init_script(NOTIFICATIONS)
    page = await context.new_page()
    problems = watch(page)
    await page.goto(f"{world.url}/login")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click('button[type="submit"]')
    # a supervisor lands on the live board, an agent on their console (a test may make any
    # login a supervisor: it is the server's role that decides, checked in test_web)
    await page.wait_for_url(re.compile(re.escape(world.url) + r"/(console)?$"))
    if login == "boss":
        assert page.url == f"{world.url}/"
    await page.wait_for_load_state("networkidle")  # the landing page settled before we leave it
    await page.goto(f"{world.url}/console")
    return context, page, problems


async def test_the_console_pops_a_known_customer_and_closes_when_a_colleague_answers(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async with running(tmp_path, speed=1.0) as world:
        await add_customer(world)
        context, page, problems = await sign_in(world, browser, "101")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        await expect(page.locator("#me")).to_have_text("Ivan Petrov")

        # the tab is in the background: the ring also shows a browser notification
        await page.click("#notify")
        await expect(page.locator("#notify")).to_have_text("Notifications on")
        await page.evaluate("window.__hidden = true")
        started = time.monotonic()
        linkedid, _, task = world.sim.start_scenario(
            "queue_answered", members=("101", "102"), other="102", ring=3.0, caller="83435551234"
        )
        pop = page.locator(f'.pop[data-linkedid="{linkedid}"]')
        await expect(pop.locator(".pop-title")).to_have_text(
            "Ольга Викторовна Соколова", timeout=1000
        )
        await expect(pop.locator(".orders-last")).to_contain_text("A-1187", timeout=1000)
        assert time.monotonic() - started < 1.0
        await expect(pop.locator(".pop-number")).to_have_text("+7 343 555-12-34")
        await expect(pop.locator(".pop-vip")).to_be_visible()
        await expect(pop.locator(".pop-manager")).to_have_text("Account manager: Ivan Petrov")
        await expect(pop.locator(".pop-local-time")).to_contain_text("Their time")
        await expect(pop.locator(".pop-crm")).to_have_attribute(
            "href", "https://crm.example.com/customers/42"
        )
        await expect(pop).to_have_attribute("data-state", "ringing")
        notified = await page.evaluate("window.__notified")
        assert notified and notified[0]["title"] == "Call from Ольга Викторовна Соколова"
        await page.evaluate("window.__hidden = false")

        # a colleague answers: the pop closes, saying who took it
        await task
        await expect(pop).to_have_attribute("data-status", "closed", timeout=5000)
        await expect(pop.locator(".pop-note")).to_have_text("Answered by Maria Sidorova")
        assert problems == []
        await context.close()


async def test_an_unknown_caller_becomes_a_customer_from_the_pop(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async with running(tmp_path, speed=1.0) as world:
        context, page, problems = await sign_in(world, browser, "103")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        linkedid, _, task = world.sim.start_scenario(
            "answered", agent="103", caller=NEW_NUMBER, caller_name=HOSTILE, ring=1.0, talk=2.0
        )
        pop = page.locator(f'.pop[data-linkedid="{linkedid}"]')
        # an HTML-laden caller name is shown as the text it is
        await expect(pop.locator(".pop-title")).to_have_text(HOSTILE)
        assert await page.locator(".pop img").count() == 0
        form = pop.locator("form.pop-new")
        await expect(form.locator('input[name="phone"]')).to_have_value("+7 495 777-00-11")
        await form.locator('input[name="name"]').fill("Новый <b>клиент</b>")
        await form.locator('input[name="company"]').fill("ООО «Ромашка»")
        # the pop is kept across a reload, even mid-form (the form itself starts afresh)
        await page.reload()
        await expect(pop.locator(".pop-title")).to_have_text(HOSTILE)
        await form.locator('input[name="name"]').fill("Новый <b>клиент</b>")
        await form.locator('button[type="submit"]').click()
        await expect(pop.locator(".pop-note")).to_have_text("Customer card created.")
        await expect(pop.locator(".pop-title")).to_have_text("Новый <b>клиент</b>")
        await task
        await world.settle()
        # the next call from that number pops the new card
        again, _, task = world.sim.start_scenario(
            "answered", agent="103", caller=NEW_NUMBER, ring=1.0
        )
        second = page.locator(f'.pop[data-linkedid="{again}"]')
        await expect(second.locator(".pop-title")).to_have_text("Новый <b>клиент</b>")
        await expect(second.locator(".pop-recent li")).to_have_count(1)  # the first call
        assert await page.locator(".pop b, .pop img, .pop script").count() == 0
        await task
        assert [p for p in problems if "alert" in p] == []
        assert problems == []
        await context.close()


async def test_the_pop_form_keeps_the_field_being_typed_into_while_the_call_moves_on(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    """An agent who has clicked into the name field when the call is answered, and then when it
    ends, keeps the field: the updates must not rebuild the form under the cursor."""
    from playwright.async_api import expect

    async with running(tmp_path, speed=1.0) as world:
        context, page, problems = await sign_in(world, browser, "103")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        linkedid, _, task = world.sim.start_scenario(
            "answered", agent="103", caller=NEW_NUMBER, ring=1.5, talk=1.5
        )
        pop = page.locator(f'.pop[data-linkedid="{linkedid}"]')
        name = pop.locator('form.pop-new input[name="name"]')
        await expect(pop).to_have_attribute("data-state", "ringing")
        await name.focus()  # clicked into, nothing typed yet
        await expect(pop).to_have_attribute("data-state", "talking")
        await page.keyboard.type("Мария")
        await task
        await expect(pop).to_have_attribute("data-status", "closed")
        await page.keyboard.type(" Петровна")
        await expect(name).to_have_value("Мария Петровна")
        await expect(name).to_be_focused()
        assert problems == []
        await context.close()


async def test_a_callback_is_called_back_with_one_click_and_the_console_speaks_russian(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async with running(tmp_path, speed=1.0) as world:
        await add_customer(world)
        originated: list[str] = []
        real = world.sim.originate

        def counting(*, agent: str, number: str, action_id: str | None) -> None:
            originated.append(f"{agent}->{number}")
            real(agent=agent, number=number, action_id=action_id)

        world.sim.originate = counting  # type: ignore[method-assign]
        made = await world.session.post(
            f"{world.url}/api/callbacks",
            json={"number": "+79031112233", "owner": "101", "note": "перезвонить по заказу A-1187"},
            headers=world.bearer("boss"),
        )
        assert made.status == 201, await made.text()
        context, page, problems = await sign_in(world, browser, "101", locale="ru-RU")
        await expect(page.locator("h1")).to_have_text("Мой пульт")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        item = page.locator("#callbacks .callback").first
        await expect(item.locator(".callback-number")).to_have_text("+7 903 111-22-33")
        await expect(item.locator(".callback-due")).to_have_text(re.compile(r"^через [0-9:]+$"))
        await page.click('#states button[data-state="lunch"]')
        await expect(page.locator('#states button[data-state="lunch"]')).to_have_attribute(
            "aria-pressed", "true"
        )
        await page.click('#states button[data-state="available"]')
        await expect(page.locator('#states button[data-state="available"]')).to_have_attribute(
            "aria-pressed", "true"
        )
        # a ringing pop for the screenshot in the README: a VIP customer with orders
        linkedid, _, task = world.sim.start_scenario(
            "queue_answered",
            members=("101",),
            other="101",
            caller="83435551234",
            queue_delay=1.0,
            ring=30.0,
        )
        # what the dialplan's FastAGI request does before Dial (the simulator only pretends to)
        assert world.c.routing is not None
        await world.c.routing.decide("83435551234", "74952220101", key=linkedid)
        pop = page.locator(f'.pop[data-linkedid="{linkedid}"]')
        await expect(pop.locator(".pop-route")).to_have_text("Вы — ответственный менеджер")
        await expect(pop.locator(".pop-title")).to_have_text("Ольга Викторовна Соколова")
        await expect(pop.locator(".pop-manager")).to_have_text("Менеджер: Ivan Petrov")
        await expect(pop.locator(".pop-state")).to_have_text("Звонит")
        await page.set_viewport_size({"width": 1280, "height": 600})
        shot = SCREENSHOT if os.environ.get("CTI_UPDATE_SCREENSHOTS") else tmp_path / "console.png"
        await page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 10_000
        task.cancel()

        await item.locator(".callback-call").dblclick()  # a double click is still one call
        await expect(page.locator("#dial-status")).to_contain_text("Звонит ваш телефон")
        await until(lambda: len(originated) == 1)
        assert originated == ["101->+79031112233"]

        assert problems == []
        await context.close()


async def test_the_supervisor_sees_calls_agents_duty_and_callbacks_and_agents_may_not(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async with running(tmp_path, speed=1.0) as world:
        made = await world.session.post(
            f"{world.url}/api/callbacks",
            json={"number": "+79031112233", "owner": "102", "note": "перезвонить"},
            headers=world.bearer("boss"),
        )
        assert made.status == 201
        agent, page, _ = await sign_in(world, browser, "101")
        await page.goto(f"{world.url}/supervisor")
        await expect(page.locator("h1")).to_have_text("Supervisors and administrators only")
        await agent.close()

        context, page, problems = await sign_in(world, browser, "boss")
        await page.goto(f"{world.url}/supervisor")
        await expect(page.locator("h1")).to_have_text("Contact centre now")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        linkedid, _, task = world.sim.start_scenario(
            "answered", agent="102", caller="+79161234567", ring=1.0, talk=30.0
        )
        row = page.locator(f'#calls-body tr[data-linkedid="{linkedid}"]')
        await expect(row).to_contain_text("+7 916 123-45-67")
        await expect(row.locator(".badge")).to_have_text("Talking", timeout=5000)
        await expect(row.locator(".timer")).to_have_text(re.compile(r"^0:0\d$"))
        await expect(page.locator('#agents-body tr[data-login="102"]')).to_contain_text(
            "Maria Sidorova"
        )
        await expect(page.locator("#cb-open")).to_have_text("Open: 1")
        await expect(page.locator("#cb-body tr")).to_have_count(1)
        # an agent goes to lunch: the view follows
        changed = await world.session.post(
            f"{world.url}/api/agents/103/state",
            json={"state": "paused", "reason": "lunch"},
            headers=world.bearer("boss"),
        )
        assert changed.status == 200
        await expect(page.locator('#agents-body tr[data-login="103"]')).to_contain_text("Lunch")
        task.cancel()
        assert problems == []
        await context.close()


async def test_a_shared_callback_is_taken_in_the_console_and_reassigned_in_supervisor(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    """Nobody owns it: every agent's console lists it with "Take it"; 101 takes it (102's list
    drops it at once); the supervisor ticks it and gives it to 102, whose console gets it."""
    from playwright.async_api import expect

    async with running(tmp_path, speed=1.0) as world:
        made = await world.session.post(
            f"{world.url}/api/callbacks",
            json={"number": "+79031112233", "owner": "103", "note": "перезвонить"},
            headers=world.bearer("boss"),
        )
        assert made.status == 201, await made.text()
        callback_id = (await made.json())["id"]
        shared = await world.session.post(
            f"{world.url}/api/callbacks/assign",
            json={"ids": [callback_id], "owner": None},
            headers=world.bearer("boss"),
        )
        assert shared.status == 200, await shared.text()
        ivan, page, problems = await sign_in(world, browser, "101", locale="ru-RU")
        maria, other, other_problems = await sign_in(world, browser, "102")
        item = page.locator(f'#callbacks .callback[data-id="{callback_id}"]')
        await expect(item.locator(".callback-shared-note")).to_have_text(
            "общий список: может взять любой"
        )
        theirs = other.locator(f'#callbacks .callback[data-id="{callback_id}"]')
        await expect(theirs.locator(".callback-claim")).to_have_text("Take it")
        await expect(item.locator(".callback-call")).to_have_count(1)
        await item.locator(".callback-claim").click()
        await expect(item.locator(".callback-claim")).to_have_count(0)
        await expect(item.locator(".callback-call")).to_have_text("Перезвонить")
        await expect(theirs).to_have_count(0)  # gone from 102's list, by the live feed
        await expect(other.locator("#callbacks-empty")).to_be_visible()

        boss, sup, sup_problems = await sign_in(world, browser, "boss")
        await sup.goto(f"{world.url}/supervisor")
        row = sup.locator(f'#cb-body tr[data-id="{callback_id}"]')
        await expect(row.locator(".cb-owner")).to_have_text("Ivan Petrov (101)")
        await row.locator(".cb-pick").check()
        await sup.select_option("#cb-assign-to", "102")
        await sup.click("#cb-assign-button")
        await expect(sup.locator("#cb-assign-status")).to_have_text("Assigned: 1")
        await expect(row.locator(".cb-owner")).to_have_text("Maria Sidorova (102)")
        await expect(item).to_have_count(0)  # 101's console lets it go
        mine = other.locator(f'#callbacks .callback[data-id="{callback_id}"]')
        await expect(mine.locator(".callback-call")).to_have_count(1)  # 102 has it now
        log = await world.session.get(
            f"{world.url}/api/callbacks/{callback_id}", headers=world.bearer("boss")
        )
        moves = [
            (e["actor"], e["action"], e["detail"].get("to"))
            for e in (await log.json())["log"]
            if e["action"] in ("reassigned", "claimed")
        ]
        assert moves == [
            ("boss", "reassigned", None),
            ("101", "claimed", "101"),
            ("boss", "reassigned", "102"),
        ]
        assert problems == other_problems == sup_problems == []
        for context in (ivan, maria, boss):
            await context.close()
