"""A new user's first minute: `pulse up --demo` prints the portfolio's address, and the page
it names is populated within a minute. The run also photographs the three pages for the
README (docs/screenshots), at 1280 px, and checks the portfolio reads on a phone."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from harness.waiting import wait_for
from tests.helpers.browser import PHONE, SCREENSHOTS
from tests.helpers.processes import PulseProcess, new_user_env

PRINTED = re.compile(r"^Portfolio: (http://\S+/ui)$", re.MULTILINE)
DEMO_ACCOUNTS = 30  # pulse up --demo's default


async def test_the_demo_prints_a_portfolio_that_fills_within_a_minute(
    tmp_path: Path, page: Page, chromium: Browser
) -> None:
    started = time.monotonic()
    pulse = PulseProcess(new_user_env(tmp_path), "up", "--demo", session=True)
    try:
        found = await wait_for(
            lambda: PRINTED.search(pulse.output()), timeout=60, what="the printed portfolio URL"
        )
        portfolio = found.group(1)
        await wait_for(
            lambda: _listed(page, portfolio), timeout=60 - (time.monotonic() - started),
            interval=1, what="the demo's 30 accounts in the portfolio within a minute",
        )  # fmt: skip
        await _photograph(page, portfolio)
        await _readable_on_a_phone(chromium, portfolio)
    finally:
        await pulse.stop(kill=True)


async def _listed(page: Page, portfolio: str) -> bool:
    await page.goto(portfolio)
    return await page.locator("table.portfolio tbody tr[data-account]").count() == DEMO_ACCOUNTS


async def _photograph(page: Page, portfolio: str) -> None:
    """The portfolio, the worst account and the alerts, once the demo has fired some."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.goto(portfolio)
    await expect(page.locator(".band-red").first).to_have_text("Red")  # a word, not a colour
    await page.screenshot(path=SCREENSHOTS / "portfolio.png")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.locator("table.portfolio tbody tr th a").first.click()
    await expect(page.get_by_role("heading", name="Health, part by part")).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "account.png")
    await page.get_by_role("link", name="Alerts").click()
    await expect(page.locator("#feed li[data-trigger]").first).to_be_visible(timeout=30_000)
    await page.screenshot(path=SCREENSHOTS / "alerts.png")


async def _readable_on_a_phone(chromium: Browser, portfolio: str) -> None:
    phone = await chromium.new_context(viewport=PHONE)  # type: ignore[arg-type]
    try:
        page = await phone.new_page()
        await page.goto(portfolio)
        await expect(page.locator("table.portfolio tbody tr").first).to_be_visible()
        # Only the table scrolls sideways, inside its frame; the page itself fits.
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
    finally:
        await phone.close()
