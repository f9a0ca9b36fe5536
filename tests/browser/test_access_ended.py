"""The pages when their access ends, in real headless Chromium against a whole server: the
user disabled by `cti user disable`'s code path in another process (through the database), or
the session signed out elsewhere; the page lands on the sign-in page saying access ended, in
Russian or English, and does not keep reconnecting with the dead session."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cti.auth.commands import _with_auth
from tests.browser.test_console import sign_in
from tests.browser.test_live_page import browser, chromium_path  # noqa: F401 (fixtures)
from tests.pops_world import running

pytestmark = pytest.mark.browser


async def test_a_disabled_agents_console_says_access_ended_in_russian(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async with running(tmp_path) as world:
        context, page, problems = await sign_in(world, browser, "101", locale="ru-RU")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        reopened: list[str] = []
        page.on("websocket", lambda ws: reopened.append(ws.url))
        # what `cti user disable 101` runs, with its own engine and access signal
        await _with_auth(world.c.settings, lambda auth: auth.disable_user("101"))
        await page.wait_for_url(f"{world.url}/login?ended=1", timeout=5000)
        await expect(page.locator(".login-ended")).to_have_text(
            "Доступ завершён (выход, истёк срок или учётная запись отключена). Войдите снова."
        )
        assert reopened == []  # no reconnect with the dead session
        await context.close()
        assert problems == []


async def test_a_supervisor_signed_out_elsewhere_lands_on_sign_in_in_english(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    async with running(tmp_path) as world:
        context, page, problems = await sign_in(world, browser, "boss")
        await page.goto(f"{world.url}/supervisor")
        await expect(page.locator("#conn")).to_have_class(re.compile("conn-online"))
        # the same browser signs out in another tab: this tab's feed ends at once
        other = await context.new_page()
        await other.goto(f"{world.url}/logout")
        await page.wait_for_url(f"{world.url}/login?ended=1", timeout=5000)
        await expect(page.locator(".login-ended")).to_have_text(
            "Your access ended (signed out, expired or disabled). Sign in again."
        )
        await context.close()
        assert problems == []
