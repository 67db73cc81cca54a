"""Who is looking at a page, and whether a form may act (docs/ui.md, "Sign-in").

The API's rules, with a session cookie in place of the bearer token: while no token exists
and the API is bound to loopback the pages are open (to "local", who may act); once one
exists, a page needs a session, which sees and acts as its token's scope allows. Every form
carries a CSRF token: the session's, or before sign-in (and on an open install) the value of a
cookie the form must repeat (a double-submit cookie)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request

from services.scoring.api.admission import Gate
from services.scoring.settings import ScoringSettings
from services.scoring.tokens import WRITE, ActiveToken
from services.scoring.ui import sessions
from shared.clock import utcnow

log = logging.getLogger(__name__)

SESSION_COOKIE = "pulse_session"
CSRF_COOKIE = "pulse_csrf"
OPEN_VIEWER = "local"  # who acts on an open install, as acknowledgements record it


class PageRefused(Exception):
    """A request the pages answer with a refusal page (status and the reason in words)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInNeeded(Exception):
    """No session where one is needed: the page sends the browser to the sign-in page."""


@dataclass(frozen=True)
class Viewer:
    name: str
    scope: str
    csrf: str
    signed_in: bool

    @property
    def can_act(self) -> bool:
        return self.scope == WRITE


def gate_of(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


async def known_tokens(request: Request) -> dict[str, ActiveToken]:
    try:
        return await gate_of(request).tokens.tokens()
    except Exception as exc:
        log.warning("API tokens unavailable: %s: %s", type(exc).__name__, exc)
        raise PageRefused(503, "The database did not answer: cannot check who you are.") from None


def pages_open(request: Request, tokens: dict[str, ActiveToken]) -> bool:
    return not tokens and not gate_of(request).always_required


async def current_viewer(request: Request) -> Viewer:
    tokens = await known_tokens(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = await sessions.find_session(request.app.state.reads, cookie, utcnow())
        token = tokens.get(session.token_hash) if session else None
        if session and token:
            await gate_of(request).tokens.used(token)
            return Viewer(token.name, token.scope, session.csrf, signed_in=True)
    if pages_open(request, tokens):
        return Viewer(OPEN_VIEWER, WRITE, cookie_csrf(request), signed_in=False)
    raise SignInNeeded


def cookie_csrf(request: Request) -> str:
    """The double-submit value: the browser's cookie, or a new one the answer will set."""
    value = request.cookies.get(CSRF_COOKIE)
    if not value:
        value = getattr(request.state, "new_csrf", None) or sessions.new_secret()
        request.state.new_csrf = value
    return value


async def form_of(request: Request, expected_csrf: str) -> dict[str, str]:
    """The posted form's fields (the last value of each), once its CSRF token is checked."""
    body = (await request.body()).decode("utf-8", "replace")
    form = {name: values[-1] for name, values in parse_qs(body).items()}
    if not secrets.compare_digest(form.get("csrf", ""), expected_csrf):
        raise PageRefused(
            403,
            "This form came without a valid CSRF token, so nothing was done. Reload the page "
            "and send it again.",
        )
    return form


def must_act(viewer: Viewer) -> None:
    if not viewer.can_act:
        raise PageRefused(
            403,
            f"You are signed in with {viewer.name!r}, a read token: it can see but not act. "
            "Sign in with a write token to acknowledge, snooze or silence.",
        )


def secure_cookies(request: Request) -> bool:
    """Secure when the browser came over https, directly or as the public address says."""
    settings: ScoringSettings = request.app.state.settings
    public = (settings.public_url or "").lower()
    return request.url.scheme == "https" or public.startswith("https://")


def sign_in_path(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/sign-in?next={quote(here, safe='')}"


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
