"""Remembered callers: the customer an agent picked for a number several customers share."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cti.db.directory_models import CallerChoiceRow
from cti.db.models import CustomerPhone

_CHOICES = cast(Table, CallerChoiceRow.__table__)


async def remember(
    session: AsyncSession, *, e164: str, customer_id: int, login: str, at: datetime
) -> None:
    """This number is this customer from now on (replaces an earlier choice)."""
    await session.execute(delete(_CHOICES).where(_CHOICES.c.e164 == e164))
    await session.execute(
        _CHOICES.insert().values(e164=e164, customer_id=customer_id, chosen_by=login, chosen_at=at)
    )


async def forget(session: AsyncSession, numbers: Iterable[str]) -> None:
    """The directory changed for these numbers (a customer got or lost one): choose again."""
    unique = sorted(set(numbers))
    for start in range(0, len(unique), 5_000):
        part = unique[start : start + 5_000]
        await session.execute(delete(_CHOICES).where(_CHOICES.c.e164.in_(part)))


async def forget_customers(session: AsyncSession, ids: Iterable[int]) -> None:
    """These customers changed in bulk: forget picks of them and of the numbers they have now."""
    unique = sorted(set(ids))
    for start in range(0, len(unique), 5_000):
        part = unique[start : start + 5_000]
        numbers = select(CustomerPhone.e164).where(CustomerPhone.customer_id.in_(part))
        await session.execute(
            delete(_CHOICES).where(_CHOICES.c.customer_id.in_(part) | _CHOICES.c.e164.in_(numbers))
        )


async def every_choice(conn: AsyncConnection) -> dict[str, int]:
    """E.164 -> the chosen customer's id."""
    rows = await conn.execute(select(_CHOICES.c.e164, _CHOICES.c.customer_id))
    return {r.e164: r.customer_id for r in rows}


__all__ = ["every_choice", "forget", "forget_customers", "remember"]
