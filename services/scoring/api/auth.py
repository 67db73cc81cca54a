"""The routes' declared protection: the bearer scheme, as a FastAPI security dependency, so
the OpenAPI document shows it on each protected route (and /docs can send a token).

The decision itself is the Gate's (admission.py), taken by the guard (guard.py) before the
body is read; this dependency hands its result to the route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.scoring.api.guard import CALLER
from services.scoring.tokens import ActiveToken

BEARER = HTTPBearer(
    scheme_name="bearer",
    description="A token from `pulse token create` (needed once one exists).",
    auto_error=False,  # the Gate gives the refusals, and an open API takes no token
)


def admitted_caller(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> ActiveToken | None:
    """The token the Gate admitted the request with; None while the API is open."""
    caller: ActiveToken | None = request.scope.get(CALLER)
    return caller


# For a guarded router's dependencies; a route that needs its caller takes a parameter
# `Annotated[ActiveToken | None, GUARDED]`.
GUARDED = Security(admitted_caller)
