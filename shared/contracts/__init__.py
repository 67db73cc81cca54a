"""The typed format of every topic, in one place, used by every producer and consumer:

- inputs.py: the input topics' events and records (cs.product-usage, cs.logins, cs.support,
  cs.surveys, cs.accounts, cs.stakeholders);
- signals.py: cs.signals, what ingest makes of every input and scoring applies;
- triggers.py: cs.triggers, the trigger event scoring fires and alerts delivers;
- messages.py: what they share (the base model, field types, event time, decoding with a
  reason for every rejection).

docs/contract.md documents each of them.
"""
