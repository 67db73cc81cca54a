"""The account an alert is about, with its CSM (the recipient), as its trigger event recorded it
when it fired. Alerts reads no other service's tables: the event is all it needs."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.triggers import TriggerEvent


@dataclass(frozen=True)
class Account:
    """The part of the trigger's account alerts needs. An event without an account, or an
    account without a CSM, means "no CSM known": a fallback channel or a skip, never a failed
    delivery."""

    account_id: str
    name: str
    csm_name: str | None = None
    csm_email: str | None = None
    csm_slack: str | None = None

    @classmethod
    def of(cls, trigger: TriggerEvent) -> Account:
        account = trigger.account
        csm = account.csm if account else None
        return cls(
            account_id=trigger.account_id,
            name=_text(account.name if account else None) or trigger.account_id,
            csm_name=_text(csm.name) if csm else None,
            csm_email=_text(csm.email) if csm else None,
            csm_slack=_text(csm.slack) if csm else None,
        )


def _text(value: str | None) -> str | None:
    return (value.strip() or None) if value else None
