"""Customers: who created a card, where it came from, notes; remembered choices for shared numbers.

Revision ID: 0900_customer_access
Revises: 0003_routing
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision: str = "0900_customer_access"
down_revision: str | None = "0003_routing"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("created_by", sa.String(64), nullable=True))
    op.add_column(
        "customers", sa.Column("source", sa.String(16), server_default="manual", nullable=False)
    )
    op.add_column("customers", sa.Column("notes", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "caller_choices",
        sa.Column("e164", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("chosen_by", sa.String(64), nullable=False),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_caller_choices_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("e164", name="pk_caller_choices"),
    )


def downgrade() -> None:
    op.drop_table("caller_choices")
    # plain ALTER TABLE ... DROP COLUMN: a batch copy of `customers` would cascade its phones away
    for column in ("notes", "source", "created_by"):
        op.drop_column("customers", column)
