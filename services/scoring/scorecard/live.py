"""The scorecard a running service uses, replaced whole when its file changes or on SIGHUP
(shared/livefile.py).

A new scorecard takes effect between batches: the processor reads `current` once per batch
and per tick, so no evaluation ever mixes two scorecards. A file that does not validate keeps
the scorecard in use, and says so in the log, the pulse_scorecard_reloads_total metric and
/readyz's body (notice "scorecard"), until a valid file replaces it.
"""

from __future__ import annotations

from services.scoring.metrics import SCORECARD_RELOADS
from services.scoring.scorecard.loading import Scorecard, load
from shared.livefile import LiveFile
from shared.readiness import Readiness


class LiveScorecard(LiveFile[Scorecard]):
    def __init__(self, path: str | None, readiness: Readiness | None = None) -> None:
        super().__init__(
            path,
            load,
            name="scorecard",
            version=lambda card: f"version {card.version}",
            reloads=SCORECARD_RELOADS,
            readiness=readiness,
        )
