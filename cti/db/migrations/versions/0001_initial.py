"""Initial schema: calls, agents, customers and customer_phones.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _created_at() -> sa.Column[Any]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("linkedid", sa.String(), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("caller", sa.String(), nullable=False),
        sa.Column("caller_e164", sa.String(), nullable=True),
        sa.Column("caller_name", sa.String(), nullable=False),
        sa.Column("did", sa.String(), nullable=False),
        sa.Column("agents_rung", sa.JSON(), nullable=False),
        sa.Column("answered_by", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("missed_kind", sa.String(32), nullable=True),
        sa.Column("short_abandon", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wait_seconds", sa.Float(), nullable=False),
        sa.Column("talk_seconds", sa.Float(), nullable=False),
        sa.Column("hold_seconds", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("queue", sa.String(), nullable=True),
        sa.Column("transferred", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("recording", sa.String(), nullable=True),
        sa.Column("resynced", sa.Boolean(), server_default=sa.false(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_linkedid", "calls", ["linkedid"], unique=True)
    op.create_index("ix_calls_caller_e164", "calls", ["caller_e164"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])

    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(32), server_default="agent", nullable=False),
        sa.Column("extension", sa.String(32), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("mobile", sa.String(32), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint("login", name="uq_agents_login"),
    )

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("company", sa.String(), server_default="", nullable=False),
        sa.Column("vip", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("manager_login", sa.String(64), nullable=True),
        sa.Column("crm_url", sa.String(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("external_id", name="uq_customers_external_id"),
    )

    op.create_table(
        "customer_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(32), nullable=False),
        sa.Column("raw", sa.String(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_phones"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_phones_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("customer_id", "e164", name="uq_customer_phones_customer_id_e164"),
    )
    op.create_index("ix_customer_phones_e164", "customer_phones", ["e164"])


def downgrade() -> None:
    op.drop_index("ix_customer_phones_e164", table_name="customer_phones")
    op.drop_table("customer_phones")
    op.drop_table("customers")
    op.drop_table("agents")
    op.drop_index("ix_calls_started_at", table_name="calls")
    op.drop_index("ix_calls_caller_e164", table_name="calls")
    op.drop_index("ix_calls_linkedid", table_name="calls")
    op.drop_table("calls")
