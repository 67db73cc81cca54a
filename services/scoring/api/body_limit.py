"""The limit on a request's body (PULSE_API_MAX_BODY_BYTES): a 413 before any route reads
it, on every path."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Message, Receive

from services.scoring.api.refusals import refuse


async def limit_body(
    headers: Headers, receive: Receive, max_body: int
) -> tuple[JSONResponse | None, Receive]:
    """Read the body up front, at most `max_body` bytes of it: the 413 if it is longer, else
    a receive that hands the body on as it came."""
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > max_body:
        return _too_large(max_body), receive
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > max_body:
            return _too_large(max_body), receive
        if not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return None, replay


def _too_large(max_body: int) -> JSONResponse:
    return refuse(
        413,
        f"request body too large: at most {max_body} bytes (PULSE_API_MAX_BODY_BYTES)",
        reason="too_large",
    )
