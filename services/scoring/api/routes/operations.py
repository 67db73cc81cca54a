"""The routes for operators and their probes: /healthz, /readyz and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.scoring.api import models
from services.scoring.api.deps import ReadinessOf

# Open to all: probes need no token.
probes = APIRouter(tags=["ops"])
# Guarded like /v1 (create_app); served only when metrics have no port of their own.
guarded_metrics = APIRouter(tags=["ops"])


@probes.get("/healthz", response_model=models.Alive)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@probes.get("/readyz", responses={200: {"model": models.Ready}, 503: {"model": models.NotReady}})
async def readyz(readiness: ReadinessOf) -> JSONResponse:
    notices = {"notices": readiness.notices} if readiness.notices else {}
    if readiness.ready:
        return JSONResponse({"status": "ready", **notices})
    return JSONResponse({"status": "not ready", "problems": readiness.problems, **notices}, 503)


@guarded_metrics.get("/metrics", response_class=PlainTextResponse)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
