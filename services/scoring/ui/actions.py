"""The pages' forms: acknowledge and snooze an alert, create and expire a silence. Each checks
the form's CSRF token, then that the viewer may act (a write token, or an open install), and
does what the JSON route does by calling it."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from services.scoring.api import models
from services.scoring.api.deps import Reads
from services.scoring.api.params import NO_NUL
from services.scoring.api.routes import alerts, silences
from services.scoring.ui.access import CurrentViewer, PageRefused, Viewer, form_of, must_act
from services.scoring.ui.feed import TRIGGER_TYPES
from services.scoring.ui.rendering import back_to
from shared.clock import utcnow

router = APIRouter(include_in_schema=False)

TriggerId = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)]
SilenceId = Annotated[str, Path(min_length=1, max_length=36, pattern=NO_NUL)]
SNOOZE_DAYS = 7  # as the Slack button's
MAX_SILENCE_HOURS = 24 * 365


async def _acting(request: Request, viewer: Viewer) -> dict[str, str]:
    form = await form_of(request, viewer.csrf)
    must_act(viewer)
    return form


@router.post("/alerts/{trigger_id}/ack")
async def acknowledge(
    request: Request, viewer: CurrentViewer, reads: Reads, trigger_id: TriggerId
) -> RedirectResponse:
    form = await _acting(request, viewer)
    try:
        await alerts.acknowledge(reads, trigger_id, models.AckIn(by=viewer.name))
    except HTTPException:
        return back_to(form.get("back"), "not-alerted")
    return back_to(form.get("back"), "acked")


@router.post("/alerts/{trigger_id}/snooze")
async def snooze(
    request: Request, viewer: CurrentViewer, reads: Reads, trigger_id: TriggerId
) -> RedirectResponse:
    form = await _acting(request, viewer)
    days = form.get("days", str(SNOOZE_DAYS))
    try:
        wanted = models.SnoozeIn(days=int(days) if days.isdigit() else 0, by=viewer.name)
    except ValidationError:
        raise PageRefused(422, "Snooze for 1 to 365 days.") from None
    try:
        await alerts.snooze(reads, trigger_id, wanted)
    except HTTPException:
        return back_to(form.get("back"), "not-alerted")
    return back_to(form.get("back"), "snoozed")


@router.post("/silences")
async def create_silence(request: Request, viewer: CurrentViewer, reads: Reads) -> RedirectResponse:
    form = await _acting(request, viewer)
    matchers = [
        {"name": name, "value": form[name].strip(), "isRegex": False, "isEqual": True}
        for name in ("account_id", "type")
        if form.get(name, "").strip()
    ]
    if form.get("type") and form["type"] not in TRIGGER_TYPES:
        raise PageRefused(422, f"Unknown trigger type {form['type']!r}.")
    hours = form.get("hours", "")
    if not matchers or not hours.isdigit() or not 1 <= int(hours) <= MAX_SILENCE_HOURS:
        raise PageRefused(
            422,
            "A silence needs an account or a trigger type (or both), and 1 to "
            f"{MAX_SILENCE_HOURS} hours.",
        )
    now = utcnow()
    try:
        wanted = models.SilenceIn.model_validate(
            {
                "matchers": matchers,
                "startsAt": now,
                "endsAt": now + timedelta(hours=int(hours)),
                "createdBy": viewer.name,
                "comment": form.get("comment", "").strip(),
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PageRefused(422, f"The silence was not created: {problems}.") from None
    await silences.create_silence(reads, wanted)
    return back_to(form.get("back") or "/ui/alerts", "silenced")


@router.post("/silences/{silence_id}/expire")
async def expire_silence(
    request: Request, viewer: CurrentViewer, reads: Reads, silence_id: SilenceId
) -> RedirectResponse:
    form = await _acting(request, viewer)
    try:
        await silences.expire_silence(reads, silence_id)
    except HTTPException as exc:
        raise PageRefused(404, str(exc.detail)) from None
    return back_to(form.get("back") or "/ui/alerts", "expired")
