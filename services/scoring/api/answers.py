"""What the routes answer, for the OpenAPI document: each route's own answers, and the
refusals the guard (guard.py) gives in their place. They document; models.py says why they
do not filter."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from services.scoring.api import models

Answers = dict[int | str, dict[str, Any]]

INVALID = {"model": models.Invalid, "description": "a field is invalid; the answer names it"}
NOT_FOUND = {
    "model": models.Refusal,
    "description": "an account never named by an event or record",
}
TOKENS_AWAY = "the API tokens cannot be checked: the database did not answer"

CHALLENGE = {
    "WWW-Authenticate": {
        "description": "the Bearer scheme, with the error once a token was sent",
        "schema": {"type": "string"},
        "required": True,
    }
}


def refusal(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A guard's {"detail": "..."} answer (refusals.py). It names the Refusal schema rather
    than its model: a model's answer takes the route's media type, and /metrics is plain
    text. The routes' own answers (NOT_FOUND, write_answers) put Refusal in the document."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


# Every path: the body limit.
TOO_LARGE: Answers = {413: refusal("a request body over PULSE_API_MAX_BODY_BYTES")}
# Every protected route: the Gate's refusals (admission.py).
GUARD_REFUSALS: Answers = {
    401: refusal(
        "no valid bearer token, once a token exists (always when bound beyond loopback)",
        CHALLENGE,
    ),
    429: refusal(
        "over the rate limit of the token (of the client address without one)",
        {
            "Retry-After": {
                "description": "seconds to wait",
                "schema": {"type": "integer", "minimum": 1},
                "required": True,
            }
        },
    ),
    503: refusal(TOKENS_AWAY),
}
# A protected route that writes: a read token is refused.
FORBIDDEN = refusal("a token with scope read on a write route", CHALLENGE)


def read_answers(model: type[BaseModel], *, one_account: bool = False) -> dict[str, Any]:
    """A read route's answers: `model` on 200, 422, and 404 for a route about one account."""
    responses: Answers = {200: {"model": model}, 422: INVALID}
    if one_account:
        responses[404] = NOT_FOUND
    return {"response_model": None, "responses": responses}


def act_answers(model: type[BaseModel], *, unknown: str | None = None) -> dict[str, Any]:
    """The answers of a route that acts on the database itself (a silence): `model` on 200,
    400 for a body FastAPI cannot decode, 403 for a read token, 422, and 404 with `unknown`
    (what is missing) for a route about one thing."""
    responses: Answers = {
        200: {"model": model},
        400: {"model": models.Refusal, "description": "a body that is not UTF-8 text"},
        403: FORBIDDEN,
        422: INVALID,
    }
    if unknown:
        responses[404] = {"model": models.Refusal, "description": unknown}
    return {"response_model": None, "responses": responses}


def write_answers(record: type[BaseModel]) -> Answers:
    """A PUT's answers: the normalized record, on 200 once applied or 202 if not yet."""
    return {
        200: {"model": record, "description": "applied: the normalized record"},
        202: {"model": record, "description": "accepted, not applied yet: it will be"},
        # FastAPI's answer to a body it cannot even decode; one that is not JSON is a 422.
        400: {"model": models.Refusal, "description": "a body that is not UTF-8 text"},
        403: FORBIDDEN,
        422: INVALID,
        503: {
            "model": models.Refusal,
            "description": f"the broker did not take the write; or {TOKENS_AWAY}",
        },
    }
