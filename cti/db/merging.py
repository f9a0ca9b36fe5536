"""Two customers become one in the database: what belonged to the second moves to the first."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.directory_models import AuditRow, CustomerOrderRow
from cti.db.missed_models import CallbackRow, MissedCallRow
from cti.db.models import CallRow, CustomerPhone
from cti.db.models import Customer as CustomerRow

_ORDERS = cast(Table, CustomerOrderRow.__table__)


async def move_belongings(session: AsyncSession, *, source: int, target: int) -> None:
    """Orders (the target's own win on a shared order number), calls, missed calls, callbacks
    and the audit history of `source` now belong to `target`; then `source` is deleted."""
    kept = select(_ORDERS.c.number).where(_ORDERS.c.customer_id == target).scalar_subquery()
    await session.execute(
        update(_ORDERS)
        .where(_ORDERS.c.customer_id == source, _ORDERS.c.number.not_in(kept))
        .values(customer_id=target)
    )
    for table in (CallRow, MissedCallRow, CallbackRow):
        await session.execute(
            update(table).where(table.customer_id == source).values(customer_id=target)
        )
    await session.execute(
        update(AuditRow)
        .where(AuditRow.entity == "customer", AuditRow.entity_id == source)
        .values(entity_id=target)
    )
    await session.execute(delete(_ORDERS).where(_ORDERS.c.customer_id == source))
    await session.execute(delete(CustomerPhone).where(CustomerPhone.customer_id == source))
    await session.execute(delete(CustomerRow).where(CustomerRow.id == source))


__all__ = ["move_belongings"]
