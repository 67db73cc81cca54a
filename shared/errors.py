"""Errors every entry point reports the same way."""


class ConfigurationError(Exception):
    """The configuration cannot work; the message says what to change. The CLI prints it and
    exits with status 2, without a traceback."""
