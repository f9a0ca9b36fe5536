"""Tables of routing: agents' state intervals and the duty rota.

Registered on the shared metadata by `cti.db.models`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base


class AgentStateRow(Base):
    """One interval of an agent's own state; the open one (ended_at NULL) is the current state.

    "How long was she at lunch" is a sum over these rows."""

    __tablename__ = "agent_states"
    __table_args__ = (Index("ix_agent_states_login_started_at", "login", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  #: available, paused, dnd, offline
    reason: Mapped[str] = mapped_column(String(64), default="", server_default="")
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128), default="", server_default="")


class DutyShiftRow(Base):
    """One row of the duty rota, as written: weekdays or dates, office-time hours."""

    __tablename__ = "duty_shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64))  #: "" = nobody (an exception closing duty)
    days: Mapped[str] = mapped_column(String(128))  #: mon-fri, sat,sun, 2026-12-31
    start_time: Mapped[str] = mapped_column(String(5))  #: HH:MM
    end_time: Mapped[str] = mapped_column(String(5))  #: HH:MM, 24:00 allowed
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


__all__ = ["AgentStateRow", "DutyShiftRow"]
