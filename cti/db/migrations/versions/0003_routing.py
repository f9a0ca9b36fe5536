"""Routing: agents' state intervals, the duty rota, and the routing decision on each call.

Revision ID: 0003_routing
Revises: 0002_customers
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision: str = "0003_routing"
down_revision: str | None = "0002_customers"
branch_labels: tuple[str, ...] | None = ("routing",)
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)

#: the routing step that reached the call's answering agent (or the primary one), and whether
#: that was a fallback; NULL for calls no routing decision is known for
_CALL_COLUMNS = [
    sa.Column("route_kind", sa.String(32), nullable=True),
    sa.Column("route_reason", sa.String(), nullable=True),
    sa.Column("fallback", sa.Boolean(), nullable=True),
]


def upgrade() -> None:
    op.create_table(
        "agent_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), server_default="", nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("actor", sa.String(128), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_states"),
    )
    op.create_index("ix_agent_states_login_started_at", "agent_states", ["login", "started_at"])
    op.create_index("ix_agent_states_ended_at", "agent_states", ["ended_at"])
    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("days", sa.String(128), nullable=False),
        sa.Column("start_time", sa.String(5), nullable=False),
        sa.Column("end_time", sa.String(5), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_duty_shifts"),
    )
    for column in _CALL_COLUMNS:
        op.add_column("calls", column)


def downgrade() -> None:
    for column in reversed(_CALL_COLUMNS):
        op.drop_column("calls", column.name)
    op.drop_table("duty_shifts")
    op.drop_index("ix_agent_states_ended_at", table_name="agent_states")
    op.drop_index("ix_agent_states_login_started_at", table_name="agent_states")
    op.drop_table("agent_states")
