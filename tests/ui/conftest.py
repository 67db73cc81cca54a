"""The pages under test: Debian's chromium (one per session, a fresh context per test) and
the API with scoring and alerts running on the session's broker and database, Slack being
the stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.cli import UpSettings
from shared.kafka import free_port
from tests.helpers.alert_factories import TOKEN, running
from tests.helpers.browser import DESKTOP, Pulse, launch, portfolio_signals, send
from tests.helpers.in_process import scoring


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        yield browser
        await browser.close()


@pytest.fixture
async def browser_context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    yield context
    await context.close()


@pytest.fixture
async def page(browser_context: BrowserContext) -> Page:
    return await browser_context.new_page()


@pytest.fixture
async def pulse(
    settings_factory: Callable[..., UpSettings], engine: AsyncEngine, slack_server: SlackServer
) -> AsyncIterator[Pulse]:
    """Scoring (with the API and the pages) and alerts, with acme, globex and initech scored
    and nothing fired yet. Tokens count from the first request: no cache between them."""
    settings: Any = settings_factory(
        api_port=free_port(),
        api_token_cache_seconds=0,
        slack_bot_token=TOKEN,
        slack_api_url=slack_server.url,
        delivery_timeout_seconds=2.0,
    )
    async with running(settings, engine), scoring(settings, engine) as api:
        await send(settings, *portfolio_signals())

        async def scored() -> bool:
            listed = (await api.get("/v1/accounts")).json()["accounts"]
            return len(listed) == 3 and all(a["score"] is not None for a in listed)

        await wait_for(scored, what="three accounts scored")
        yield Pulse(str(api.base_url).rstrip("/"), settings, engine)
