"""What a route gets from the app it is part of (create_app puts them in app.state), as typed
dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.api.writes import RecordWriter
from services.scoring.scorecard.live import LiveScorecard
from services.scoring.scorecard.loading import Scorecard
from services.scoring.settings import ScoringSettings
from shared.readiness import Readiness


def _reads(request: Request) -> AsyncEngine:
    reads: AsyncEngine = request.app.state.reads
    return reads


def _writer(request: Request) -> RecordWriter:
    writer: RecordWriter = request.app.state.writer
    return writer


def _settings(request: Request) -> ScoringSettings:
    settings: ScoringSettings = request.app.state.settings
    return settings


def _scorecard(request: Request) -> Scorecard:
    live: LiveScorecard = request.app.state.scorecard
    return live.current


def _readiness(request: Request) -> Readiness:
    readiness: Readiness = request.app.state.readiness
    return readiness


# The engine for reads: single statements, in autocommit.
Reads = Annotated[AsyncEngine, Depends(_reads)]
Writer = Annotated[RecordWriter, Depends(_writer)]
Settings = Annotated[ScoringSettings, Depends(_settings)]
ReadinessOf = Annotated[Readiness, Depends(_readiness)]
ScorecardInUse = Annotated[Scorecard, Depends(_scorecard)]
