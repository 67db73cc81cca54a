"""The console: what a first run without Slack or SMTP shows (contract, "Configuration")."""

from __future__ import annotations

from services.alerts import messages
from services.alerts.models import Account
from services.alerts.senders.base import Attempt, Receipt
from shared.contracts.triggers import TriggerEvent


class ConsoleSender:
    channel = "console"
    no_recipient = "the console always has a recipient"
    max_in_flight = 100

    def recipient(self, account: Account) -> str | None:
        return "stdout"

    async def send(
        self, trigger: TriggerEvent, account: Account, recipient: str, attempt: Attempt
    ) -> Receipt | None:
        # Printed, not logged: the worker already logs every delivery, and one line per alert
        # is what a first run should show.
        print(messages.console_line(trigger, account, attempt.notice, attempt.note), flush=True)
        return None
