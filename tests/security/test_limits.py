"""Request limits on the real scoring API: body size (413), rate per token or client (429 with
Retry-After), page size (422)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from services.cli import UpSettings
from services.scoring import tokens
from services.scoring.api.bind import is_loopback
from services.scoring.api.rate_limit import RateLimiter
from tests.helpers.in_process import scoring
from tests.helpers.processes import bearer


async def test_a_body_over_the_limit_is_refused_with_413(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    refused_before = too_large_count()
    async with scoring(api_settings(api_max_body_bytes=2048), engine) as api:
        small = {"name": "Acme Corp", "notes": "x" * 1500}  # unknown fields are ignored
        assert (await api.put("/v1/accounts/acme", json=small)).status_code in (200, 202)

        big = {"name": "Acme Corp", "notes": "x" * 3000}
        refused = await api.put("/v1/accounts/acme", json=big)
        assert refused.status_code == 413
        assert refused.json()["detail"] == (
            "request body too large: at most 2048 bytes (PULSE_API_MAX_BODY_BYTES)"
        )

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            yield b'{"name": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        chunked = await api.put("/v1/accounts/acme", content=chunks())
        assert chunked.status_code == 413
        # The API still answers afterwards.
        assert (await api.get("/v1/accounts/acme")).json()["name"] == "Acme Corp"
    # The metric counts the two refusals, not the requests that passed.
    assert too_large_count() - refused_before == 2


def too_large_count() -> float:
    return REGISTRY.get_sample_value("pulse_api_rejected_total", {"reason": "too_large"}) or 0.0


async def test_too_many_requests_get_429_with_retry_after(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    settings = api_settings(api_rate_per_second=0.5, api_rate_burst=5)
    async with scoring(settings, engine) as api:
        # Without a token, callers share a bucket per client address.
        answers = [(await api.get("/v1/accounts")).status_code for _ in range(6)]
        assert answers == [200] * 5 + [429]
        limited = await api.get("/v1/triggers")
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert "too many requests" in limited.json()["detail"]
        assert (await api.get("/healthz")).status_code == 200  # probes are not limited

        # Each token has its own bucket.
        first = await tokens.create_token(engine, "first", tokens.READ)
        second = await tokens.create_token(engine, "second", tokens.READ)
        for _ in range(5):
            assert (await api.get("/v1/accounts", headers=bearer(first))).status_code == 200
        spent = await api.get("/v1/accounts", headers=bearer(first))
        assert spent.status_code == 429
        assert (await api.get("/v1/accounts", headers=bearer(second))).status_code == 200

        await asyncio.sleep(int(spent.headers["Retry-After"]))
        assert (await api.get("/v1/accounts", headers=bearer(first))).status_code == 200


async def test_page_size_is_bounded(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    async with scoring(api_settings(), engine) as api:
        for path in ("/v1/accounts", "/v1/triggers"):
            assert (await api.get(f"{path}?limit=500")).status_code == 200
            assert (await api.get(f"{path}?limit=501")).status_code == 422
            assert (await api.get(f"{path}?limit=0")).status_code == 422


def test_token_bucket_refills_at_the_rate_up_to_the_burst() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=10, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == 0.1  # one request's worth takes 1/rate seconds
    assert limiter.take("b") == 0.0  # another key, another bucket
    now[0] += 0.1
    assert limiter.take("a") == 0.0
    now[0] += 100  # refills to the burst, not beyond
    assert [limiter.take("a") for _ in range(4)][-1] > 0
    assert RateLimiter(rate=0, burst=1).take("a") == 0.0  # 0 turns it off


def test_bucket_memory_is_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1, burst=2, clock=lambda: now[0])
    for n in range(3 * RateLimiter.MAX_KEYS):
        limiter.take(f"client:{n}")
        now[0] += 0.001
        assert len(limiter._buckets) <= RateLimiter.MAX_KEYS


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.5", "pulse.example.com", ""):
        assert not is_loopback(host), host


async def test_a_forwarded_for_header_does_not_choose_the_bucket(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    """From a client that is not a trusted proxy, X-Forwarded-For is ignored: rotating it does
    not escape the client address's bucket."""
    async with scoring(api_settings(api_rate_per_second=0.1, api_rate_burst=3), engine) as api:
        answers = [
            (
                await api.get("/v1/accounts", headers={"X-Forwarded-For": f"203.0.113.{n}"})
            ).status_code
            for n in range(4)
        ]
    assert answers == [200, 200, 200, 429]


async def test_a_trusted_proxy_names_the_client(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    settings = api_settings(
        api_rate_per_second=0.1, api_rate_burst=3, trusted_proxies="127.0.0.1, ::1"
    )
    async with scoring(settings, engine) as api:
        behind = [
            (
                await api.get("/v1/accounts", headers={"X-Forwarded-For": f"203.0.113.{n}"})
            ).status_code
            for n in range(4)
        ]
        same = [
            (await api.get("/v1/accounts", headers={"X-Forwarded-For": "198.51.100.7"})).status_code
            for _ in range(4)
        ]
    assert behind == [200] * 4  # four clients behind the proxy, a bucket each
    assert same == [200, 200, 200, 429]


async def test_anonymous_callers_are_limited_before_the_token_table_is_read(
    api_settings: Callable[..., UpSettings], engine: AsyncEngine
) -> None:
    await tokens.create_token(engine, "ops", tokens.WRITE)
    reads = token_table_reads(engine)
    # The token cache is off (api_settings): every admitted request reads the table.
    async with scoring(api_settings(api_rate_per_second=0.1, api_rate_burst=3), engine) as api:
        before = reads()
        answers = [(await api.get("/v1/accounts")).status_code for _ in range(10)]
        after = reads()
    assert answers == [401] * 3 + [429] * 7
    assert after - before == 3  # one per request the limit let through, none for the rest


def token_table_reads(engine: AsyncEngine) -> Callable[[], int]:
    """How many statements have read api_tokens through `engine` so far."""
    count = [0]

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM api_tokens" in statement:
            count[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    return lambda: count[0]
