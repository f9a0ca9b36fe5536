"""Tables of the customer directory beside customers and agents: orders, audit log, change feed.

Registered on the shared metadata by `cti.db.models`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base


class CustomerOrderRow(Base):
    """One order of a customer; (customer, number) is the key of imports and API upserts."""

    __tablename__ = "customer_orders"
    __table_args__ = (
        UniqueConstraint("customer_id", "number", name="uq_customer_orders_customer_id_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(64))
    ordered_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(32), default="", server_default="")
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class AuditRow(Base):
    """Who changed which customer or agent, when, from what to what."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))  #: "customer" or "agent"
    entity_id: Mapped[int] = mapped_column(Integer)
    entity_key: Mapped[str | None] = mapped_column(String(128))  #: external id or login
    action: Mapped[str] = mapped_column(String(16))  #: create, update, delete
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)  #: {field: {"old": .., "new": ..}}


class DirectoryStateRow(Base):
    """One row: the revision of the directory, bumped by every transaction that changes it."""

    __tablename__ = "directory_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


class DirectoryChangeRow(Base):
    """Which customers or agents a revision changed (entity_id NULL: possibly all of them)."""

    __tablename__ = "directory_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, index=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int | None] = mapped_column(Integer)


class CallerChoiceRow(Base):
    """The customer an agent picked for a number several customers share; forgotten when a
    customer with that number changes (`cti.db.choices`)."""

    __tablename__ = "caller_choices"

    e164: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    chosen_by: Mapped[str] = mapped_column(String(64))
    chosen_at: Mapped[datetime]


__all__ = [
    "AuditRow",
    "CallerChoiceRow",
    "CustomerOrderRow",
    "DirectoryChangeRow",
    "DirectoryStateRow",
]
