"""Whether scoring's pure core runs compiled by mypyc (setup.py), and whether a compiled
module is older than its source: an editable install compiles in place, and Python imports
a compiled module before the source beside it, so an edit made since would not run."""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from services.scoring.accounts import apply

HERE = Path(__file__).parent
REPOSITORY = HERE.parent.parent


def is_compiled() -> bool:
    """Whether the core runs compiled (apply, which every signal goes through, stands for
    the rest: setup.py compiles them all or none)."""
    return not apply.__file__.endswith(".py")


def stale_sources() -> list[str]:
    """The source files changed since they were compiled, relative to the repository, in a
    checkout compiled in place (an editable install). An installed copy is never edited, and
    its files' times say nothing: a wheel writes each module's source after its compiled
    form."""
    if not (REPOSITORY / ".git").exists():
        return []
    suffix = EXTENSION_SUFFIXES[0]  # this interpreter's own, which the build uses
    stale = []
    for built in HERE.rglob(f"*{suffix}"):
        source = built.with_name(built.name.removesuffix(suffix) + ".py")
        if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
            stale.append(str(source.relative_to(REPOSITORY)))
    return sorted(stale)
