"""Webhooks: events for shops and CRMs, signed, kept in a durable outbox and retried for a day."""
