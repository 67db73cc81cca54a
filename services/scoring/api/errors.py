"""How the API answers errors that are not a route's own: a database that does not answer
(503), and input FastAPI refuses (422, made renderable)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from services.scoring.api.storable import renderable

log = logging.getLogger(__name__)

# What a request meets when the database does not answer: a driver error, a socket error, or
# every pooled connection busy for pool_timeout.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, OSError, PoolTimeout)


def database_away(request: str, exc: Exception) -> JSONResponse:
    """The 503 for a read or write the database did not answer. Nothing was changed, and the
    caller can simply try again. The answer names only the error's class: the statement and
    its parameters are for the log."""
    first_line = (str(exc).splitlines() or [""])[0][:200]
    log.warning("API: %s: database error: %s", request, first_line)
    detail = f"the database did not answer ({type(exc).__name__}); try again shortly"
    return JSONResponse({"detail": detail}, 503, headers={"Retry-After": "1"})


async def invalid_input(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own 422, made renderable: it echoes each bad input, which may be a NaN
    (Python's JSON parser takes one) or hold a lone surrogate."""
    return JSONResponse({"detail": renderable(jsonable_encoder(exc.errors()))}, 422)


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    return database_away(f"{request.method} {request.url.path}", exc)


def add_error_handlers(app: FastAPI) -> None:
    app.exception_handler(RequestValidationError)(invalid_input)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_error)
