"""SQLAlchemy 2 declarative models: finished calls, agents, customers and their phones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: deterministic constraint names, so migrations (and SQLite batch mode) can refer to them
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive, in UTC).

    Naive datetimes are refused on the way in: in an office that is not on UTC a silent guess
    would shift every call by hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime()}


class CallRow(Base):
    """One finished call (`cti.calls.model.CallRecord`); `linkedid` is the idempotency key."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String, unique=True, index=True)
    direction: Mapped[str] = mapped_column(String(16))
    caller: Mapped[str] = mapped_column(String)
    caller_e164: Mapped[str | None] = mapped_column(String, index=True)
    did_e164: Mapped[str | None] = mapped_column(String, index=True)
    caller_name: Mapped[str] = mapped_column(String)
    did: Mapped[str] = mapped_column(String)
    agents_rung: Mapped[list[str]] = mapped_column(JSON)
    answered_by: Mapped[list[str]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    missed_kind: Mapped[str | None] = mapped_column(String(32))
    short_abandon: Mapped[bool] = mapped_column(Boolean, server_default=false())
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime]
    wait_seconds: Mapped[float] = mapped_column(Float)
    talk_seconds: Mapped[float] = mapped_column(Float)
    hold_seconds: Mapped[float] = mapped_column(Float, server_default=text("0"))
    queue: Mapped[str | None] = mapped_column(String)
    transferred: Mapped[bool] = mapped_column(Boolean, server_default=false())
    recording: Mapped[str | None] = mapped_column(String)
    resynced: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: the customer matched at ring time (caller of an inbound call, number dialled out)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: the routing step that reached the answering agent (else the first step), its reason,
    #: and whether it was a fallback (not the first step); NULL when no decision is known
    route_kind: Mapped[str | None] = mapped_column(String(32))
    route_reason: Mapped[str | None] = mapped_column(String)
    fallback: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Agent(Base):
    """A person who answers calls: login, display name, phone extension and device."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String(32), default="agent", server_default="agent")
    extension: Mapped[str] = mapped_column(String(32))
    device: Mapped[str] = mapped_column(String(64))  #: e.g. PJSIP/101
    mobile: Mapped[str | None] = mapped_column(String(32))  #: E.164, for follow-me
    teams: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    seniority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    max_calls: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime | None]  #: set by every change (NULL only before migration 0002)


class Customer(Base):
    """A customer (a person, usually at a company) shown on a screen-pop."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String)
    company: Mapped[str] = mapped_column(String, default="", server_default="")
    vip: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    timezone: Mapped[str | None] = mapped_column(String(64))  #: IANA, e.g. Asia/Yekaterinburg
    manager_login: Mapped[str | None] = mapped_column(String(64), index=True)  #: agents.login
    crm_url: Mapped[str | None] = mapped_column(String)
    #: the order summary the card shows (the latest orders are rows of customer_orders)
    orders_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    orders_total_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    orders_currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime | None]  #: set by every change (NULL only before migration 0002)
    #: the login that created the card (NULL: an import, or before migration 0900)
    created_by: Mapped[str | None] = mapped_column(String(64))
    #: `manual` (API, console, import) or `auto` (a lead card made on a first call)
    source: Mapped[str] = mapped_column(String(16), default="manual", server_default="manual")
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", passive_deletes=True
    )


class CustomerPhone(Base):
    """One phone number of a customer: E.164 for lookups, and as it was typed."""

    __tablename__ = "customer_phones"
    __table_args__ = (
        UniqueConstraint("customer_id", "e164", name="uq_customer_phones_customer_id_e164"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(32), index=True)
    raw: Mapped[str] = mapped_column(String, default="", server_default="")
    #: national significant number (digits after the country code): the fallback match
    nsn: Mapped[str] = mapped_column(String(20), default="", server_default="", index=True)
    #: False: phonenumbers does not know the number (kept as written, with its country code)
    valid: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    customer: Mapped[Customer] = relationship(back_populates="phones")


__all__ = [
    "NAMING_CONVENTION",
    "Agent",
    "Base",
    "CallRow",
    "Customer",
    "CustomerPhone",
    "UTCDateTime",
]


# tables of other features, registered on the same metadata (Alembic and tests see them all)
from cti.db import auth_models as _auth_models  # noqa: E402,F401
from cti.db import calendar_models as _calendar_models  # noqa: E402,F401
from cti.db import directory_models as _directory_models  # noqa: E402,F401
from cti.db import fence_models as _fence_models  # noqa: E402,F401
from cti.db import missed_models as _missed_models  # noqa: E402,F401
from cti.db import routing_models as _routing_models  # noqa: E402,F401
from cti.db import webhook_models as _webhook_models  # noqa: E402,F401
