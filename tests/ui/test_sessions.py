"""The session cookie's attributes and lifetime, as a browser receives them: the API app on the
run's database, spoken to over HTTP(S) in process (no browser needed to read a header)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.cli import UpSettings
from services.scoring.api.app import create_app
from services.scoring.tokens import create_token, revoke_token
from shared.readiness import Readiness


@pytest.fixture
def pages_of(
    settings_factory: Callable[..., UpSettings], engine: AsyncEngine
) -> Callable[..., Any]:
    def client(base: str, **settings: Any) -> httpx.AsyncClient:
        app = create_app(settings_factory(api_token_cache_seconds=0, **settings), engine, None,
                         Readiness())  # fmt: skip
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)

    return client


async def _signed_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    await client.get("/ui/sign-in")  # sets the CSRF cookie the form repeats
    csrf = client.cookies["pulse_csrf"]
    # Sent as a header: behind an https proxy the browser sends its Secure cookies, and the
    # proxy passes them on over http.
    return await client.post(
        "/ui/sign-in",
        data={"csrf": csrf, "token": token, "next": "/ui"},
        headers={"Cookie": f"pulse_csrf={csrf}"},
    )


@pytest.mark.parametrize(
    ("base", "public_url", "secure"),
    [
        ("http://127.0.0.1:8080", None, False),
        ("https://pulse.example", None, True),  # the browser came over https
        ("http://10.0.0.5:8080", "https://pulse.example", True),  # behind an https proxy
    ],
)
async def test_the_session_cookie_is_httponly_lax_expiring_and_secure_behind_https(
    pages_of: Callable[..., httpx.AsyncClient],
    engine: AsyncEngine,
    base: str,
    public_url: str | None,
    secure: bool,
) -> None:
    token = await create_token(engine, "sam", "read")
    async with pages_of(base, public_url=public_url, ui_session_hours=2) as client:
        signed_in = await _signed_in(client, token)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/ui")
    cookie = next(
        c for c in signed_in.headers.get_list("set-cookie") if c.startswith("pulse_session=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path"} <= attributes
    assert "Max-Age=7200" in cookie and "Path=/ui" in cookie and "SameSite=lax" in cookie
    assert ("secure" in attributes) is secure


async def test_revoking_the_token_ends_its_sessions(
    pages_of: Callable[..., httpx.AsyncClient], engine: AsyncEngine
) -> None:
    token = await create_token(engine, "sam", "write")
    async with pages_of("http://127.0.0.1:8080") as client:
        await _signed_in(client, token)
        assert (await client.get("/ui")).status_code == 200
        await revoke_token(engine, "sam")
        await create_token(engine, "ops", "read")  # tokens still exist: the pages stay closed
        after = await client.get("/ui/alerts?type=health_red")
    assert after.status_code == 303
    assert after.headers["location"] == "/ui/sign-in?next=%2Fui%2Falerts%3Ftype%3Dhealth_red"


async def test_an_open_install_shows_pages_and_refuses_in_html(
    pages_of: Callable[..., httpx.AsyncClient],
) -> None:
    async with pages_of("http://127.0.0.1:8080") as client:
        portfolio = await client.get("/ui")
        unknown = await client.get("/ui/accounts/nobody")
        garbled = await client.get("/ui/accounts/a%00b")
        forged = await client.post("/ui/silences", data={"hours": "1", "type": "health_red"})
    assert portfolio.status_code == 200 and "No account matches" in portfolio.text
    for refused, status in ((unknown, 404), (garbled, 404), (forged, 403)):
        assert refused.status_code == status
        assert refused.headers["content-type"].startswith("text/html")
    assert "has never been named" in unknown.text
    assert "without a valid CSRF token" in forged.text
