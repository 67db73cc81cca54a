"""The console: what a first run without Slack or SMTP shows (contract, "Configuration")."""

from __future__ import annotations

import logging

from services.alerts import messages
from services.alerts.models import Account, Trigger

log = logging.getLogger(__name__)


class ConsoleSender:
    channel = "console"
    no_recipient = "the console always has a recipient"

    def recipient(self, account: Account) -> str | None:
        return "stdout"

    async def send(self, trigger: Trigger, account: Account, recipient: str) -> None:
        line = messages.console_line(trigger, account)
        print(line, flush=True)
        log.info("%s", line)
