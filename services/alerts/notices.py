"""The notices one alert may give each of its receivers on each channel, a deliveries row each,
so that each happens at most once (docs/alerting.md, "Notices")."""

from __future__ import annotations

ALERT = "alert"  # the alert itself, when the trigger fires
RESOLVED = "resolved"  # the episode ended: a reply in the alert's Slack thread, a webhook event
ESCALATED = "escalated"  # nobody acknowledged the alert in time: to the escalation's receiver
# Edits of the alert's Slack message (chat.update), showing who acknowledged or snoozed it.
ACKED = "acked"
SNOOZED = "snoozed"
UPDATES = (ACKED, SNOOZED)
# The notices that follow an alert already sent to the same receiver and channel.
FOLLOW_UPS = (RESOLVED, *UPDATES)
