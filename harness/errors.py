"""The error a part of the harness raises when it cannot be set up: what did not happen, in
words (the benchmark prints it; a test fails with it)."""

from __future__ import annotations


class HarnessError(Exception):
    """A server that did not answer, a database or topics that could not be created."""
