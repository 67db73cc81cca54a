"""Which receivers an alert goes to, and which alerts mute others: Alertmanager's routing and
inhibition, as pure functions of the routing file and the alerts' labels.

Routing: the root route takes every alert. At each route the children are tried in order; a
child whose matchers all match takes the alert, and the search stops there unless that child
says `continue: true`. A route no child took the alert from is where it goes. A child inherits
its parent's receiver, group_by, group_wait and group_interval where it sets none.

Inhibition: an alert is muted while another alert, firing, matches a rule's source_matchers,
the muted one matches its target_matchers, and both have the same value (or both none) for
every label of `equal`. An alert does not mute itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.alerts.routing.matchers import Labels, match_all
from services.alerts.routing.model import InhibitRule, Route

# With no grouping configured, one message per trigger (contract v2), at once.
DEFAULT_GROUP_BY = ("dedup_key",)
DEFAULT_GROUP_WAIT = 0.0
DEFAULT_GROUP_INTERVAL = 300.0


@dataclass(frozen=True)
class Destination:
    """Where a route sends an alert, and how it batches it with others."""

    receiver: str
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    route: str  # the route's position in the tree ("0.1": the root's first child's second)


def destinations(root: Route, labels: Labels) -> list[Destination]:
    """The receivers an alert with these labels goes to, in the tree's order, each once."""
    found = _walk(root, labels, _inherit(None, root, "root"), "root")
    unique: dict[str, Destination] = {}
    for destination in found:
        unique.setdefault(destination.receiver, destination)
    return list(unique.values())


def _walk(route: Route, labels: Labels, here: Destination, path: str) -> list[Destination]:
    found: list[Destination] = []
    for number, child in enumerate(route.routes):
        if not match_all(child.matchers, labels):
            continue
        child_path = str(number) if path == "root" else f"{path}.{number}"
        found += _walk(child, labels, _inherit(here, child, child_path), child_path)
        if not child.continue_:
            break
    return found or [here]


def _inherit(parent: Destination | None, route: Route, path: str) -> Destination:
    if parent is None:
        parent = Destination("", DEFAULT_GROUP_BY, DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, "")
    return Destination(
        receiver=route.receiver or parent.receiver,
        group_by=parent.group_by if route.group_by is None else tuple(route.group_by),
        group_wait=parent.group_wait if route.group_wait is None else route.group_wait,
        group_interval=(
            parent.group_interval if route.group_interval is None else route.group_interval
        ),
        route=path,
    )


def group_key(destination: Destination, labels: Labels) -> str:
    """The alerts sent together to a destination share this key: the route, the receiver
    and the values of its group_by labels ("..." groups by every label)."""
    names = sorted(labels) if "..." in destination.group_by else destination.group_by
    values = ",".join(f"{name}={labels.get(name, '')}" for name in names)
    return f"{destination.route}/{destination.receiver}/{{{values}}}"


def inhibited(
    rules: Iterable[InhibitRule], target: Labels, firing: Iterable[Labels], key: str = "dedup_key"
) -> Labels | None:
    """The firing alert that mutes `target`, if any (alerts are told apart by their `key`
    label)."""
    rules = list(rules)
    candidates = [r for r in rules if match_all(r.target_matchers, target)]
    if not candidates:
        return None
    for source in firing:
        if source.get(key) == target.get(key):
            continue
        for rule in candidates:
            if match_all(rule.source_matchers, source) and all(
                source.get(name, "") == target.get(name, "") for name in rule.equal
            ):
                return source
    return None
