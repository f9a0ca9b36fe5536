"""Tables of calendars: agents' shifts and lines' business hours and holidays.

Registered on the shared metadata by `cti.db.models`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base


class AgentShiftRow(Base):
    """One row of agents' shifts as written: who (login or @team), days, hours or off, note."""

    __tablename__ = "agent_shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    who: Mapped[str] = mapped_column(String(64))
    days: Mapped[str] = mapped_column(Text)  #: mon-fri, 2027-01-01..2027-01-08
    hours: Mapped[str] = mapped_column(String(16))  #: 09:00-18:00 or closed
    note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class LineHoursRow(Base):
    """One row of a line's calendar: line (DID, team or *), days, hours or closed, name."""

    __tablename__ = "line_hours"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[str] = mapped_column(String(64))
    days: Mapped[str] = mapped_column(Text)
    hours: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


__all__ = ["AgentShiftRow", "LineHoursRow"]
