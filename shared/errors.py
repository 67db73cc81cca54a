"""Errors every entry point reports the same way."""


class ConfigurationError(Exception):
    """The configuration cannot work; the message says what to change. The CLI prints it and
    exits with status 2, without a traceback."""


class PartitionsChanged(ConfigurationError):
    """A topic's partition count is not the one its keyed data is laid out by: going on would
    route an account to two partitions. The message names both counts and the procedure."""
