"""Inline SVG charts, drawn on the server: the pages need no chart library and no script."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def sparkline(scores: Sequence[int], width: float = 120, height: float = 28) -> str:
    """An SVG polyline's points for scores 0..100, evenly spaced; one score draws a level line."""
    if not scores:
        return ""
    values = list(scores) if len(scores) > 1 else [scores[0], scores[0]]
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{_y(v, height):.1f}" for i, v in enumerate(values))


def timeline(
    points: Sequence[tuple[datetime, int | None]],
    start: datetime,
    end: datetime,
    width: float = 720,
    height: float = 160,
) -> str:
    """An SVG polyline's points for (moment, score) placed by time between start and end. The
    score holds until the next point, so each change is drawn as a step."""
    scored = [(at, score) for at, score in points if score is not None]
    if not scored:
        return ""
    span = max((end - start).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return max(0.0, min(width, (at - start).total_seconds() / span * width))

    # One point per pixel column is all a chart can show: the last of each.
    by_column = {round(x(at)): (at, score) for at, score in scored}
    coordinates: list[str] = []
    previous: int | None = None
    for at, score in by_column.values():
        if previous is not None:
            coordinates.append(f"{x(at):.1f},{_y(previous, height):.1f}")
        coordinates.append(f"{x(at):.1f},{_y(score, height):.1f}")
        previous = score
    coordinates.append(f"{width:.1f},{_y(scored[-1][1], height):.1f}")
    return " ".join(coordinates)


def _y(score: int, height: float) -> float:
    return height - max(0, min(100, score)) / 100 * height
