"""Customer directory: agents' teams and limits, customers' order summary, phones' national
numbers, orders, audit log, the directory change feed, and calls.customer_id.

Revision ID: 0002_customers
Revises: 0001_initial
Create Date: 2026-11-25

Plain ALTER TABLE ADD/DROP COLUMN on both databases (SQLite >= 3.35 drops columns natively):
no batch table rebuild, because rebuilding `customers` under SQLite's foreign keys would
cascade-delete every customer_phones row.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision: str = "0002_customers"
down_revision: str | None = "0001_initial"
branch_labels: tuple[str, ...] | None = ("customers",)
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)

#: (table, column) added here, in order; dropped in reverse by the downgrade
_COLUMNS: list[tuple[str, sa.Column[object]]] = [
    ("agents", sa.Column("teams", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)),
    ("agents", sa.Column("seniority", sa.Integer(), server_default=sa.text("0"), nullable=False)),
    ("agents", sa.Column("max_calls", sa.Integer(), server_default=sa.text("1"), nullable=False)),
    ("agents", sa.Column("updated_at", _TS, nullable=True)),
    (
        "customers",
        sa.Column("orders_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    ),
    (
        "customers",
        sa.Column(
            "orders_total_cents", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
    ),
    ("customers", sa.Column("orders_currency", sa.String(3), nullable=True)),
    ("customers", sa.Column("updated_at", _TS, nullable=True)),
    ("customer_phones", sa.Column("nsn", sa.String(20), server_default="", nullable=False)),
    ("customer_phones", sa.Column("valid", sa.Boolean(), server_default=sa.true(), nullable=False)),
    ("calls", sa.Column("customer_id", sa.Integer(), nullable=True)),
]

#: (index, table, columns)
_INDEXES = [
    ("ix_customers_manager_login", "customers", ["manager_login"]),
    ("ix_customer_phones_nsn", "customer_phones", ["nsn"]),
    ("ix_calls_customer_id", "calls", ["customer_id"]),
]


def upgrade() -> None:
    for table, column in _COLUMNS:
        op.add_column(table, column)
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)
    op.execute("UPDATE customers SET updated_at = created_at")
    op.execute("UPDATE agents SET updated_at = created_at")
    _fill_national_numbers()

    op.create_table(
        "customer_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("ordered_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(32), server_default="", nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_orders"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_orders_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("customer_id", "number", name="uq_customer_orders_customer_id_number"),
    )
    op.create_index("ix_customer_orders_customer_id", "customer_orders", ["customer_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("entity_key", sa.String(128), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_entity_entity_id", "audit_log", ["entity", "entity_id"])

    op.create_table(
        "directory_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_directory_state"),
    )
    op.execute("INSERT INTO directory_state (id, revision) VALUES (1, 0)")
    op.create_table(
        "directory_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_directory_changes"),
    )
    op.create_index("ix_directory_changes_revision", "directory_changes", ["revision"])


def _fill_national_numbers() -> None:
    """Phones stored before this revision get their national significant number (the fallback
    match) and whether phonenumbers knows them."""
    import phonenumbers

    bind = op.get_bind()
    phones = sa.table(
        "customer_phones", sa.column("id"), sa.column("e164"), sa.column("nsn"), sa.column("valid")
    )
    rows = bind.execute(sa.select(phones.c.id, phones.c.e164)).all()
    updates = []
    for row in rows:
        try:
            parsed = phonenumbers.parse(row.e164, None)
        except phonenumbers.NumberParseException:
            continue
        updates.append(
            {
                "b_id": row.id,
                "nsn": phonenumbers.national_significant_number(parsed),
                "valid": phonenumbers.is_valid_number(parsed),
            }
        )
    if updates:
        statement = phones.update().where(phones.c.id == sa.bindparam("b_id"))
        bind.execute(
            statement.values(nsn=sa.bindparam("nsn"), valid=sa.bindparam("valid")), updates
        )


def downgrade() -> None:
    op.drop_table("directory_changes")
    op.drop_table("directory_state")
    op.drop_table("audit_log")
    op.drop_table("customer_orders")
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    for table, column in reversed(_COLUMNS):
        op.drop_column(table, column.name)
