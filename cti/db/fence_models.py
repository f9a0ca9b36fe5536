"""The fencing row: the newest AMI lease epoch whose writes the database has accepted."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base


class LeaderFenceRow(Base):
    """One row (id 1). A write of the call pipeline raises `epoch` to its own in the same
    transaction, or is refused when a newer leader has written already."""

    __tablename__ = "leader_fence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
