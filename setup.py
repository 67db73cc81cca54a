"""Builds AccountPulse with scoring's pure core compiled by mypyc: the modules every signal
goes through (docs/performance.md, "The compiled core"). The same code runs as plain Python
with PULSE_COMPILE=0, or on a machine without a C compiler (with a warning): compiling
changes its speed, never what it does.

An editable install compiles in place, so a compiled module edited afterwards must be built
again (pip install -e . once more): the test suite refuses to start until it is.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from setuptools import setup

COMPILED = [
    "services/scoring/accounts/daymask.py",
    "services/scoring/accounts/time.py",
    "services/scoring/accounts/state.py",
    "services/scoring/accounts/apply.py",
    "services/scoring/health/score.py",
    "services/scoring/health/history.py",
    "services/scoring/triggers/rules.py",
    "services/scoring/triggers/days.py",
    "services/scoring/triggers/relationship.py",
    "services/scoring/triggers/lifecycle.py",
    "services/scoring/triggers/moments.py",
    "services/scoring/triggers/expansion.py",
]


def compiled_modules() -> list[Any]:
    if os.environ.get("PULSE_COMPILE", "1") == "0":
        return []
    compiler = os.environ.get("CC", "cc").split()[0]
    if shutil.which(compiler) is None:
        print(
            f"warning: no C compiler ({compiler}): scoring's core stays plain Python",
            file=sys.stderr,
        )
        return []
    from mypyc.build import mypycify

    return list(mypycify(COMPILED, opt_level="3"))


setup(ext_modules=compiled_modules())
