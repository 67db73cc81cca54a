"""A CSM's day in the pages, in a real browser: signing in, the portfolio and its filters, an
account, acknowledging an alert (which updates its Slack message), silences; and what is
refused: a read token acting, a form without its CSRF token, a used sign-in link."""

from __future__ import annotations

import json
from collections.abc import Awaitable

from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from harness.slack import SlackServer
from harness.waiting import wait_for
from services.alerts.tables import acknowledgements
from services.scoring.tokens import create_token
from tests.helpers.browser import (
    SAM,
    Pulse,
    handed_over,
    over_limit,
    send,
    sign_in,
    slack_message_of,
    updates_of,
)
from tests.helpers.processes import run_pulse


async def _fired(pulse: Pulse, page: Page, account: str, metric: str) -> str:
    """Take `account` over 80% of its `metric` limit; the trigger's id, once alerted."""
    await send(pulse.settings, over_limit(account, metric))
    await page.goto(f"{pulse.base}/ui/alerts?account_id={account}")
    card = page.locator("li[data-trigger]", has_text="plan_limit_80").filter(has_text=metric)
    await expect(card).to_contain_text("csm · slack: delivered", timeout=30_000)
    trigger_id = await card.get_attribute("data-trigger")
    assert trigger_id
    return trigger_id


async def test_a_csm_signs_in_reviews_the_portfolio_and_acknowledges_an_alert(
    pulse: Pulse, page: Page, browser_context: BrowserContext, slack_server: SlackServer
) -> None:
    token = await create_token(pulse.engine, "sam", "write")

    await page.goto(f"{pulse.base}/ui/accounts/acme")  # a link from an alert, before sign-in
    await expect(page).to_have_title("Sign in · AccountPulse")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Acme Corp")
    cookie = next(c for c in await browser_context.cookies() if c["name"] == "pulse_session")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["expires"] > 0) == (True, "Lax", True)

    # The portfolio: worst first, the totals of a review, then one CSM's accounts.
    await page.get_by_role("link", name="Portfolio").first.click()
    rows = page.locator("table.portfolio tbody tr")
    await expect(rows).to_have_count(3)
    await expect(page.locator("#total-green")).to_contain_text("3 accounts · $200k ARR")
    await expect(page.locator("#total-renewals")).to_contain_text("3 accounts · $200k ARR")
    await page.get_by_label("CSM").select_option(label="Kim Park")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Globex")
    await page.get_by_label("CSM").select_option(label="Sam Lee")
    await page.get_by_label("Segment").select_option("enterprise")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("$120k")

    trigger_id = await _fired(pulse, page, "acme", "api_calls")
    await page.get_by_role("link", name="Acme Corp").first.click()
    active = page.locator(f"#trigger-{trigger_id}")
    await expect(active).to_contain_text("plan_limit_80")
    await expect(active).to_contain_text("Next step:")
    await active.get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_role("status")).to_have_text("Acknowledged.")
    await expect(active).to_contain_text("Acknowledged by sam")
    # The rest of what a CSM reads there: usage against the limit, the relationship's gaps,
    # the changes of health with their cause.
    usage = page.locator("section[aria-labelledby=usage-title]")
    await expect(usage.get_by_role("row", name="api_calls")).to_contain_text("91%")
    await expect(page.locator(".gaps")).to_contain_text("No champion")
    history = page.locator("section[aria-labelledby=history-title] tbody tr")
    await expect(history.first).to_contain_text("event ")

    # The alert's Slack message says so too: the alerts service updated it in place.
    message = slack_message_of(slack_server, trigger_id)
    assert message is not None, slack_server.history
    updates = await wait_for(
        lambda: updates_of(slack_server, message["ts"]),
        timeout=30,
        what="a chat.update of the acknowledged alert's Slack message",
    )
    assert "sam" in json.dumps(updates[-1])


