"""The reports page in real headless Chromium over the hand-computed day: tiles and charts
render with data (the lunch-time spike), filters change the missed-calls table, CSV downloads,
Russian and English, an agent sees only their own figures; no CSP violation or script error."""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.browser.test_live_page import browser, chromium_path, watch  # noqa: F401 (fixtures)
from tests.reports_world import DAY, PASSWORD, report_app

pytestmark = pytest.mark.browser

#: docs/reports.md's picture; written when CTI_UPDATE_SCREENSHOTS=1 (else to the test's temp dir)
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "reports.png"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[str]:
    app, _, engine = await report_app(f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}")
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
        await engine.dispose()


async def open_reports(
    chromium: Any, url: str, login: str, locale: str = "en-US"
) -> tuple[Any, Any, list[str]]:
    context = await chromium.new_context(
        locale=locale, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = await context.new_page()
    problems = watch(page)
    await page.goto(f"{url}/login")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click('button[type="submit"]')
    await page.wait_for_url(f"{url}/" if login == "boss" else f"{url}/console")  # agents: console
    await page.wait_for_load_state("networkidle")  # the landing page settled before we leave it
    problems.clear()  # this world serves reports only: an agent's console asks for more (404)
    await page.goto(f"{url}/reports")
    await page.wait_for_function("() => ['ready', 'error'].includes(document.body.dataset.state)")
    await page.fill("#from", DAY)
    await page.click("#period-form button[type=submit]")
    await page.wait_for_function(
        "() => document.body.dataset.state === 'ready' && document.getElementById('period-label').textContent !== ''"
    )
    return context, page, problems


async def chart_data(page: Any, canvas: str) -> Any:
    return await page.evaluate(
        """(id) => { const c = window.Chart.getChart(document.getElementById(id));
                     return c ? { labels: c.data.labels, sets: c.data.datasets.map(d => d.data),
                                  width: c.width, height: c.height } : null; }""",
        canvas,
    )


async def test_tiles_charts_filters_and_csv(site: str, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    from playwright.async_api import expect

    started = time.monotonic()
    context, page, problems = await open_reports(browser, site, "boss")
    rendered = time.monotonic() - started
    tiles = page.locator("#tiles")
    await expect(tiles.locator("[data-kpi=offered] .tile-value")).to_have_text("8")
    await expect(tiles.locator("[data-kpi=offered] .tile-sub")).to_have_text(
        "inbound calls, 7 in business hours"
    )
    await expect(tiles.locator("[data-kpi=missed_out_of_hours] .tile-value")).to_have_text("1")
    await expect(tiles.locator("[data-kpi=service_level] .tile-value")).to_have_text("50%")
    await expect(tiles.locator("[data-kpi=service_level]")).to_have_class("tile tile-bad")
    await expect(tiles.locator("[data-kpi=service_level_answered] .tile-value")).to_have_text("75%")
    await expect(tiles.locator("[data-kpi=missed_rate]")).to_have_class("tile tile-bad")
    await expect(tiles.locator("[data-kpi=average_speed_of_answer] .tile-value")).to_have_text(
        "16.3 s"
    )
    await expect(tiles.locator("[data-kpi=callback_median] .tile-value")).to_have_text("6:30")

    hours = await chart_data(page, "chart-hour")
    assert hours is not None and hours["width"] > 100 and hours["height"] > 100
    answered, missed = hours["sets"]
    assert hours["labels"][12] == "12:00"
    assert missed[12] == 3 and max(missed) == missed[12]  # the lunch-time spike
    assert answered[9] == 2
    days = await chart_data(page, "chart-day")
    assert days["sets"][0] == [50] and days["sets"][1] == [33.3]
    agents = await chart_data(page, "chart-agent")
    assert agents["labels"] == ["Иванова", "Petrov"] and agents["sets"][0] == [5, 4]
    await expect(page.locator("#agents-body tr")).to_have_count(2)
    shot = SCREENSHOT if os.environ.get("CTI_UPDATE_SCREENSHOTS") else tmp_path / "reports.png"
    await page.screenshot(path=str(shot), full_page=True)

    # the missed-calls table follows its filters
    table = page.locator("#missed-body tr")
    await expect(table).to_have_count(4)
    await page.select_option("#m-kind", "abandoned")
    await expect(table).to_have_count(2)
    await page.select_option("#m-resolved", "false")
    await expect(table).to_have_count(1)
    await page.select_option("#m-kind", "")
    await page.select_option("#m-did", "74952220202")
    await expect(table).to_have_count(1)
    await expect(table.first).to_contain_text("out of hours")
    await expect(table.first.locator("td").first).to_have_text(
        "25/11, 23:30"
    )  # office time, not the browser's
    await page.select_option("#m-did", "")
    await page.select_option("#m-resolved", "")
    await page.select_option("#m-agent", "ivanova")
    await expect(table).to_have_count(2)

    # CSV of what the table shows
    async with page.expect_download() as info:
        await page.click("#csv-missed")
    download = await info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert sorted(r["Linkedid"] for r in rows) == ["c4", "c6"]  # the page's language: English
    assert download.suggested_filename == f"missed-{DAY}-{DAY}.csv"

    # Russian, one click away
    await page.click("[data-lang=ru]")
    await expect(page.locator("h1")).to_have_text("Отчёты")
    await expect(tiles.locator("[data-kpi=service_level] .tile-label")).to_have_text(
        "Уровень сервиса"
    )
    await expect(tiles.locator("[data-kpi=service_level] .tile-value")).to_have_text("50\u00a0%")
    async with page.expect_download() as info:
        await page.click("#csv-missed")
    saved = tmp_path / "ru.csv"
    await (await info.value).save_as(saved)
    ru_rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert ru_rows[0][:2] == ["Время пропуска", "Причина"] and len(ru_rows) == 3

    # a bad range says what to do next
    await page.select_option("#period", "custom")
    await page.wait_for_function("() => document.body.dataset.state !== 'loading'")
    await page.fill("#from", "2026-11-26")
    await page.fill("#to", "2026-11-20")
    await page.click("#period-form button[type=submit]")
    await expect(page.locator("#error")).to_contain_text("2026-11-26")
    await expect(page.locator("#error")).to_contain_text("Исправьте")

    assert [p for p in problems if "status of 400" not in p] == []
    assert rendered < 10, f"the page took {rendered:.1f} s"
    await context.close()


async def test_an_agent_sees_only_their_own_figures(site: str, browser: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    context, page, problems = await open_reports(browser, site, "ivanova")
    await expect(page.locator("#tiles [data-kpi=offered] .tile-value")).to_have_text("5")
    await expect(page.locator("#agent-label")).to_be_hidden()
    await expect(page.locator("#agents-body tr")).to_have_count(1)
    await expect(page.locator("#missed-body tr")).to_have_count(2)
    assert problems == []
    await context.close()


async def test_the_supervisor_view_links_to_reports(site: str, browser: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    context, page, problems = await open_reports(browser, site, "boss")
    await page.goto(f"{site}/supervisor")
    await page.click("a[href='/reports']")
    await expect(page.locator("h1")).to_have_text("Reports")
    await context.close()
