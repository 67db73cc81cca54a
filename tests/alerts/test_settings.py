"""The email archive's settings: refused by name when they cannot work, the password secret."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from tests.helpers.transport import from_env

ARCHIVE = {
    "PULSE_SMTP_HOST": "smtp.example.com",
    "PULSE_EMAIL_ARCHIVE_ADDRESS": "pulse-archive@example.com",
    "PULSE_IMAP_HOST": "imap.example.com",
    "PULSE_IMAP_USERNAME": "pulse-archive",
    "PULSE_IMAP_PASSWORD": "imap-password-123",
}


@pytest.mark.parametrize(
    ("left_out", "says"),
    [
        ("PULSE_IMAP_HOST", "set PULSE_IMAP_HOST too, or neither"),
        ("PULSE_EMAIL_ARCHIVE_ADDRESS", "set PULSE_EMAIL_ARCHIVE_ADDRESS too, or neither"),
        ("PULSE_SMTP_HOST", "PULSE_EMAIL_ARCHIVE_ADDRESS needs PULSE_SMTP_HOST"),
    ],
)
def test_an_archive_half_configured_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, left_out: str, says: str
) -> None:
    env = {k: v for k, v in ARCHIVE.items() if k != left_out}
    with pytest.raises(ConfigurationError, match=says):
        from_env(monkeypatch, **env)


def test_the_archive_settings_as_read_with_the_password_kept_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = from_env(monkeypatch, **ARCHIVE)
    assert (settings.imap_port, settings.imap_tls, settings.imap_mailbox) == (993, True, "INBOX")
    assert settings.imap_password is not None
    assert settings.imap_password.get_secret_value() == "imap-password-123"
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert "imap-password-123" not in shown


def test_no_archive_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = from_env(monkeypatch, PULSE_SMTP_HOST="smtp.example.com")
    assert settings.email_archive_address is None and settings.imap_host is None
