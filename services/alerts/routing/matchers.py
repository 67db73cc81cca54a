"""Label matchers with Alertmanager's syntax and meaning: `name="value"`, `name!="value"`,
`name=~"regex"`, `name!~"regex"`.

As in Alertmanager, a regular expression must match the whole value (it is anchored), and a
label an alert does not have counts as the empty string: `segment=""` matches alerts without
a segment, `segment!=""` only those with one. The value may be written without quotes when
it holds no comma, quote or space."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]
Labels = dict[str, str]

_MATCHER = re.compile(
    r"""\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*
    (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"',{}]*))\s*""",
    re.VERBOSE,
)


class MatcherError(ValueError):
    """A matcher that cannot be read; the message says why."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, name: str, op: Op, value: str) -> Matcher:
        pattern = None
        if op in ("=~", "!~"):
            try:
                pattern = re.compile(value) and re.compile(f"(?:{value})")
            except re.error as exc:
                raise MatcherError(
                    f"{name}{op}{value!r}: not a regular expression: {exc}"
                ) from None
        return cls(name, op, value, pattern)

    def matches(self, labels: Labels) -> bool:
        value = labels.get(self.name, "")
        if self._pattern is not None:
            return (self._pattern.fullmatch(value) is not None) == (self.op == "=~")
        return (value == self.value) == (self.op == "=")

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value)}"


def parse_matcher(text: str) -> Matcher:
    """One matcher as written in a routing file ('type=~"renewal_.*"')."""
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise MatcherError(
            f"{text!r} is not a matcher: name, then =, !=, =~ or !~, then a quoted value "
            '(type="health_red")'
        )
    quoted = found["quoted"]
    value = found["bare"] if quoted is None else _unescape(quoted)
    return Matcher.of(found["name"], found["op"], value)  # type: ignore[arg-type]


def silence_matcher(name: str, value: str, is_regex: bool, is_equal: bool = True) -> Matcher:
    """A matcher in the shape of Alertmanager's silences ({name, value, isRegex, isEqual})."""
    ops: dict[tuple[bool, bool], Op] = {
        (False, True): "=",
        (False, False): "!=",
        (True, True): "=~",
        (True, False): "!~",
    }
    return Matcher.of(name, ops[(is_regex, is_equal)], value)


def match_all(matchers: tuple[Matcher, ...] | list[Matcher], labels: Labels) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), quoted)
