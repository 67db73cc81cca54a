"""The HTTP API (see docs/contract.md): reads precomputed views from the database, so any
scoring instance answers for any account; writes go through cs.signals like every change."""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from services.scoring.accounts.packing import unpacked
from services.scoring.accounts.state import AccountState
from services.scoring.accounts.views import stakeholders_view, usage_view
from services.scoring.api import models
from services.scoring.api.security import ApiGuard, document_guard
from services.scoring.settings import ScoringSettings
from services.scoring.tables import accounts, triggers
from shared.clock import iso
from shared.contracts.inputs import (
    AccountFields,
    AccountRecord,
    StakeholderFields,
    StakeholderRecord,
)
from shared.contracts.messages import Email, parse_event_time
from shared.db.engine import read_rows
from shared.readiness import Readiness

# PostgreSQL text holds no NUL, and UTF-8 no lone surrogate. Text with either is refused at
# the door (422): a record carrying it would fail every flush of scoring's batches.
NO_NUL = r"^[^\x00]*$"
ACCOUNT_ID_MAX = 200
AccountId = Annotated[
    str,
    Path(min_length=1, max_length=ACCOUNT_ID_MAX, pattern=NO_NUL, description="The account's id"),
]
EMAIL_CHECK: TypeAdapter[str] = TypeAdapter(Email)

log = logging.getLogger(__name__)


