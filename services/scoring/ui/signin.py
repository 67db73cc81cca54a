"""Signing in to the pages: with an API token pasted once, or a one-time link that `pulse token
link NAME` prints; either gives a session cookie (HttpOnly, SameSite=Lax, Secure behind https,
expiring). Signing out ends the session."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.scoring.settings import ScoringSettings
from services.scoring.tokens import hash_token
from services.scoring.ui import sessions
from services.scoring.ui.access import (
    SESSION_COOKIE,
    CurrentViewer,
    PageRefused,
    cookie_csrf,
    form_of,
    known_tokens,
    pages_open,
    secure_cookies,
)
from services.scoring.ui.rendering import back_to, page, set_csrf_cookie
from shared.clock import utcnow

router = APIRouter(include_in_schema=False)


def link_url(settings: ScoringSettings, code: str) -> str:
    """Where a one-time sign-in link points: the public address, else the API's own."""
    base = settings.public_url or f"http://{settings.api_host}:{settings.api_port}"
    return f"{base.rstrip('/')}/ui/sign-in/link/{code}"


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> HTMLResponse:
    tokens = await known_tokens(request)
    return page(
        request,
        "sign_in.html",
        csrf=cookie_csrf(request),
        next=request.query_params.get("next", "/ui"),
        open=pages_open(request, tokens),
    )


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await form_of(request, cookie_csrf(request))
    tokens = await known_tokens(request)
    token_hash = hash_token(form.get("token", "").strip())
    if token_hash not in tokens:
        raise PageRefused(
            401,
            "That is not a valid API token: unknown, revoked or mistyped. An operator creates "
            "one with `pulse token create`.",
        )
    return await _signed_in(request, token_hash, form.get("next"))


@router.get("/sign-in/link/{code}", response_class=HTMLResponse)
async def link_page(request: Request, code: str) -> HTMLResponse:
    # A GET changes nothing: mail scanners that open links must not use them up.
    return page(request, "sign_in_link.html", csrf=cookie_csrf(request), code=code)


@router.post("/sign-in/link/{code}")
async def sign_in_by_link(request: Request, code: str) -> Response:
    await form_of(request, cookie_csrf(request))
    token_hash = await sessions.redeem_link(request.app.state.reads, code, utcnow())
    if token_hash is None or token_hash not in await known_tokens(request):
        raise PageRefused(
            401,
            "This sign-in link is used up, expired or of a revoked token. Ask for a new one "
            "(pulse token link NAME), or sign in with a token.",
        )
    return await _signed_in(request, token_hash, "/ui")


async def _signed_in(request: Request, token_hash: str, next_page: str | None) -> Response:
    settings: ScoringSettings = request.app.state.settings
    lasts = timedelta(hours=settings.ui_session_hours)
    cookie, _ = await sessions.open_session(request.app.state.reads, token_hash, utcnow(), lasts)
    response = back_to(next_page)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(lasts.total_seconds()),
        path="/ui",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    set_csrf_cookie(request, response)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, viewer: CurrentViewer) -> RedirectResponse:
    await form_of(request, viewer.csrf)
    if cookie := request.cookies.get(SESSION_COOKIE):
        await sessions.close_session(request.app.state.reads, cookie)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response
