"""YAML configuration files whose every error names the file, the line and the key.

A file is read twice over: as data, and as the tree of nodes that knows where each key was
written, so that a problem found in the data (a pydantic error's location) can be pointed at
in the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.errors import ConfigurationError

Loc = tuple[str | int, ...]


def read_file(path: str | Path, error: type[ConfigurationError]) -> bytes:
    """The file's bytes; a file that cannot be read is `error`, naming it and why."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror}") from None


def read_mapping(
    text: bytes, source: str, error: type[ConfigurationError], expected: str
) -> tuple[yaml.Node | None, dict[str, Any]]:
    """The file's node tree and its data, a mapping (an empty file is an empty one); `expected`
    says what the top level should hold, for the error when it does not."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{source}{line}: not valid YAML: {problem}") from None
    if data is None:
        return root, {}
    if not isinstance(data, dict):
        raise error(f"{source}:1: {expected}")
    return root, data


def problem(
    source: str, root: yaml.Node | None, loc: Loc, message: str, shown: Loc | None = None
) -> str:
    """'FILE:LINE: key.path: message', the line of `loc` (or of the deepest key on its way
    that the file has); the key path shown is `shown` when given."""
    node, _ = locate(root, loc)
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    key = ".".join(str(part) for part in (shown or loc)) or "(top level)"
    return f"{source}{line}: {key}: {message}"


def line_of(root: yaml.Node | None, loc: Loc) -> int:
    """The line `loc` is on (of the deepest key on its way the file has; 0 for none)."""
    node, _ = locate(root, loc)
    return node.start_mark.line + 1 if node is not None else 0


def locate(root: yaml.Node | None, loc: Loc) -> tuple[yaml.Node | None, bool]:
    """The node at `loc` in the file (the key's node for a mapping entry), or the deepest
    one on its way; and whether the whole path is in the file."""
    node, found = root, root
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    found, child = key_node, value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
            found = child or found
        if child is None:
            return found, False
        node = child
    return found, True
