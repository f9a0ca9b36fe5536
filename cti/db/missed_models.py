"""Tables of missed calls and callbacks (registered on the shared metadata by cti.db.models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base


class MissedCallRow(Base):
    """One missed inbound call; `linkedid` makes it exactly one whatever is replayed."""

    __tablename__ = "missed_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String, unique=True)
    missed_at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(32))
    short_abandon: Mapped[bool] = mapped_column(Boolean, server_default=false())
    caller: Mapped[str] = mapped_column(String)
    caller_e164: Mapped[str | None] = mapped_column(String, index=True)
    caller_name: Mapped[str] = mapped_column(String, server_default="")
    customer_id: Mapped[int | None] = mapped_column(Integer)
    did: Mapped[str] = mapped_column(String, server_default="")
    agents_rung: Mapped[list[str]] = mapped_column(JSON)
    wait_seconds: Mapped[float] = mapped_column(Float)
    callback_id: Mapped[int | None] = mapped_column(
        ForeignKey("callbacks.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CallbackRow(Base):
    """Someone must call this number back by `deadline_at`; one open callback per number."""

    __tablename__ = "callbacks"
    __table_args__ = (
        Index(
            "uq_callbacks_open_number",
            "number",
            unique=True,
            postgresql_where=text("state = 'open'"),
            sqlite_where=text("state = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String, index=True)  #: E.164
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(16))
    owner_login: Mapped[str | None] = mapped_column(String(64), index=True)
    owner_reason: Mapped[str] = mapped_column(String(64), server_default="")
    #: the line's team; with no owner_login the callback is on that team's shared list ("":
    #: every agent's), which its agents see and claim (migration 1000_callback_owners)
    team: Mapped[str] = mapped_column(String(64), server_default="")
    did: Mapped[str] = mapped_column(String, server_default="")
    misses: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    note: Mapped[str] = mapped_column(Text, server_default="")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    first_missed_at: Mapped[datetime | None]
    last_missed_at: Mapped[datetime | None]
    requested_for: Mapped[datetime | None]
    deadline_at: Mapped[datetime] = mapped_column(index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    held_by: Mapped[str | None] = mapped_column(String(64))
    held_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_attempt_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None] = mapped_column(index=True)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(String(32))
    resolution_note: Mapped[str] = mapped_column(Text, server_default="")
    resolving_linkedid: Mapped[str | None] = mapped_column(String)


class CallbackLogRow(Base):
    """What happened to a callback and who did it: misses, attempts, holds, reassignments."""

    __tablename__ = "callback_log"
    __table_args__ = (Index("ix_callback_log_callback_id_at", "callback_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    linkedid: Mapped[str | None] = mapped_column(String)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
