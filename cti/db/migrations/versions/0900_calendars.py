"""Calendars: agents' shifts and lines' business hours and holidays.

Revision ID: 0900_calendars
Revises: 0001_initial
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision: str = "0900_calendars"
down_revision: str | None = "0001_initial"
branch_labels: tuple[str, ...] | None = ("calendars",)
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("who", sa.String(64), nullable=False),
        sa.Column("days", sa.Text(), nullable=False),
        sa.Column("hours", sa.String(16), nullable=False),
        sa.Column("note", sa.String(200), server_default="", nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_shifts"),
    )
    op.create_table(
        "line_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("days", sa.Text(), nullable=False),
        sa.Column("hours", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), server_default="", nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_line_hours"),
    )


def downgrade() -> None:
    op.drop_table("line_hours")
    op.drop_table("agent_shifts")
