"""Reading the routing file: validated (model.py) and checked for names it uses but never
defines; every problem names the file, the line and the key, all of them at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from services.alerts.routing.model import ACCOUNT_CSM, Route, RoutingFile
from shared.errors import ConfigurationError
from shared.yamlfile import Loc, line_of, problem, read_file, read_mapping


class RoutesError(ConfigurationError):
    """A routing file that cannot be used; its message has one line per problem."""


# Without a routing file, v1's routing: the account's CSM, in Slack and by email, each trigger
# in a message of its own.
DEFAULT_TEXT = """\
receivers:
  - name: csm
    slack: {channel: account_csm}
    email: {to: account_csm}
route:
  receiver: csm
"""
BUILT_IN = "the built-in routing (PULSE_ROUTES unset)"


def load_routes(path: str | Path | None) -> RoutingFile:
    """The routing of a file (None: the built-in one)."""
    if path is None:
        return parse_routes(DEFAULT_TEXT.encode(), BUILT_IN)
    return parse_routes(read_file(path, RoutesError), str(path))


def parse_routes(text: bytes, source: str) -> RoutingFile:
    root, data = read_mapping(
        text, source, RoutesError, "a routing file is a mapping (receivers, route, ...)"
    )
    try:
        routing = RoutingFile.model_validate(data)
    except ValidationError as exc:
        found = [(_loc(error["loc"]), _message(error)) for error in exc.errors()]
        raise RoutesError(_in_file_order(source, root, found)) from None
    if unresolved := _unresolved(routing):
        raise RoutesError(_in_file_order(source, root, unresolved))
    return routing


def _in_file_order(source: str, root: yaml.Node | None, found: list[tuple[Loc, str]]) -> str:
    return "\n".join(
        problem(source, root, loc, message)
        for loc, message in sorted(found, key=lambda item: line_of(root, item[0]))
    )


def _unresolved(routing: RoutingFile) -> list[tuple[Loc, str]]:
    """What the file names without defining, and what Alertmanager refuses in a tree."""
    found: list[tuple[Loc, str]] = []
    names = [receiver.name for receiver in routing.receivers]
    for number, receiver in enumerate(routing.receivers):
        if names.index(receiver.name) != number:
            found.append((("receivers", number, "name"), f"{receiver.name!r} is defined twice"))
        if not receiver.channels():
            found.append((("receivers", number), "a receiver needs slack, email or webhook"))
    known = set(names)
    if routing.route.receiver is None:
        found.append((("route",), "the root route needs a receiver (the default one)"))
    if routing.route.matchers:
        found.append((("route", "matchers"), "the root route takes every alert: no matchers"))
    for loc, route in _routes(routing.route, ("route",)):
        if route.receiver is not None and route.receiver not in known:
            found.append(((*loc, "receiver"), _unknown(route.receiver)))
    for number, rule in enumerate(routing.inhibit_rules):
        if "account_id" not in rule.equal:
            found.append(
                (
                    ("inhibit_rules", number, "equal"),
                    "must name account_id: alerts mute others of their own account only",
                )
            )
    for number, escalation in enumerate(routing.escalations):
        if escalation.receiver not in known:
            found.append((("escalations", number, "receiver"), _unknown(escalation.receiver)))
    return found


def _routes(route: Route, loc: Loc) -> list[tuple[Loc, Route]]:
    found = [(loc, route)]
    for number, child in enumerate(route.routes):
        found += _routes(child, (*loc, "routes", number))
    return found


def _unknown(name: str) -> str:
    if name == ACCOUNT_CSM:
        return f"no receiver is named {name!r} ({ACCOUNT_CSM} is a channel or an address)"
    return f"no receiver is named {name!r}"


def _loc(loc: tuple[Any, ...]) -> Loc:
    return tuple("continue" if part == "continue_" else part for part in loc)


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    return str(error["msg"]).removeprefix("Value error, ")


BUILT_IN_ROUTING = load_routes(None)