def create_app(
    settings: ScoringSettings,
    engine: AsyncEngine,
    producer: AIOKafkaProducer | None,
    readiness: Readiness,
) -> FastAPI:
    app = FastAPI(
        title="AccountPulse",
        version="1.0",
        description="Real-time account health: scores, their reasons, and triggers.",
        # No OpenTelemetry here (metrics are Prometheus'): FastAPI would otherwise look up
        # its providers and the environment at every request, 5% of a health read's CPU.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # Reads are single statements: autocommit spares each a BEGIN and a ROLLBACK round trip.
    reads = engine.execution_options(isolation_level="AUTOCOMMIT")
    writer = RecordWriter(settings, reads, producer)
    # Auth, rate and body limits for every route (security.py). With PULSE_METRICS_PORT set,
    # metrics are served there instead (services/scoring/service.py) and /metrics is a 404.
    metrics_here = not settings.metrics_port
    protected = frozenset({"/metrics"} if metrics_here else ())
    app.add_middleware(HealthReads, reads=reads)  # inside ApiGuard: added first
    app.add_middleware(ApiGuard, settings=settings, engine=engine, protected_paths=protected)
    document_guard(app, protected)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer, made renderable: it echoes each bad input, which may be a NaN
        # (Python's JSON parser takes one) or hold a lone surrogate.
        return JSONResponse({"detail": _renderable(jsonable_encoder(exc.errors()))}, 422)

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        return database_away(f"{request.method} {request.url.path}", exc)

    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_error)

    @app.get("/healthz", tags=["ops"], response_model=models.Alive)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        responses={200: {"model": models.Ready}, 503: {"model": models.NotReady}},
    )
    async def readyz() -> JSONResponse:
        if readiness.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "problems": readiness.problems}, 503)

    if metrics_here:

        @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.put("/v1/accounts/{account_id}", tags=["accounts"], responses=write_answers(AccountRecord))
    async def put_account(account_id: AccountId, record: AccountFields) -> JSONResponse:
        body = {"account_id": account_id, **record.model_dump(mode="json", exclude_none=True)}
        applied = await writer.write("account", account_id, body)
        return JSONResponse(body, status_code=200 if applied else 202)

    @app.get(
        "/v1/accounts/{account_id}",
        tags=["accounts"],
        **read_answers(models.Account, one_account=True),
    )
    async def get_account(account_id: AccountId) -> dict[str, Any]:
        row = await _account_row(reads, account_id)
        state = _state(row)
        profile = orjson.loads(row.profile) if row.profile else {}
        return {
            **profile,
            "account_id": account_id,
            "name": profile.get("name"),
            "health": {"score": row.score, "band": row.band},
            "usage": usage_view(state, state.now or row.updated_at.timestamp()),
            "updated_at": iso(row.updated_at),
        }

    @app.get("/v1/accounts", tags=["accounts"], **read_answers(models.AccountPage))
    async def list_accounts(
        band: models.Band | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        query = (
            select(
                accounts.c.account_id,
                accounts.c.name,
                accounts.c.score,
                accounts.c.band,
                accounts.c.updated_at,
            )
            .order_by(accounts.c.score, accounts.c.account_id)
            .limit(limit + 1)
        )
        if band:
            query = query.where(accounts.c.band == band)
        if cursor:
            score, after = _decode_cursor(cursor, _score, _text)
            query = query.where(
                or_(
                    accounts.c.score > score,
                    and_(accounts.c.score == score, accounts.c.account_id > after),
                )
            )
        rows = await read_rows(reads, query)
        page = [
            {
                "account_id": r.account_id,
                "name": r.name,
                "score": r.score,
                "band": r.band,
                "updated_at": iso(r.updated_at),
            }
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        last = rows[limit - 1] if more else None
        return {
            "accounts": page,
            "next_cursor": _encode_cursor([last.score, last.account_id]) if last else None,
        }

    @app.get(
        "/v1/accounts/{account_id}/health",
        tags=["accounts"],
        **read_answers(models.Health, one_account=True),
    )
    async def get_health(account_id: AccountId) -> Response:
        # HealthReads answers this read when the account exists; this route, the rest.
        row = await _account_row(reads, account_id, *HEALTH_COLUMNS)
        return Response(_health_json(row), media_type="application/json")

    @app.put(
        "/v1/accounts/{account_id}/stakeholders/{email}",
        tags=["stakeholders"],
        responses=write_answers(StakeholderRecord),
    )
    async def put_stakeholder(
        account_id: AccountId,
        email: Annotated[str, Path(max_length=320, pattern=NO_NUL)],
        record: StakeholderFields,
    ) -> JSONResponse:
        try:
            email = EMAIL_CHECK.validate_python(email)
        except ValidationError:
            raise HTTPException(
                422, "email: must be an email address like name@example.com"
            ) from None
        body = {
            "account_id": account_id,
            "email": email,
            **record.model_dump(mode="json", exclude_none=True),
        }
        applied = await writer.write("stakeholder", account_id, body)
        return JSONResponse(body, status_code=200 if applied else 202)

    @app.get(
        "/v1/accounts/{account_id}/stakeholders",
        tags=["stakeholders"],
        **read_answers(models.Stakeholders, one_account=True),
    )
    async def get_stakeholders(account_id: AccountId) -> dict[str, Any]:
        row = await _account_row(reads, account_id)
        people = stakeholders_view(_state(row), settings.rules)
        return {"account_id": account_id, "stakeholders": people}

    @app.get("/v1/triggers", tags=["triggers"], **read_answers(models.TriggerPage))
    async def list_triggers(
        account_id: Annotated[
            str | None, Query(min_length=1, max_length=200, pattern=NO_NUL)
        ] = None,
        type: models.TriggerType | None = None,
        since: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        query = (
            select(triggers.c.payload, triggers.c.fired_at, triggers.c.trigger_id)
            .order_by(triggers.c.fired_at.desc(), triggers.c.trigger_id.desc())
            .limit(limit + 1)
        )
        if account_id:
            query = query.where(triggers.c.account_id == account_id)
        if type:
            query = query.where(triggers.c.type == type)
        if since:
            try:
                query = query.where(triggers.c.fired_at >= parse_event_time(since))
            except ValueError as exc:
                raise HTTPException(422, f"since: {exc}") from None
        if cursor:
            moment, after = _decode_cursor(cursor, _moment, _text)
            query = query.where(
                or_(
                    triggers.c.fired_at < moment,
                    and_(triggers.c.fired_at == moment, triggers.c.trigger_id < after),
                )
            )
        rows = await read_rows(reads, query)
        more = len(rows) > limit
        last = rows[limit - 1] if more else None
        return {
            "triggers": [orjson.loads(r.payload) for r in rows[:limit]],
            "next_cursor": (
                _encode_cursor([last.fired_at.isoformat(), last.trigger_id]) if last else None
            ),
        }

    return app


INVALID = {"model": models.Invalid, "description": "a field is invalid; the answer names it"}
NOT_FOUND = {
    "model": models.Refusal,
    "description": "an account never named by an event or record",
}


def read_answers(model: type[BaseModel], *, one_account: bool = False) -> dict[str, Any]:
    """A read route's answers: `model` on 200, 422, and 404 for a route about one account.
    The model documents the answer without checking it (models.py); ApiGuard documents its own
    refusals (security.py)."""
    responses: dict[int | str, dict[str, Any]] = {200: {"model": model}, 422: INVALID}
    if one_account:
        responses[404] = NOT_FOUND
    return {"response_model": None, "responses": responses}


def write_answers(record: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """A PUT's answers: the normalized record, on 200 once applied or 202 if not yet."""
    return {
        200: {"model": record, "description": "applied: the normalized record"},
        202: {"model": record, "description": "accepted, not applied yet: it will be"},
        # FastAPI's answer to a body it cannot even decode; one that is not JSON is a 422.
        400: {"model": models.Refusal, "description": "a body that is not UTF-8 text"},
        422: INVALID,
        503: {"model": models.Refusal, "description": "the broker did not take the write"},
    }


async def _account_row(engine: AsyncEngine, account_id: str, *columns: Any) -> Any:
    rows = await read_rows(engine, _one_account(columns), {"account_id": account_id})
    if not rows:
        raise HTTPException(
            404, f"account {account_id!r} has never been named by an event or record"
        )
    return rows[0]


HEALTH_COLUMNS = (accounts.c.health, accounts.c.updated_at)
# The ids AccountId admits, and the route's path: HealthReads answers none the route refuses.
HEALTH_PATH = re.compile(rf"/v1/accounts/([^/\x00]{{1,{ACCOUNT_ID_MAX}}})/health")
JSON_HEADERS = [(b"content-type", b"application/json")]


def _health_json(row: Any) -> bytes:
    return orjson.dumps({**orjson.loads(row.health), "updated_at": iso(row.updated_at)})


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


class HealthReads:
    """Answers GET /v1/accounts/{id}/health below FastAPI's routing, dependency solving and
    response objects: the hottest read, and those layers were about 40% of its CPU. It
    answers a found account, and the database's absence as the routes do; everything else
    (another path, an id the route refuses, an unknown account) goes on to the route."""

    def __init__(self, app: ASGIApp, *, reads: AsyncEngine) -> None:
        self.app = app
        self.reads = reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "GET":
            match = HEALTH_PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        try:
            rows = await read_rows(
                self.reads, _one_account(HEALTH_COLUMNS), {"account_id": match[1]}
            )
        except DATABASE_ERRORS as exc:
            await database_away(f"GET {scope['path']}", exc)(scope, receive, send)
            return
        if not rows:
            await self.app(scope, receive, send)  # the route's 404
            return
        found = _health_json(rows[0])
        headers = [*JSON_HEADERS, (b"content-length", str(len(found)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": found})


@functools.cache
def _one_account(columns: tuple[Any, ...]) -> Select[Any]:
    """One statement object per column set: SQLAlchemy memoizes its cache key on the object,
    which a statement built per request would compute again (a tenth of a health read)."""
    account_id = bindparam("account_id", type_=accounts.c.account_id.type)
    return select(*(columns or [accounts])).where(accounts.c.account_id == account_id)


def _state(row: Any) -> AccountState:
    return unpacked(row.account_id, row.partition, row.state)


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _decode_cursor(cursor: str, *parts: Callable[[Any], Any]) -> list[Any]:
    """The values _encode_cursor packed, each checked (and converted) by its part: a cursor the
    API did not return is a 422, whatever it holds, never a query that fails."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(parts):
            raise ValueError
        return [part(value) for part, value in zip(parts, values, strict=True)]
    except (ValueError, TypeError, OverflowError):
        raise HTTPException(422, "cursor: not a cursor this API returned") from None


def _score(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= 100:  # not a bool either
        raise ValueError
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not _storable(value):
        raise ValueError
    return value


def _moment(value: Any) -> datetime:
    moment = datetime.fromisoformat(_text(value))
    if moment.tzinfo is None:
        raise ValueError
    return moment.astimezone(UTC)  # OverflowError at the ends of the calendar


def _storable(text: str) -> bool:
    """Whether PostgreSQL can store `text`: no NUL, and no lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where in a record is text that PostgreSQL cannot store, if anywhere. A bad key gives its
    parent's path: the answer cannot quote it."""
    if isinstance(value, str):
        return None if _storable(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable(item, (*path, key)) if _storable(key) else path
            if found is not None:
                return found
    return None


def _renderable(value: Any) -> Any:
    """`value` as JSON in UTF-8 can carry it: non-finite numbers and text with lone surrogates
    become their text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode()
    if isinstance(value, dict):
        return {_renderable(k): _renderable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_renderable(v) for v in value]
    return value


class RecordWriter:
    """Publishes API writes to cs.signals, keyed by account, so they are applied in order with
    the account's events; then waits briefly to answer 200 once applied (else 202)."""

    def __init__(
        self, settings: ScoringSettings, engine: AsyncEngine, producer: AIOKafkaProducer | None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.producer = producer

    async def write(self, kind: str, account_id: str, body: dict[str, Any]) -> bool:
        where = _unstorable(body)
        if where is not None:
            field = ".".join(where) or "body"
            raise HTTPException(422, f"{field}: must not hold a NUL or an unpaired surrogate")
        if self.producer is None:
            raise HTTPException(503, "this instance does not accept writes")
        signal_id = f"api:{uuid.uuid4()}"
        signal = {"kind": kind, "signal_id": signal_id, **body}
        try:
            await self.producer.send_and_wait(
                self.settings.topics.signals, orjson.dumps(signal), key=account_id.encode()
            )
        except Exception as exc:
            raise HTTPException(503, f"could not accept the write: {type(exc).__name__}") from None
        return await self._applied(account_id, signal_id)

    async def _applied(self, account_id: str, signal_id: str) -> bool:
        deadline = asyncio.get_running_loop().time() + self.settings.api_write_wait_seconds
        query = select(accounts.c.recent_records).where(accounts.c.account_id == account_id)
        while asyncio.get_running_loop().time() < deadline:
            rows = await read_rows(self.engine, query)
            recent = rows[0].recent_records if rows else None
            if recent and signal_id in orjson.loads(recent):
                return True
            await asyncio.sleep(0.05)
        return False
