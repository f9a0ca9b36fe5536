"""The live calls board in real headless Chromium: login, live updates, escaping, RU/EN."""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cti.auth.memory import MemoryAuthStore
from cti.auth.passwords import fast_passwords
from cti.auth.principal import Role
from cti.auth.service import AuthService
from cti.bus import InProcessBus
from cti.calls.model import CallRecord, Direction, MissedKind, Outcome, iso
from cti.config import Settings
from web.app import create_app
from web.ws import close_all

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]
TOKEN = "browser-test-token-7c1d"
LOGIN, PASSWORD = "petrova", "Пароль для теста"
HOSTILE_NAME = "<img src=x onerror=alert(1)>Иван"


def live_call(linkedid: str, **changes: Any) -> dict[str, Any]:
    call = {
        "linkedid": linkedid,
        "direction": "inbound",
        "caller": "+79161234567",
        "caller_name": "Пётр Сидоров",
        "did": "74951230000",
        "state": "ringing",
        "agents_ringing": ["101", "102"],
        "answered_by": [],
        "started_at": iso(time.time() - 65),
        "answered_at": None,
        "customer": {"name": "Пётр Сидоров", "company": "ООО Ромашка"},
    }
    call.update(changes)
    return call


def finished(linkedid: str, caller: str, *, missed: bool) -> dict[str, Any]:
    now = time.time()
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        caller=caller,
        caller_e164=None,
        caller_name="",
        did="74951230000",
        agents_rung=("101",),
        answered_by=() if missed else ("101",),
        outcome=Outcome.MISSED if missed else Outcome.ANSWERED,
        missed_kind=MissedKind.ABANDONED if missed else None,
        short_abandon=missed,
        started_at=now - 4 if missed else now - 120,
        answered_at=None if missed else now - 110,
        ended_at=now - 1 if missed else now - 50,
        wait_seconds=3.0 if missed else 10.0,
        talk_seconds=0.0 if missed else 60.0,
    ).to_json()


class Board:
    """A real server on 127.0.0.1 with fake call sources and an in-process bus."""

    def __init__(self) -> None:
        self.bus = InProcessBus()
        self.live = [live_call("1700000000.1")]
        self.recent = [finished("1699999999.5", "+74957654321", missed=False)]
        self.auth = AuthService(
            store=MemoryAuthStore(), passwords=fast_passwords(), break_glass_tokens=(TOKEN,)
        )
        self.app = create_app(
            settings=Settings(api_tokens=(TOKEN,)),
            auth=self.auth,
            bus=self.bus,
            live_calls=lambda: list(self.live),
            recent_calls=self._recent,
            health=lambda: {"status": "ok"},
            metrics=lambda: "",
        )
        self.url = ""

    async def _recent(self, limit: int, involving: frozenset[str] | None) -> list[dict[str, Any]]:
        return self.recent[:limit]


