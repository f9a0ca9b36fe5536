"""Missed calls and callbacks; the dialled number in E.164 on calls.

Revision ID: 0100_missed
Revises: 0001_initial
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision: str = "0100_missed"
down_revision: str | None = "0001_initial"
branch_labels: tuple[str, ...] | None = ("missed",)
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("did_e164", sa.String(), nullable=True))
        batch.create_index("ix_calls_did_e164", ["did_e164"])
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("owner_login", sa.String(64), nullable=True),
        sa.Column("owner_reason", sa.String(64), server_default="", nullable=False),
        sa.Column("did", sa.String(), server_default="", nullable=False),
        sa.Column("misses", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("first_missed_at", _TS, nullable=True),
        sa.Column("last_missed_at", _TS, nullable=True),
        sa.Column("requested_for", _TS, nullable=True),
        sa.Column("deadline_at", _TS, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("held_by", sa.String(64), nullable=True),
        sa.Column("held_at", _TS, nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_attempt_at", _TS, nullable=True),
        sa.Column("escalated_at", _TS, nullable=True),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.Column("resolution_note", sa.Text(), server_default="", nullable=False),
        sa.Column("resolving_linkedid", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_callbacks"),
    )
    for column in (
        "number",
        "customer_id",
        "state",
        "owner_login",
        "created_at",
        "deadline_at",
        "escalated_at",
    ):
        op.create_index(f"ix_callbacks_{column}", "callbacks", [column])
    op.create_index(
        "uq_callbacks_open_number",
        "callbacks",
        ["number"],
        unique=True,
        postgresql_where=sa.text("state = 'open'"),
        sqlite_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "missed_calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("linkedid", sa.String(), nullable=False),
        sa.Column("missed_at", _TS, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("short_abandon", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("caller", sa.String(), nullable=False),
        sa.Column("caller_e164", sa.String(), nullable=True),
        sa.Column("caller_name", sa.String(), server_default="", nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("did", sa.String(), server_default="", nullable=False),
        sa.Column("agents_rung", sa.JSON(), nullable=False),
        sa.Column("wait_seconds", sa.Float(), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_missed_calls"),
        sa.UniqueConstraint("linkedid", name="uq_missed_calls_linkedid"),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name="fk_missed_calls_callback_id_callbacks",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_missed_calls_missed_at", "missed_calls", ["missed_at"])
    op.create_index("ix_missed_calls_caller_e164", "missed_calls", ["caller_e164"])
    op.create_index("ix_missed_calls_callback_id", "missed_calls", ["callback_id"])
    op.create_table(
        "callback_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("linkedid", sa.String(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_callback_log"),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name="fk_callback_log_callback_id_callbacks",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_callback_log_callback_id_at", "callback_log", ["callback_id", "at"])


def downgrade() -> None:
    op.drop_table("callback_log")
    op.drop_table("missed_calls")
    op.drop_table("callbacks")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_did_e164")
        batch.drop_column("did_e164")
