"""Reading a scorecard: a YAML file merged over the built-in default (default.yaml), validated
(model.py) and resolved per tier, once. Every error names the file, the line and the key.

Its version is the first 12 hex digits of the SHA-256 of the file's bytes (of default.yaml's for
the built-in one): health and every trigger carry it, so a number can be traced to the scorecard
that produced it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from services.scoring.scorecard.model import Card
from shared.errors import ConfigurationError
from shared.yamlfile import Loc, locate, problem, read_file, read_mapping

DEFAULT_TEXT = files("services.scoring.scorecard").joinpath("default.yaml").read_text()
BUILT_IN = "the built-in scorecard"


class ScorecardError(ConfigurationError):
    """A scorecard that cannot be used; its message has one line per problem."""


@dataclass(frozen=True)
class Scorecard:
    version: str
    source: str  # the file's path, or BUILT_IN
    top: Card
    tiers: dict[int, Card]

    def for_tier(self, tier: object) -> Card:
        """The card of an account's tier (the top level for a tier without overrides)."""
        return self.tiers.get(tier, self.top) if isinstance(tier, int) else self.top


def version_of(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()[:12]


def load(path: str | Path | None) -> Scorecard:
    """The scorecard of a file (None: the built-in one)."""
    if path is None:
        return parse(DEFAULT_TEXT.encode(), BUILT_IN)
    return parse(read_file(path, ScorecardError), str(path))


def parse(text: bytes, source: str) -> Scorecard:
    root, data = read_mapping(
        text, source, ScorecardError, "a scorecard is a mapping of keys (core_features, ...)"
    )
    if "version" in data:
        raise ScorecardError(problem(source, root, ("version",), "unknown key (it is computed)"))
    merged = _merge(yaml.safe_load(DEFAULT_TEXT), data)
    overrides = merged.pop("tiers")
    errors: list[str] = []
    top = _validate(merged, (), root, source, errors, top_valid=True)
    tiers: dict[int, Card] = {}
    if not isinstance(overrides, dict):
        errors.append(problem(source, root, ("tiers",), "a mapping of tier numbers is expected"))
        overrides = {}
    for key, override in overrides.items():
        tier = _tier_number(key)
        if tier is None:
            where = ("tiers", key)
            errors.append(problem(source, root, where, "a tier is a positive whole number"))
            continue
        where = ("tiers", key)
        card = _validate(_merge(merged, override), where, root, source, errors, top is not None)
        if card is not None:
            tiers[tier] = card
    if errors or top is None:
        raise ScorecardError("\n".join(errors))
    version = version_of(text)
    return Scorecard(
        version,
        source,
        top.model_copy(update={"version": version}),
        {tier: card.model_copy(update={"version": version}) for tier, card in tiers.items()},
    )


def _merge(base: Any, over: Any) -> Any:
    """`over` merged into `base`: mappings key by key, anything else replaced."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(base.get(key), value) if key in base else value
    return merged


def _tier_number(key: object) -> int | None:
    text = str(key)
    return int(text) if text.isdigit() and int(text) > 0 else None


def _validate(
    data: dict[str, Any],
    prefix: Loc,
    root: yaml.Node | None,
    source: str,
    errors: list[str],
    top_valid: bool,
) -> Card | None:
    """The card, or None with its problems added to `errors`. A tier's problem that lies in
    the top level is reported once, for the top level."""
    try:
        return Card.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(part for part in error["loc"] if part != "[key]")
            in_override = locate(root, (*prefix, *loc))[1]
            if prefix and not in_override and not top_valid:
                continue
            where = (*prefix, *loc) if in_override else loc
            errors.append(problem(source, root, where, _message(error), shown=(*prefix, *loc)))
        return None


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["loc"][:1] == ("playbooks",) and error["type"] == "literal_error":
        return "not a trigger type of the catalogue (docs/contract.md)"
    return str(error["msg"])
