"""Authentication: credentials (password hashes), sessions, api_tokens.

A branch of its own off the initial schema (label "auth"); `cti db upgrade` applies every head.
No foreign key to agents: the directory may rebuild its table (SQLite batch mode) without
touching secrets; a person missing from the directory simply cannot sign in.

Revision ID: auth_0001
Revises: 0001_initial
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision: str = "auth_0001"
down_revision: str | None = "0001_initial"
branch_labels: tuple[str, ...] | None = ("auth",)
depends_on: str | None = None


def _at(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        _at("updated_at"),
        _at("disabled_at", nullable=True),
        sa.PrimaryKeyConstraint("login", name="pk_credentials"),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("login", sa.String(64), nullable=False),
        _at("created_at"),
        _at("expires_at"),
        _at("last_seen_at"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_sessions"),
    )
    op.create_index("ix_sessions_login", "sessions", ["login"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        _at("created_at"),
        _at("last_used_at", nullable=True),
        _at("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_login", "api_tokens", ["login"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_login", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_index("ix_sessions_login", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("credentials")
