from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.slack import SlackServer
from services.cli import UpSettings
from tests.helpers.alert_factories import TOKEN
from tests.helpers.servers import SmtpServer


@pytest.fixture
def alert_settings(
    settings_factory: Callable[..., UpSettings],
    slack_server: SlackServer,
    smtp_server: SmtpServer,
) -> Callable[..., UpSettings]:
    """Settings with Slack and email both pointed at this test's receivers."""

    def make(**overrides: Any) -> UpSettings:
        wired: dict[str, Any] = {
            "slack_bot_token": TOKEN,
            "slack_api_url": slack_server.url,
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_starttls": False,
            "email_from": "pulse@vendor.example",
            "delivery_timeout_seconds": 2.0,
        }
        return settings_factory(**{**wired, **overrides})

    return make


@pytest.fixture
def routed(alert_settings: Callable[..., UpSettings], tmp_path: Path) -> Callable[..., UpSettings]:
    """Settings with a routing file of the given text (and any other overrides)."""

    def make(routes: str, **overrides: Any) -> UpSettings:
        path = tmp_path / "routes.yaml"
        path.write_text(routes)
        return alert_settings(routes=str(path), **overrides)

    return make
