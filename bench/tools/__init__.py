"""Tools run by hand to measure one part alone (python -m bench.tools.<name>); see
docs/performance.md for what each measured."""
