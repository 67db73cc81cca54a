"""The routing file's meaning, as Alertmanager gives it: matchers, the route tree (first
match, continue, inherited defaults) and inhibition; and its errors, each naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.alerts.routing.loading import RoutesError, load_routes, parse_routes
from services.alerts.routing.matchers import MatcherError, parse_matcher, silence_matcher
from services.alerts.routing.tree import destinations, group_key, inhibited
from tests.helpers.processes import run_pulse

ACME = {
    "type": "renewal_at_risk",
    "category": "risk",
    "severity": "critical",
    "status": "firing",
    "account_id": "acme",
    "tier": "1",
    "segment": "enterprise",
    "region": "emea",
    "dedup_key": "acme:renewal_at_risk:2027-03-01",
}

ROUTES = b"""\
receivers:
  - name: csm
    slack: {channel: account_csm}
    email: {to: account_csm}
  - name: cs-leads
    slack: {channel: C0LEADS}
  - name: crm
    webhook: {url: "https://hooks.example/pulse", secret_env: PULSE_WEBHOOK_SECRET_CRM}
  - name: emea
    email: {to: emea-cs@example.com}
route:
  receiver: csm
  group_wait: 30s
  routes:
    - matchers: ['category="risk"', 'tier="1"']
      receiver: cs-leads
      group_by: [account_id]
      continue: true
    - matchers: ['type=~"renewal_.*"']
      receiver: crm
      routes:
        - matchers: ['region="emea"']
          receiver: emea
    - matchers: ['category="risk"']
      receiver: emea
inhibit_rules:
  - source_matchers: ['type="champion_left"']
    target_matchers: ['type="single_threaded"']
    equal: [account_id]
escalations:
  - matchers: ['severity="critical"']
    after: 24h
    receiver: cs-leads
"""


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ('type="renewal_at_risk"', True),
        ('type!="renewal_at_risk"', False),
        ('type=~"renewal_.*"', True),
        ('type=~"renewal"', False),  # anchored: the whole value must match
        ('type!~"health_.*"', True),
        ("tier=1", True),  # a value without quotes
        ('segment=""', False),
        ('labelled=""', True),  # a label the alert lacks is the empty string
        ('labelled!=""', False),
        ('region=~"emea|apac"', True),
    ],
)
def test_matchers_have_alertmanagers_meaning(text: str, matches: bool) -> None:
    assert parse_matcher(text).matches(ACME) is matches


def test_a_quoted_value_may_hold_quotes_commas_and_spaces() -> None:
    matcher = parse_matcher(r'summary="said \"no\", twice"')
    assert matcher.value == 'said "no", twice'
    assert str(matcher) == r'summary="said \"no\", twice"'


def test_silence_matchers_take_alertmanagers_json_shape() -> None:
    assert silence_matcher("type", "renewal_.*", is_regex=True).matches(ACME)
    assert not silence_matcher("type", "renewal_.*", is_regex=True, is_equal=False).matches(ACME)
    assert silence_matcher("account_id", "globex", is_regex=False, is_equal=False).matches(ACME)


@pytest.mark.parametrize("text", ["type", 'type=="x"', 'Type-x="y"', 'type=~"("', '="x"'])
def test_a_matcher_that_cannot_be_read_says_so(text: str) -> None:
    with pytest.raises(MatcherError):
        parse_matcher(text)


def _receivers(labels: dict[str, str]) -> list[str]:
    routing = parse_routes(ROUTES, "routes.yaml")
    return [d.receiver for d in destinations(routing.route, labels)]


def test_continue_goes_on_to_the_next_matching_route_and_the_first_match_stops() -> None:
    # cs-leads (continue), then the renewal route, whose emea child takes it; the last
    # route, risk as well, is never tried: the renewal route did not say continue.
    assert _receivers(ACME) == ["cs-leads", "emea"]
    assert _receivers({**ACME, "region": "amer"}) == ["cs-leads", "crm"]


def test_an_alert_no_route_takes_goes_to_the_root_receiver() -> None:
    assert _receivers({**ACME, "type": "plan_limit_80", "category": "expansion"}) == ["csm"]


def test_a_child_inherits_its_parents_receiver_and_grouping() -> None:
    text = ROUTES.replace(b"          receiver: emea\n", b"")
    routing = parse_routes(text, "routes.yaml")
    [lead, renewal] = destinations(routing.route, ACME)
    assert (lead.receiver, lead.group_by, lead.group_wait) == ("cs-leads", ("account_id",), 30)
    # The emea child has no receiver of its own now: the renewal route's crm.
    assert (renewal.receiver, renewal.group_by, renewal.group_wait) == ("crm", ("dedup_key",), 30)
    assert renewal.group_interval == 300  # the default: one message per trigger, 5m apart
    assert renewal.route == "1.0"


def test_the_group_key_is_the_route_the_receiver_and_the_grouped_labels() -> None:
    routing = parse_routes(ROUTES, "routes.yaml")
    [lead, _] = destinations(routing.route, ACME)
    assert group_key(lead, ACME) == "0/cs-leads/{account_id=acme}"
    assert group_key(lead, {**ACME, "type": "health_red"}) == group_key(lead, ACME)


def test_a_champion_leaving_mutes_single_threaded_on_the_same_account_only() -> None:
    rules = parse_routes(ROUTES, "routes.yaml").inhibit_rules
    single = {"type": "single_threaded", "account_id": "acme", "dedup_key": "acme:st"}
    left = {"type": "champion_left", "account_id": "acme", "dedup_key": "acme:cl"}
    assert inhibited(rules, single, [left])
    assert not inhibited(rules, single, [{**left, "account_id": "globex"}])
    assert not inhibited(rules, left, [single])  # the other way round: no rule


def test_equal_counts_a_label_both_lack_as_equal_and_an_alert_never_mutes_itself() -> None:
    text = b"""\
