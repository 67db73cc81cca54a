"""The check at start-up that no one on the network can use an API without a token."""

from __future__ import annotations

import ipaddress

from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.settings import ScoringSettings
from services.scoring.tokens import active_tokens
from shared.errors import ConfigurationError

CREATE_HINT = "pulse token create --name ops --scope write"


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: only this machine can connect."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def check_bind(settings: ScoringSettings, engine: AsyncEngine) -> None:
    """Refuse to start an API anyone on the network could use: a non-loopback bind needs at
    least one unrevoked token. The error says why and how to fix it (the CLI exits 2)."""
    if is_loopback(settings.api_host) or await active_tokens(engine):
        return
    raise ConfigurationError(
        f"refusing to serve the API on {settings.api_host}:{settings.api_port} without an API "
        "token: anyone who can reach that address could read and change every account. Create "
        f"a token first with `{CREATE_HINT}` (then send `Authorization: Bearer <token>`), or "
        "bind to 127.0.0.1 (PULSE_API_HOST)."
    )
