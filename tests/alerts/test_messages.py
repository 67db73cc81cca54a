"""Pure parts of alerts: parsing triggers, rendering, Slack answers, backoff."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from services.alerts import messages
from services.alerts.messages.slack import slack_blocks
from services.alerts.models import Account
from services.alerts.outcomes import backoff_seconds, scrubber
from services.alerts.senders import DeliveryError
from services.alerts.senders.slack_api import check_response
from shared.contracts.messages import Rejected
from shared.contracts.triggers import TriggerEvent, parse_trigger
from tests.helpers.alert_factories import trigger

ACME = Account("acme", "Acme Corp", "Sam Lee", "sam@vendor.example", "U024BE7LH")


def parsed(**overrides: Any) -> TriggerEvent:
    return parse_trigger(orjson.dumps(trigger(**overrides)), max_bytes=1 << 20)


def test_parse_accepts_the_contract_example_and_ignores_unknown_fields() -> None:
    event = parsed(future_field={"x": 1})
    assert event.type == "plan_limit_80" and event.health is not None
    assert event.health.score == 71 and event.fired_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "JSON"),
        (b"[1, 2]", "JSON object"),
        (orjson.dumps({k: v for k, v in trigger().items() if k != "dedup_key"}), "dedup_key"),
        (orjson.dumps(trigger(fired_at="2026-11-20 10:00")), "fired_at"),
        (orjson.dumps(trigger(trigger_id="x" * 65)), "trigger_id"),
        (b"", "JSON"),
    ],
)
def test_parse_rejects_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        parse_trigger(raw, max_bytes=1 << 20)


def test_the_account_comes_from_the_trigger_event() -> None:
    assert Account.of(parsed(account_id="a", account=None)) == Account("a", "a")
    assert Account.of(parsed(account_id="a", account={"name": " "})) == Account("a", "a")
    assert Account.of(parsed(account_id="a", account={"name": "A"})) == Account("a", "A")
    recorded = {"name": "A", "csm": {"email": "S@v.example", "slack": " "}}
    assert Account.of(parsed(account_id="a", account=recorded)).csm_email == "s@v.example"
    assert Account.of(parsed(account_id="a", account=recorded)).csm_slack is None


def test_an_event_from_before_accounts_were_carried_still_parses() -> None:
    v1 = {k: v for k, v in trigger().items() if k not in ("account", "status", "category")}
    event = parse_trigger(orjson.dumps(v1), max_bytes=1 << 20)
    assert event.status == "firing" and event.account is None
    assert Account.of(event) == Account("acme", "acme")


def test_message_id_is_deterministic_per_dedup_key() -> None:
    assert messages.message_id("k1") == messages.message_id("k1")
    assert messages.message_id("k1") != messages.message_id("k2")
    assert messages.message_id("k1").endswith("@accountpulse>")


def test_slack_message_escapes_and_respects_limits() -> None:
    event = parsed(summary="<!channel> & friends")
    account = Account("acme", "A" * 300)
    body = messages.slack_message(event, account, "C1", None)
    assert "&lt;!channel&gt; &amp; friends" in body["blocks"][1]["text"]["text"]
    assert "<!channel>" not in body["text"]
    assert len(body["blocks"][0]["text"]["text"]) == 150
    assert all(b["type"] != "actions" for b in body["blocks"])  # no link without public_url


def test_email_is_multipart_with_pulse_headers_and_no_header_injection() -> None:
    event = parsed(type="health_red", severity="critical")
    account = Account("acme", "Acme\r\nBcc: victim@example.com")
    mail = messages.email_message(event, account, sender="p@v", recipient="s@v", link=None)
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert mail["Subject"].startswith("[CRITICAL]") and "Health turned red" in mail["Subject"]
    assert mail["Bcc"] is None and "\n" not in mail["Subject"]
    assert mail["X-Pulse-Dedup-Key"] == event.dedup_key
    assert mail["Message-ID"] == messages.message_id(event.dedup_key)
    # A resend carries the same identity and content.
    again = messages.email_message(event, account, sender="p@v", recipient="s@v", link=None)
    for header in ("Message-ID", "Date", "Subject"):
        assert mail[header] == again[header]
    assert [p.get_content() for p in mail.iter_parts()] == [
        p.get_content() for p in again.iter_parts()
    ]


def test_console_line_is_one_readable_line() -> None:
    line = messages.console_line(parsed(summary="two\nlines"), ACME)
    assert "\n" not in line
    assert line.startswith("ALERT [warning] Acme Corp (acme): Plan limit 80% reached")


def _response(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.Response(status, content=content, headers=headers)


@pytest.mark.parametrize(
    ("response", "permanent", "retry_after"),
    [
        (_response(200, {"ok": False, "error": "channel_not_found"}), True, None),
        (_response(200, {"ok": False, "error": "invalid_auth"}), True, None),
        (_response(200, {"ok": False, "error": "not_in_channel"}), True, None),
        (_response(200, {"ok": False, "error": "internal_error"}), False, None),
        (_response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}), False, 7),
        (_response(503, b"unavailable"), False, None),
        (_response(200, b"<html>captive portal</html>"), False, None),
        (_response(404, b"no such method"), True, None),
    ],
)
def test_slack_answers(response: httpx.Response, permanent: bool, retry_after: float) -> None:
    with pytest.raises(DeliveryError) as caught:
        check_response(response)
    assert caught.value.permanent is permanent
    assert caught.value.retry_after == retry_after


def test_slack_ok_is_success() -> None:
    check_response(_response(200, {"ok": True, "channel": "C1", "ts": "1.2"}))


def test_backoff_doubles_up_to_the_cap_with_small_jitter() -> None:
    exact = [backoff_seconds(n, 1.0, 20.0, jitter=lambda: 0.0) for n in range(1, 8)]
    assert exact == [1, 2, 4, 8, 16, 20, 20]
    assert backoff_seconds(3, 1.0, 20.0, jitter=lambda: 1.0) == pytest.approx(4.4)


def test_scrubber_hides_every_secret() -> None:
    scrub = scrubber(["xoxb-1", None, "hunter2"])
    assert scrub("token xoxb-1, password hunter2") == "token ***, password ***"


def test_a_message_says_what_the_account_weighs_and_what_to_do_next() -> None:
    recorded = {
        "name": "Acme Corp",
        "tier": 1,
        "arr": 120000,
        "plan": {"name": "Growth", "limits": {}},
        "renewal_date": "2027-03-01",
        "crm_url": "https://crm.example/accounts/0015g",
        "csm": {"name": "Sam Lee", "email": "sam@vendor.example"},
    }
    step = "Check adoption first; then offer the Scale plan"
    event = parsed(account=recorded, playbook=step)
    account = Account.of(event)
    link = messages.account_link("https://pulse.example", "acme")
    assert link == "https://pulse.example/ui/accounts/acme"

    blocks = slack_blocks(event, account, link)
    fields = [f["text"] for f in blocks[1]["fields"]]
    for shown in ("*Tier*\n1", "*ARR*\n120,000", "*Plan*\nGrowth", "*Renewal*\n2027-03-01"):
        assert shown in fields
    assert blocks[2]["text"]["text"] == f"*Next step*\n{step}"
    assert [(b["text"]["text"], b["url"]) for b in blocks[3]["elements"]] == [
        ("Account page", link),
        ("CRM record", "https://crm.example/accounts/0015g"),
    ]
    text, page = _email_parts(event, account, link)
    assert "Tier:     1" in text and "ARR:      120,000" in text and "Renewal:  2027-03-01" in text
    assert f"Next step: {step}" in text and "CRM record: https://crm.example/accounts/0015g" in text
    assert "<b>Next step:</b> Check adoption first; then offer the Scale plan" in page
    assert '<a href="https://crm.example/accounts/0015g">CRM record</a>' in page

    # Only a web address becomes a link; an account without these facts shows none of them.
    hostile = parsed(account={**recorded, "crm_url": "javascript:alert(1)"})
    assert Account.of(hostile).crm_url is None
    bare, _ = _email_parts(parsed(account={"name": "Initech"}), ACME, None)
    assert "Tier" not in bare and "Next step" not in bare and "CRM" not in bare


def _email_parts(event: TriggerEvent, account: Account, link: str | None) -> tuple[str, str]:
    """The text and HTML an email of this alert shows."""
    mail = messages.email_message(event, account, sender="p@v", recipient="s@v", link=link)
    text, page = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and page is not None
    return str(text.get_content()), str(page.get_content())
