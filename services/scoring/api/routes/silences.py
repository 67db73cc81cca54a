"""/v1/silences: Alertmanager's silences. While one is in force, the alerts service records the
deliveries of the triggers it matches as silenced and sends nothing (services/alerts/silences.py).
Creating and expiring need a write token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from services.alerts import silences
from services.scoring.api import models
from services.scoring.api.answers import INVALID, act_answers
from services.scoring.api.deps import Reads
from services.scoring.api.params import NO_NUL
from shared.clock import iso, utcnow

router = APIRouter(prefix="/silences", tags=["silences"])

SilenceId = Annotated[str, Path(min_length=1, max_length=36, pattern=NO_NUL)]
NO_SILENCE = "no silence has this id"


@router.post("", **act_answers(models.SilenceCreated))
async def create_silence(reads: Reads, silence: models.SilenceIn) -> dict[str, Any]:
    silence_id = await silences.create(
        reads,
        matchers=[m.model_dump() for m in silence.matchers],
        starts_at=silence.startsAt,
        ends_at=silence.endsAt,
        created_by=silence.createdBy,
        comment=silence.comment,
        now=utcnow(),
    )
    return {"silenceID": silence_id}


@router.get("", response_model=None, responses={200: {"model": list[models.Silence]}})
async def list_silences(reads: Reads) -> list[dict[str, Any]]:
    now = utcnow()
    return [_shown(silence, now) for silence in await silences.listed(reads)]


@router.get(
    "/{silence_id}",
    response_model=None,
    responses={
        200: {"model": models.Silence},
        404: {"model": models.Refusal, "description": NO_SILENCE},
        422: INVALID,
    },
)
async def get_silence(reads: Reads, silence_id: SilenceId) -> dict[str, Any]:
    silence = await silences.one(reads, silence_id)
    if silence is None:
        raise HTTPException(404, f"no silence has the id {silence_id!r}")
    return _shown(silence, utcnow())


@router.delete("/{silence_id}", **act_answers(models.Silence, unknown=NO_SILENCE))
async def expire_silence(reads: Reads, silence_id: SilenceId) -> dict[str, Any]:
    """Ends the silence now (as Alertmanager's DELETE does); it stays listed, expired."""
    now = utcnow()
    silence = await silences.expire(reads, silence_id, now)
    if silence is None:
        raise HTTPException(404, f"no silence has the id {silence_id!r}")
    return _shown(silence, now)


def _shown(silence: silences.Silence, now: Any) -> dict[str, Any]:
    return {
        "id": silence.silence_id,
        "matchers": silence.matchers,
        "startsAt": iso(silence.starts_at),
        "endsAt": iso(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
        "updatedAt": iso(silence.updated_at),
        "status": {"state": silence.state(now)},
    }
