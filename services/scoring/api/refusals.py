"""The answer the API gives when it refuses a request before any route: {"detail": "..."},
counted by reason in pulse_api_rejected_total."""

from __future__ import annotations

from starlette.responses import JSONResponse

from services.scoring.api.metrics import REJECTED


def refuse(
    status: int, detail: str, headers: dict[str, str] | None = None, *, reason: str = ""
) -> JSONResponse:
    if reason:
        REJECTED.labels(reason).inc()
    return JSONResponse({"detail": detail}, status, headers=headers)
