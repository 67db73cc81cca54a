"""Readiness: each long-running part reports whether it can do its work, and why not; and
notices, what an operator must know although the part works (shown in /readyz's body)."""

from __future__ import annotations


class Readiness:
    def __init__(self) -> None:
        self._problems: dict[str, str] = {}
        self._notices: dict[str, str] = {}

    def ok(self, part: str) -> None:
        self._problems.pop(part, None)

    def fail(self, part: str, reason: str) -> None:
        self._problems[part] = reason

    def notice(self, part: str, text: str) -> None:
        self._notices[part] = text

    def clear_notice(self, part: str) -> None:
        self._notices.pop(part, None)

    @property
    def notices(self) -> dict[str, str]:
        return dict(self._notices)

    @property
    def problems(self) -> dict[str, str]:
        return dict(self._problems)

    @property
    def ready(self) -> bool:
        return not self._problems
