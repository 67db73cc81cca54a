"""Templates (Jinja2, autoescaped) and the answers every page gives: a page, a refusal page,
the way to the sign-in page, and the cookies a page sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.scoring.ui.access import (
    CSRF_COOKIE,
    PageRefused,
    SignInNeeded,
    secure_cookies,
    sign_in_path,
)
from services.scoring.ui.charts import sparkline

HERE = Path(__file__).parent
STATIC = HERE / "static"
CSRF_COOKIE_SECONDS = 12 * 3600
NOTHING = "\u2013"  # an en dash: no value

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["sparkline"] = sparkline


def _money(value: Any) -> str:
    if value is None or value == "":
        return NOTHING
    amount = float(value)
    if amount >= 1_000_000:
        return f"${amount / 1_000_000:.1f}M"
    if amount >= 1_000:
        return f"${amount / 1_000:.0f}k"
    return f"${amount:.0f}"


def _when(value: Any) -> str:
    if not value:
        return NOTHING
    text = value if isinstance(value, str) else value.isoformat()
    return text.replace("T", " ")[:16] + (" UTC" if "T" in text else "")


def _query(request: Request, **changes: Any) -> str:
    """This page's query string with some parameters changed (None drops one)."""
    params = {k: v for k, v in request.query_params.items() if k not in changes}
    params.update({k: v for k, v in changes.items() if v not in (None, "")})
    return urlencode(params)


templates.filters["money"] = _money
templates.filters["when"] = _when
templates.globals["query"] = _query


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(request=request, **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    # The pages load nothing from elsewhere; a policy saying so blunts any injected markup.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    set_csrf_cookie(request, response)
    return response


def set_csrf_cookie(request: Request, response: Response) -> None:
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            new,
            max_age=CSRF_COOKIE_SECONDS,
            path="/ui",
            httponly=True,
            samesite="lax",
            secure=secure_cookies(request),
        )


def back_to(target: str | None, notice: str | None = None) -> RedirectResponse:
    """After a form: back to the page it came from (a /ui path only, never elsewhere)."""
    where = target if target and target.startswith("/ui") and "//" not in target else "/ui"
    if notice:
        where += ("&" if "?" in where else "?") + urlencode({"notice": notice})
    return RedirectResponse(where, status_code=303)


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)
    return page(request, "refused.html", status=exc.status, message=exc.message)


async def to_sign_in(request: Request, exc: Exception) -> Response:
    if request.headers.get("x-pulse-fragment"):  # the feed's refresh: no page to go to
        return Response("sign in again", status_code=401)
    return RedirectResponse(sign_in_path(request), status_code=303)


def refusal_handlers() -> dict[type[Exception], Any]:
    return {PageRefused: refused, SignInNeeded: to_sign_in}
