"""GET /ui, /ui/accounts/{id}, /ui/alerts (and its feed, refreshed in place): the pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.scoring.api.deps import Reads, ScorecardInUse
from services.scoring.api.params import ACCOUNT_ID_MAX
from services.scoring.ui.access import CurrentViewer, PageRefused
from services.scoring.ui.account_view import load_account
from services.scoring.ui.feed import (
    DELIVERY_STATUSES,
    TRIGGER_TYPES,
    FeedFilters,
    load_feed,
    silences_shown,
)
from services.scoring.ui.portfolio import BANDS, Filters, filter_fields, load_portfolio
from services.scoring.ui.rendering import page
from shared.clock import utcnow

router = APIRouter(include_in_schema=False)

# What a form did, by the code it sends the browser back with (never text from the request).
NOTICES = {
    "acked": "Acknowledged.",
    "snoozed": "Snoozed: a silence on this account and trigger type.",
    "silenced": "Silence created.",
    "expired": "Silence expired.",
    "not-alerted": "No alert was made of this trigger yet: nothing to acknowledge or snooze.",
}


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("notice", ""))


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@router.get("", response_class=HTMLResponse)
async def portfolio(request: Request, viewer: CurrentViewer, reads: Reads) -> HTMLResponse:
    q = request.query_params
    filters = Filters(
        csm=q.get("csm") or None,
        band=_choice(q.get("band"), BANDS),
        tier=_number(q.get("tier")),
        segment=q.get("segment") or None,
        page=_number(q.get("page")) or 1,
    )
    shown = await load_portfolio(reads, request.app.state.listing, filters, utcnow())
    return page(
        request,
        "portfolio.html",
        viewer=viewer,
        p=shown,
        bands=BANDS,
        filter_fields=filter_fields(filters, shown.choices),
    )


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
async def account(
    request: Request,
    viewer: CurrentViewer,
    reads: Reads,
    scorecard: ScorecardInUse,
    account_id: str,
) -> HTMLResponse:
    # Checked here rather than by FastAPI, whose refusal would be JSON.
    if len(account_id) > ACCOUNT_ID_MAX or "\x00" in account_id:
        raise PageRefused(404, "No account has such an id.")
    now = utcnow()
    shown = await load_account(reads, account_id, scorecard, now)
    return page(request, "account.html", viewer=viewer, now=now, notice=_notice(request), **shown)


def _feed_filters(request: Request) -> FeedFilters:
    q = request.query_params
    account_id = q.get("account_id") or None
    if account_id is not None and (len(account_id) > ACCOUNT_ID_MAX or "\x00" in account_id):
        raise PageRefused(422, "account_id: at most 200 characters, no NUL")
    return FeedFilters(
        account_id=account_id,
        type=_choice(q.get("type"), TRIGGER_TYPES),
        status=_choice(q.get("status"), DELIVERY_STATUSES),
    )


@router.get("/alerts", response_class=HTMLResponse)
async def alerts(request: Request, viewer: CurrentViewer, reads: Reads) -> HTMLResponse:
    filters = _feed_filters(request)
    now = utcnow()
    return page(
        request,
        "alerts.html",
        viewer=viewer,
        filters=filters,
        feed=await load_feed(reads, filters),
        silences=await silences_shown(reads, now),
        types=TRIGGER_TYPES,
        statuses=DELIVERY_STATUSES,
        notice=_notice(request),
    )


@router.get("/alerts/feed", response_class=HTMLResponse)
async def alerts_feed(request: Request, viewer: CurrentViewer, reads: Reads) -> HTMLResponse:
    """The feed alone, which the alerts page fetches to refresh itself (static/pulse.js)."""
    feed = await load_feed(reads, _feed_filters(request))
    return page(request, "_feed.html", viewer=viewer, feed=feed)
