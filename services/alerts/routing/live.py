"""The routing a running alerts service uses, replaced whole when PULSE_ROUTES changes or on
SIGHUP (shared/livefile.py): the consumer reads it once per batch, the worker once per claim.
A file that does not validate, or names a webhook secret variable that is not set, keeps the
routing in use, and says so in the log, pulse_routes_reloads_total and /readyz (notice
"routes")."""

from __future__ import annotations

import hashlib

from services.alerts.metrics import ROUTES_RELOADS
from services.alerts.routing.loading import load_routes
from services.alerts.routing.model import RoutingFile
from services.alerts.senders.webhook import signers
from shared.livefile import LiveFile
from shared.readiness import Readiness


def version_of(routing: RoutingFile) -> str:
    return "version " + hashlib.sha256(routing.model_dump_json().encode()).hexdigest()[:12]


def _load(path: str | None) -> RoutingFile:
    routing = load_routes(path)
    signers(routing)  # every webhook secret it names is set and usable
    return routing


class LiveRoutes(LiveFile[RoutingFile]):
    def __init__(self, path: str | None, readiness: Readiness | None = None) -> None:
        super().__init__(
            path,
            _load,
            name="routes",
            version=version_of,
            reloads=ROUTES_RELOADS,
            readiness=readiness,
        )
