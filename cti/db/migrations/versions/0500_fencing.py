"""The AMI lease's fencing row (several processes: a stale leader's writes are refused).

Revision ID: 0500_fencing
Revises: 0001_initial
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision: str = "0500_fencing"
down_revision: str | None = "0001_initial"
branch_labels: tuple[str, ...] | None = ("fencing",)
depends_on: str | None = None


def upgrade() -> None:
    fence = op.create_table(
        "leader_fence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(fence, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    op.drop_table("leader_fence")
