"""Fencing in the database: a write of the call pipeline carries the AMI lease's epoch and is
refused, whole, when a newer epoch has written already (a paused former leader woke up)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db.fence_models import LeaderFenceRow


class StaleEpoch(RuntimeError):
    """A newer AMI lease holder has written: this process's writes are refused."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"epoch {epoch} is stale: a newer AMI consumer has written since")
        self.epoch = epoch


async def check(session: AsyncSession, epoch: int) -> None:
    """In the writing transaction: raise the fence to `epoch`, or raise StaleEpoch (the
    transaction then rolls back). The row lock also serializes two writers that overlap."""
    done = await session.execute(
        update(LeaderFenceRow)
        .where(LeaderFenceRow.id == 1, LeaderFenceRow.epoch <= epoch)
        .values(epoch=epoch)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        raise StaleEpoch(epoch)


async def newest(sessions: async_sessionmaker[AsyncSession]) -> int:
    """The newest epoch the database accepted (0: none yet); the lease never hands out less."""
    async with sessions() as session:
        return int(
            await session.scalar(select(LeaderFenceRow.epoch).where(LeaderFenceRow.id == 1)) or 0
        )


__all__ = ["StaleEpoch", "check", "newest"]
