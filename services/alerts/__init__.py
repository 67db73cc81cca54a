"""The alerts service: reads trigger events from cs.triggers and delivers each one once per
channel (Slack, email, or the console when neither is configured).

Entry point: `services.alerts.service.run_alerts`.
"""
