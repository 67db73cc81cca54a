"""What TLS set-up the broker and the database clients share."""

from __future__ import annotations

import ssl

from shared.errors import ConfigurationError


def load_client_certificate(
    context: ssl.SSLContext, certfile: str, keyfile: str | None, settings: str
) -> None:
    """Present this certificate to the server; `settings` names the PULSE_ variables that
    configured it, for the error."""
    try:
        # An encrypted key would make OpenSSL prompt on the terminal: fail instead.
        context.load_cert_chain(certfile, keyfile, password=lambda: b"")
    except ssl.SSLError as exc:
        raise ConfigurationError(
            f"{settings} are not a usable certificate and unencrypted key: {exc}"
        ) from None