@pytest.fixture
async def board() -> AsyncIterator[Board]:
    board = Board()
    await board.auth.add_user(LOGIN, role=Role.SUPERVISOR, password=PASSWORD)
    runner = web.AppRunner(board.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    board.url = f"http://{host}:{port}"
    yield board
    await runner.cleanup()


@pytest.fixture
def chromium_path() -> str:
    """The system Chromium; never downloaded. Missing: skip locally, fail in CI."""
    reason = ""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed"
    if not reason and not CHROMIUM.exists():
        reason = f"headless Chromium is not installed at {CHROMIUM}"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; browser tests must run in CI")
        pytest.skip(reason)
    return str(CHROMIUM)


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        await chromium.close()


def watch(page: Any) -> list[str]:
    """Collect alerts and console errors (a CSP violation shows up as one)."""
    problems: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        problems.append(f"dialog: {dialog.message}")
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


async def test_board_shows_live_calls_and_follows_the_feed(board: Board, browser: Any) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    problems = watch(page)
    await page.goto(f"{board.url}/login?token={TOKEN}")
    assert page.url == f"{board.url}/"
    await expect(page.locator("h1")).to_have_text("Calls now")
    await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))

    first = page.locator('#live-body tr[data-linkedid="1700000000.1"]')
    await expect(first).to_contain_text("+79161234567")
    await expect(first).to_contain_text("ООО Ромашка")
    await expect(first).to_contain_text("Ringing")
    await expect(first.locator(".chip-ringing")).to_have_text(["101", "102"])
    await expect(first.locator(".timer")).to_have_text(re.compile(r"^1:0\d$"))
    recent_row = page.locator('#recent-body tr[data-linkedid="1699999999.5"]')
    await expect(recent_row).to_contain_text("Answered")
    await expect(recent_row).to_contain_text("1:00")  # talk time

    # a hostile caller name arrives over the feed and must stay text
    hostile = live_call(
        "1700000000.2",
        caller="<b>666</b>",
        caller_name=HOSTILE_NAME,
        customer=None,
        state="talking",
        agents_ringing=[],
        answered_by=["103"],
        answered_at=iso(time.time() - 5),
    )
    board.bus.publish({"type": "call.live", "call": hostile})
    second = page.locator('#live-body tr[data-linkedid="1700000000.2"]')
    await expect(second.locator(".caller-name")).to_have_text(HOSTILE_NAME)
    await expect(second.locator(".caller-number")).to_have_text("<b>666</b>")
    await expect(second).to_contain_text("Talking")
    assert await page.locator("#live-body img, #live-body b").count() == 0
    await expect(page.locator("#live-count")).to_have_text("2")

    # the first call ends: it leaves the live table and tops the finished list, in red
    board.bus.publish(
        {"type": "call.ended", "call": finished("1700000000.1", "+79161234567", missed=True)}
    )
    await expect(first).to_have_count(0)
    ended = page.locator("#recent-body tr").first
    await expect(ended).to_have_attribute("data-linkedid", "1700000000.1")
    await expect(ended.locator(".outcome-missed")).to_have_text("Missed")
    await expect(ended).to_contain_text("caller hung up")
    await expect(ended.locator(".mark-short")).to_have_text("short")

    # RU/EN switch, remembered across a reload
    await page.click('button[data-lang="ru"]')
    await expect(page.locator("h1")).to_have_text("Звонки сейчас")
    await expect(second).to_contain_text("Разговор")
    await expect(ended.locator(".outcome-missed")).to_have_text("Пропущен")
    await page.reload()
    await expect(page.locator("h1")).to_have_text("Звонки сейчас")
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
    await page.click('button[data-lang="en"]')
    await expect(page.locator("h1")).to_have_text("Calls now")

    # the server drops the feed: banner, reconnect, and the fresh snapshot replaces the table
    board.live = [live_call("1700000000.3", caller="+74950000003", state="queued")]
    await close_all(board.app)
    await expect(page.locator("#banner")).to_be_visible()
    await expect(page.locator("#banner")).to_have_text(re.compile("Reconnecting"))
    await expect(page.locator("#banner")).to_be_hidden(timeout=10_000)
    await expect(page.locator('#live-body tr[data-linkedid="1700000000.3"]')).to_contain_text(
        "In queue"
    )
    await expect(page.locator("#live-body tr")).to_have_count(1)

    assert problems == []
    await context.close()


async def test_russian_browser_gets_russian_and_the_login_form_works(
    board: Board, browser: Any
) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(locale="ru-RU")
    page = await context.new_page()
    problems = watch(page)
    await page.goto(f"{board.url}/")
    assert page.url == f"{board.url}/login"
    await expect(page.locator("h1")).to_have_text("Вход в табло звонков")
    await page.fill("#login", LOGIN)
    await page.fill("#password", "wrong password")
    await page.click('button[type="submit"]')
    await expect(page.locator(".login-error")).to_have_text("Неверный логин или пароль.")
    await expect(page.locator("#login")).to_have_value(LOGIN)  # kept, as text
    await page.fill("#password", PASSWORD)
    await page.click('button[type="submit"]')
    await expect(page.locator("h1")).to_have_text("Звонки сейчас")
    await expect(page.locator('#live-body tr[data-linkedid="1700000000.1"]')).to_contain_text(
        "Звонит"
    )
    await page.click("form.logout button")
    await expect(page.locator("h1")).to_have_text("Вход в табло звонков")
    # the wrong password's 401 shows as a console error; nothing else may
    assert [p for p in problems if "401" not in p] == []
    await context.close()