receivers: [{name: csm, email: {to: account_csm}}]
route: {receiver: csm}
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity=~"critical|warning"']
    equal: [account_id, region]
"""
    rules = parse_routes(text, "routes.yaml").inhibit_rules
    warning = {"severity": "warning", "account_id": "acme", "dedup_key": "w"}
    critical = {"severity": "critical", "account_id": "acme", "dedup_key": "c"}
    assert inhibited(rules, warning, [critical])  # neither has a region
    assert not inhibited(rules, warning, [{**critical, "region": "emea"}])
    assert not inhibited(rules, critical, [critical])  # matches both sides: not itself


def test_without_a_file_the_csm_gets_every_trigger_in_slack_and_by_email() -> None:
    routing = load_routes(None)
    [only] = routing.receivers
    assert only.slack is not None and only.slack.channel == "account_csm"
    assert only.email is not None and only.email.to == "account_csm"
    assert [d.receiver for d in destinations(routing.route, ACME)] == ["csm"]


def test_the_example_file_parses_with_its_durations() -> None:
    routing = parse_routes(ROUTES, "routes.yaml")
    assert [e.after for e in routing.escalations] == [86400]
    assert routing.route.group_wait == 30


def _errors(text: bytes) -> list[str]:
    with pytest.raises(RoutesError) as raised:
        parse_routes(text, "routes.yaml")
    return str(raised.value).splitlines()


def test_every_problem_names_its_line_and_key_at_once() -> None:
    text = (
        ROUTES.replace(b"receiver: crm\n      routes", b"receiver: sales\n      routes")
        .replace(b"after: 24h", b"after: a day")
        .replace(b"'type=~\"renewal_.*\"'", b"'type=~renewal_('")
        .replace(b"group_wait: 30s", b"group_wait: 30s\n  repeat: 4h")
    )
    assert _errors(text) == [
        "routes.yaml:14: route.repeat: unknown key",
        "routes.yaml:20: route.routes.1.matchers.0: type=~'renewal_(': not a regular "
        "expression: missing ), unterminated subpattern at position 8",
        "routes.yaml:33: escalations.0.after: 'a day' is not a duration: a number and a "
        "unit, such as 30s, 5m, 24h",
    ]
    # Once the file's shape is right, the names it uses but never defines.
    text = ROUTES.replace(b"receiver: crm\n      routes", b"receiver: sales\n      routes")
    text = text.replace(b"receiver: cs-leads\n", b"receiver: account_csm\n", 2)
    assert _errors(text) == [
        "routes.yaml:16: route.routes.0.receiver: no receiver is named 'account_csm' "
        "(account_csm is a channel or an address)",
        "routes.yaml:20: route.routes.1.receiver: no receiver is named 'sales'",
        "routes.yaml:33: escalations.0.receiver: no receiver is named 'account_csm' "
        "(account_csm is a channel or an address)",
    ]


def test_a_receiver_without_a_channel_or_twice_defined_and_a_root_that_filters() -> None:
    text = b"""\
receivers:
  - name: csm
  - name: csm
    email: {to: someone}
route:
  matchers: ['tier="1"']
"""
    assert _errors(text) == [
        "routes.yaml:4: receivers.1.email.to: 'someone' is neither an email address nor "
        "account_csm",
    ]
    text = text.replace(b"to: someone", b"to: cs@example.com")
    assert _errors(text) == [
        "routes.yaml:2: receivers.0: a receiver needs slack, email or webhook",
        "routes.yaml:3: receivers.1.name: 'csm' is defined twice",
        "routes.yaml:5: route: the root route needs a receiver (the default one)",
        "routes.yaml:6: route.matchers: the root route takes every alert: no matchers",
    ]


def test_a_file_that_is_not_yaml_or_not_there_says_which() -> None:
    assert _errors(b"receivers: [\n") == [
        "routes.yaml:2: not valid YAML: expected the node content, but found '<stream end>'"
    ]
    with pytest.raises(RoutesError, match=r"nowhere\.yaml: cannot be read: No such file"):
        load_routes("nowhere.yaml")


async def test_pulse_routes_shows_the_built_in_routing_and_checks_a_file(tmp_path: Path) -> None:
    shown = await run_pulse("routes", "show", env={})
    assert shown.code == 0 and parse_routes(shown.out.encode(), "shown") == load_routes(None)
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_bytes(ROUTES)
    bad.write_bytes(ROUTES.replace(b"group_wait: 30s", b"group_wait: soon"))
    checked = await run_pulse("routes", "check", str(good), env={})
    assert checked.code == 0, checked.err
    assert checked.out == (
        f"{good}: valid, receivers: csm, cs-leads, crm, emea; 1 inhibit rules, 1 escalations\n"
    )
    refused = await run_pulse("routes", "check", str(bad), env={})
    assert refused.code == 2
    assert refused.err == (
        f"pulse routes: {bad}:13: route.group_wait: 'soon' is not a duration: a number and a "
        "unit, such as 30s, 5m, 24h\n"
    )


def test_an_inhibit_rule_mutes_within_one_account_only() -> None:
    text = ROUTES.replace(b"    equal: [account_id]", b"    equal: [tier]")
    assert _errors(text) == [
        "routes.yaml:29: inhibit_rules.0.equal: must name account_id: alerts mute others of "
        "their own account only"
    ]
