"""The HTTP API (see docs/contract.md): reads precomputed views from the database, so any
scoring instance answers for any account; writes go through cs.signals like every change.

create_app assembles it: the routers (routes/), the guard in front of them (guard.py), the
fast health read (fast_health.py) and the error answers (errors.py).
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.api.admission import Gate
from services.scoring.api.answers import GUARD_REFUSALS, TOO_LARGE
from services.scoring.api.auth import GUARDED
from services.scoring.api.errors import add_error_handlers
from services.scoring.api.fast_health import HealthReads
from services.scoring.api.guard import ApiGuard
from services.scoring.api.routes import (
    accounts,
    alerts,
    history,
    operations,
    silences,
    slack,
    stakeholders,
    triggers,
)
from services.scoring.api.writes import RecordWriter
from services.scoring.scorecard.live import LiveScorecard
from services.scoring.settings import ScoringSettings
from services.scoring.ui.routes import install as install_pages
from shared.readiness import Readiness


def create_app(
    settings: ScoringSettings,
    engine: AsyncEngine,
    producer: AIOKafkaProducer | None,
    readiness: Readiness,
    scorecard: LiveScorecard | None = None,
) -> FastAPI:
    app = FastAPI(
        title="AccountPulse",
        version="1.0",
        description="Real-time account health: scores, their reasons, and triggers.",
        # No OpenTelemetry here (metrics are Prometheus'): FastAPI would otherwise look up
        # its providers and the environment at every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        responses=TOO_LARGE,  # the guard's body limit holds on every path
    )
    # Reads are single statements: autocommit spares each a BEGIN and a ROLLBACK round trip.
    reads = engine.execution_options(isolation_level="AUTOCOMMIT")
    app.state.reads = reads
    app.state.writer = RecordWriter(settings, reads, producer)
    app.state.settings = settings
    app.state.readiness = readiness
    app.state.scorecard = scorecard or LiveScorecard(settings.scorecard, readiness)
    add_error_handlers(app)
    # With PULSE_METRICS_PORT set, metrics are served there instead
    # (services/scoring/service.py) and /metrics is a 404.
    metrics_here = not settings.metrics_port
    app.include_router(operations.probes)
    if metrics_here:
        app.include_router(guarded(operations.guarded_metrics))
    app.include_router(guarded(_v1()), prefix="/v1")
    app.include_router(slack.router, prefix="/v1")  # signed by Slack, not by a token
    # The pages (/ui) pass the guard unchecked and admit by session cookie instead, with
    # the gate's rules and its copy of the tokens (services/scoring/ui/access.py).
    app.state.gate = gate = Gate(settings, engine)
    install_pages(app)
    app.add_middleware(HealthReads, reads=reads)  # inside ApiGuard: added first
    app.add_middleware(
        ApiGuard,
        gate=gate,
        max_body=settings.api_max_body_bytes,
        protected_paths=frozenset({"/metrics"} if metrics_here else ()),
    )
    return app


def _v1() -> APIRouter:
    v1 = APIRouter()
    for resource in (accounts, history, stakeholders, triggers, silences, alerts):
        v1.include_router(resource.router)
    return v1


def guarded(router: APIRouter) -> APIRouter:
    """`router` behind the guard's admission: the bearer scheme declared on each of its routes,
    and the guard's refusals documented."""
    outer = APIRouter(dependencies=[GUARDED], responses=GUARD_REFUSALS)
    outer.include_router(router)
    return outer
