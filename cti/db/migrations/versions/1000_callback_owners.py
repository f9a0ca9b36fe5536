"""Callbacks: every one has an owner, an agent or its line's team's shared list (`team`).

Existing open callbacks without an owner get one by the owner chain as far as the database
tells it: the customer's manager, else the last agent the (latest) missed call rang, else the
shared list of every agent (the line's team is in the routing settings, not here). Each
change is logged in callback_log (actor `system`, action `owner_repaired`).

Revision ID: 1000_callback_owners
Revises: 0100_missed
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from alembic import op
from cti.db.models import UTCDateTime

revision: str = "1000_callback_owners"
down_revision: str | None = "0100_missed"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = ("0002_customers",)


def upgrade() -> None:
    op.add_column("callbacks", sa.Column("team", sa.String(64), server_default="", nullable=False))
    _repair_owners(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.drop_column("team")


def _phones(conn: sa.Connection) -> dict[str, str]:
    """Extension and device endpoint -> login (extensions first, as call records name them)."""
    agents = conn.execute(sa.text("SELECT login, extension, device FROM agents ORDER BY login"))
    by_extension: dict[str, str] = {}
    by_endpoint: dict[str, str] = {}
    for login, extension, device in agents:
        if extension:
            by_extension.setdefault(extension, login)
        endpoint = (device or "").rpartition("/")[2]
        if endpoint:
            by_endpoint.setdefault(endpoint, login)
    return {**by_endpoint, **by_extension}


def _rung(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [str(x) for x in value] if isinstance(value, list) else []


def _repair_owners(conn: sa.Connection) -> None:
    orphans = conn.execute(
        sa.text(
            "SELECT c.id, cu.manager_login FROM callbacks c "
            "LEFT JOIN customers cu ON cu.id = c.customer_id "
            "WHERE c.state = 'open' AND c.owner_login IS NULL ORDER BY c.id"
        )
    ).all()
    if not orphans:
        return
    phones = _phones(conn)
    now = datetime.now(UTC)
    log = sa.table(
        "callback_log",
        sa.column("callback_id", sa.Integer),
        sa.column("at", UTCDateTime()),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("linkedid", sa.String),
        sa.column("detail", sa.JSON),
    )
    for callback_id, manager in orphans:
        owner, reason = (manager, "manager") if manager else (None, "team")
        if owner is None:
            latest = conn.execute(
                sa.text(
                    "SELECT agents_rung FROM missed_calls WHERE callback_id = :id "
                    "ORDER BY missed_at DESC, id DESC LIMIT 1"
                ),
                {"id": callback_id},
            ).scalar()
            for ext in reversed(_rung(latest)):
                if ext in phones:
                    owner, reason = phones[ext], "last_rung"
                    break
        conn.execute(
            sa.text(
                "UPDATE callbacks SET owner_login = :owner, owner_reason = :reason WHERE id = :id"
            ),
            {"owner": owner, "reason": reason, "id": callback_id},
        )
        conn.execute(
            log.insert().values(
                callback_id=callback_id,
                at=now,
                actor="system",
                action="owner_repaired",
                linkedid=None,
                detail={"to": owner, "reason": reason, "team": ""},
            )
        )
