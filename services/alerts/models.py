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
    # What a CSM weighs an alert by, as recorded when it fired.
    tier: int | None = None
    arr: float | None = None
    plan: str | None = None
    renewal_date: str | None = None  # ISO date
    crm_url: str | None = None  # http(s) only: it becomes a link

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
            tier=account.tier if account else None,
            arr=account.arr if account else None,
            plan=_text(account.plan.name) if account and account.plan else None,
            renewal_date=(
                account.renewal_date.isoformat() if account and account.renewal_date else None
            ),
            crm_url=_web_link(account.crm_url if account else None),
        )


def _text(value: str | None) -> str | None:
    return (value.strip() or None) if value else None


def _web_link(url: str | None) -> str | None:
    url = _text(url)
    return url if url and url.lower().startswith(("https://", "http://")) else None
