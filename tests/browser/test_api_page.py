"""The readable API page (/docs/api) in real headless Chromium: the OpenAPI description rendered
by the self-hosted script under the strict CSP, the webhooks included; sign-in required."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_live_page import TOKEN, Board, board, browser, chromium_path, watch

pytestmark = pytest.mark.browser
__all__ = ["board", "browser", "chromium_path"]  # fixtures


async def test_the_api_page_renders_the_description_without_csp_errors(
    board: Board, browser: Any
) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    problems = watch(page)
    await page.goto(f"{board.url}/docs/api")
    assert page.url.endswith("/login")  # signed-in users only
    await page.goto(f"{board.url}/login?token={TOKEN}")
    await page.goto(f"{board.url}/docs/api")
    await expect(page.locator("h1")).to_have_text("cti HTTP API")
    webhooks = page.locator("#tag-webhooks")
    await expect(webhooks).to_be_visible()
    create = page.locator("details.op", has_text="/api/webhooks").filter(has_text="Subscribe a URL")
    await create.locator("summary").click()
    await expect(create).to_contain_text("WebhookCreate")
    await expect(page.locator("#webhooks details.op")).to_have_count(7)
    ended = page.locator("#webhooks details.op", has_text="call.ended")
    await ended.locator("summary").click()
    await ended.get_by_role("link", name="WebhookEventCallEnded").click()
    await expect(page.locator("#schema-WebhookEventCallEnded")).to_have_attribute("open", "")
    assert problems == []
    await context.close()
