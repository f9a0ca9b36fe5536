"""Authentication: access_changes, the log of logins whose access changed (disable, new
password, revoked token, sign-out), polled by every server to end open websockets at once.

Revision ID: auth_0002
Revises: auth_0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision: str = "auth_0002"
down_revision: str | None = "auth_0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "access_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_changes"),
    )


def downgrade() -> None:
    op.drop_table("access_changes")
