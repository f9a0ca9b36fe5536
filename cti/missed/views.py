"""JSON shapes of missed calls and callbacks (API, websocket, webhooks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cti.db.missed_models import CallbackLogRow, CallbackRow, MissedCallRow


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def missed_view(row: MissedCallRow, callback: CallbackRow | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "linkedid": row.linkedid,
        "missed_at": iso_utc(row.missed_at),
        "kind": row.kind,
        "short_abandon": bool(row.short_abandon),
        "caller": row.caller,
        "caller_e164": row.caller_e164,
        "caller_name": row.caller_name,
        "customer_id": row.customer_id,
        "did": row.did,
        "agents_rung": list(row.agents_rung or ()),
        "wait_seconds": round(float(row.wait_seconds), 3),
        "callback_id": row.callback_id,
        "callback_state": callback.state if callback is not None else None,
        "callback_owner": callback.owner_login if callback is not None else None,
    }


def callback_view(row: CallbackRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        "customer_id": row.customer_id,
        "state": row.state,
        "source": row.source,
        "owner": row.owner_login,
        "owner_reason": row.owner_reason,
        "did": row.did,
        "misses": row.misses,
        "note": row.note,
        "created_by": row.created_by,
        "created_at": iso_utc(row.created_at),
        "first_missed_at": iso_utc(row.first_missed_at),
        "last_missed_at": iso_utc(row.last_missed_at),
        "requested_for": iso_utc(row.requested_for),
        "deadline_at": iso_utc(row.deadline_at),
        "timezone": row.timezone,
        "held_by": row.held_by,
        "held_at": iso_utc(row.held_at),
        "attempts": row.attempts,
        "last_attempt_at": iso_utc(row.last_attempt_at),
        "escalated_at": iso_utc(row.escalated_at),
        "resolved_at": iso_utc(row.resolved_at),
        "resolved_by": row.resolved_by,
        "resolution": row.resolution,
        "resolution_note": row.resolution_note,
        "resolving_linkedid": row.resolving_linkedid,
    }


def log_view(row: CallbackLogRow) -> dict[str, Any]:
    return {
        "at": iso_utc(row.at),
        "actor": row.actor,
        "action": row.action,
        "linkedid": row.linkedid,
        "detail": row.detail or {},
    }