async def test_the_feed_refreshes_and_silences_are_created_and_expired(
    pulse: Pulse, page: Page
) -> None:
    await sign_in(page, pulse.base, await create_token(pulse.engine, "kim", "write"))
    await _fired(pulse, page, "globex", "api_calls")
    await page.goto(f"{pulse.base}/ui/alerts")
    exports = page.locator("#feed li[data-trigger]", has_text="plan_limit_80").filter(
        has_text="exports"
    )
    await expect(exports).to_have_count(0)

    # A new alert appears without a reload: the page keeps what was set on it.
    await page.evaluate("window.loadedOnce = true")
    await send(pulse.settings, over_limit("globex", "exports"))
    await expect(exports).to_have_count(1, timeout=30_000)
    assert await page.evaluate("window.loadedOnce === true")

    await page.get_by_label("Account").nth(1).fill("globex")
    await page.get_by_label("Trigger type").select_option("plan_limit_80")
    await page.get_by_label("For (hours)").fill("48")
    await page.get_by_label("Comment").fill("limits raised in the CRM")
    await page.get_by_role("button", name="Create silence").click()
    await expect(page.get_by_role("status")).to_have_text("Silence created.")
    silence = page.locator("table.silences tbody tr", has_text="limits raised in the CRM")
    await expect(silence.locator(".state")).to_have_text("active")
    await expect(silence).to_contain_text('account_id="globex", type="plan_limit_80"')
    await silence.get_by_role("button", name="Expire").click()
    await expect(page.get_by_role("status")).to_have_text("Silence expired.")
    await expect(silence.locator(".state")).to_have_text("expired")
    await expect(silence.get_by_role("button", name="Expire")).to_have_count(0)

    # The portfolio follows the records: Globex handed over to Sam shows in Sam's accounts.
    async def sams_accounts() -> int:
        await page.goto(f"{pulse.base}/ui?csm=sam%40vendor.example")
        return await page.locator("table.portfolio tbody tr[data-account]").count()

    assert await sams_accounts() == 2
    await send(pulse.settings, handed_over("globex", SAM))
    await wait_for(lambda: _equal(sams_accounts(), 3), what="globex among Sam's accounts")


async def test_a_read_token_sees_but_cannot_act_and_forms_need_their_csrf_token(
    pulse: Pulse, page: Page, browser_context: BrowserContext
) -> None:
    writer = await browser_context.browser.new_context()  # type: ignore[union-attr]
    try:
        as_writer = await writer.new_page()
        await sign_in(as_writer, pulse.base, await create_token(pulse.engine, "ops", "write"))
        trigger_id = await _fired(pulse, as_writer, "initech", "api_calls")
        ack = f"{pulse.base}/ui/alerts/{trigger_id}/ack"

        # A write session's form without its CSRF token, or with another, does nothing.
        for form in ({"back": "/ui"}, {"csrf": "forged", "back": "/ui"}):
            refused = await as_writer.request.post(ack, form=form, max_redirects=0)
            assert refused.status == 403
            assert "without a valid CSRF token" in await refused.text()

        # The writer snoozes it from the feed: a silence on its account and type, listed.
        card = as_writer.locator(f"li[data-trigger='{trigger_id}']")
        await card.get_by_role("button", name="Snooze 7 days").click()
        await expect(as_writer.get_by_role("status")).to_contain_text("Snoozed")
        snoozed = as_writer.locator("table.silences tbody tr", has_text=trigger_id)
        await expect(snoozed).to_contain_text('account_id="initech", type="plan_limit_80"')
        await expect(snoozed.locator(".state")).to_have_text("active")
    finally:
        await writer.close()

    # A read token, signed in by a one-time link; the link works once.
    await create_token(pulse.engine, "viewer", "read")
    link = await _sign_in_link(pulse, "viewer")
    await page.goto(link)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Portfolio")
    await page.goto(f"{pulse.base}/ui/accounts/initech")
    active = page.locator(f"#trigger-{trigger_id}")
    await expect(active).to_contain_text("plan_limit_80")
    await expect(active.get_by_role("button")).to_have_count(0)
    await expect(page.get_by_text("Signed in with a read token")).to_be_visible()

    csrf = await page.locator("input[name=csrf]").first.input_value()
    refused = await page.request.post(ack, form={"csrf": csrf, "back": "/ui"}, max_redirects=0)
    assert refused.status == 403
    assert "a read token: it can see but not act" in await refused.text()
    async with pulse.engine.connect() as conn:
        assert (await conn.execute(select(acknowledgements))).all() == []

    again = await browser_context.browser.new_context()  # type: ignore[union-attr]
    try:
        second = await again.new_page()
        await second.goto(link)
        await second.get_by_role("button", name="Sign in").click()
        await expect(second.get_by_role("alert")).to_contain_text("This sign-in link is used up")
    finally:
        await again.close()


async def _equal(count: Awaitable[int], expected: int) -> bool:
    return await count == expected


async def _sign_in_link(pulse: Pulse, name: str) -> str:
    """What `pulse token link NAME` prints, run as an operator runs it."""
    env = {
        "PULSE_DATABASE_URL": pulse.settings.database_url,
        "PULSE_API_PORT": str(pulse.settings.api_port),
    }
    finished = await run_pulse("token", "link", name, env=env)
    assert finished.code == 0, finished.err
    assert "works once" in finished.err
    return finished.out.strip()
