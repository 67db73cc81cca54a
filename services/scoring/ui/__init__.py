"""The CSM's pages under /ui (docs/ui.md): the portfolio, an account, the alerts feed and
silences, server-rendered from templates/ with static/ vendored beside them.

They read through the same functions as the JSON routes and are admitted by a session cookie
(sessions.py, access.py) instead of a bearer token."""
