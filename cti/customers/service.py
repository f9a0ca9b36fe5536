"""The directory's use cases for the API and the CLI: customers and agents, read, written,
imported, audited; each write in one transaction that ends by telling the live lookup."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.customers import fields as f
from cti.customers import importing, inputs
from cti.customers.audit import Entity
from cti.customers.directory import CallerDirectory
from cti.customers.errors import Conflict, InvalidFields, NotAllowed, NotFound
from cti.customers.model import Agent, Customer, TimezoneSource, with_values
from cti.customers.numbers import timezone_from_numbers
from cti.db import agents as agent_store
from cti.db import bulk as bulk_store
from cti.db import customers as customer_store
from cti.db.audit import history, record_changes
from cti.db.calls import row_to_record
from cti.db.models import CallRow
from cti.db.session import writing

#: customers per bulk request at most (larger sets: CSV upload)
BULK_MAX = 5_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


def effective_timezone(
    customer: Customer, office: str, zones: Iterable[str]
) -> tuple[str, TimezoneSource]:
    """The customer's own zone, else the one zone all their numbers are in, else the office's."""
    if customer.timezone:
        return customer.timezone, TimezoneSource.CUSTOMER
    from_numbers = timezone_from_numbers([p.e164 for p in customer.phones], frozenset(zones))
    if from_numbers:
        return from_numbers, TimezoneSource.NUMBER
    return office, TimezoneSource.OFFICE


@dataclass(frozen=True, kw_only=True)
class DirectoryServices:
    """What the web edge needs of the directory: customers, agents and the caller lookup."""

    customers: CustomerService
    agents: AgentService
    callers: CallerDirectory


class CustomerService:
    """Customers: CRUD, bulk upsert, CSV import, history and recent calls."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        region: str,
        office_timezone: str,
        directory: CallerDirectory | None = None,
        clock: Callable[[], datetime] = _utcnow,
        on_saved: Callable[[AsyncSession, dict[str, Any], bool], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._region = region
        self._office = office_timezone
        self._directory = directory
        self._clock = clock
        #: told of each customer created or changed one at a time, in the write's transaction
        #: (the webhook outbox: customer.created/updated); bulk upserts and imports are not
        self._on_saved = on_saved

    # --- reading ---------------------------------------------------------------------------------

    def view(self, customer: Customer) -> dict[str, Any]:
        """A customer as the API shows it."""
        zone, source = effective_timezone(customer, self._office, f.known_zones())
        return {
            "id": customer.id,
            "external_id": customer.external_id,
            "name": customer.name,
            "company": customer.company,
            "phones": [{"e164": p.e164, "raw": p.raw} for p in customer.phones],
            "vip": customer.vip,
            "timezone": zone,
            "timezone_source": source.value,
            "manager_login": customer.manager_login,
            "crm_url": customer.crm_url,
            "notes": customer.notes,
            "source": customer.source,
            "created_by": customer.created_by,
            "orders": customer.orders.to_json(),
            "created_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
        }

    async def get(self, customer_id: int) -> dict[str, Any]:
        async with self._sessions() as session:
            return self.view(await _customer(session, customer_id))

    async def listing(
        self,
        *,
        limit: int,
        after_id: int = 0,
        manager_login: str | None = None,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            found = await customer_store.listing(
                session, limit=limit, after_id=after_id, manager_login=manager_login, search=search
            )
        return [self.view(c) for c in found]

    async def history(self, customer_id: int, *, limit: int = 100) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            await _customer(session, customer_id)
            return [
                e.to_json()
                for e in await history(session, Entity.CUSTOMER, customer_id, limit=limit)
            ]

    async def calls(self, customer_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
        """The customer's most recent calls, newest first (the replay/`cti calls` format)."""
        async with self._sessions() as session:
            await _customer(session, customer_id)
            query = (
                select(CallRow)
                .where(CallRow.customer_id == customer_id)
                .order_by(CallRow.started_at.desc(), CallRow.id.desc())
                .limit(limit)
            )
            return [row_to_record(row).to_json() for row in (await session.scalars(query)).all()]

    # --- writing ---------------------------------------------------------------------------------

    async def create(
        self, body: Mapping[str, Any], *, actor: str, may_hand_over: bool = True
    ) -> dict[str, Any]:
        return await self._save(None, body, actor=actor, partial=False, may_hand_over=may_hand_over)

    async def replace(
        self, customer_id: int, body: Mapping[str, Any], *, actor: str, may_hand_over: bool = True
    ) -> dict[str, Any]:
        return await self._save(
            customer_id, body, actor=actor, partial=False, may_hand_over=may_hand_over
        )

    async def patch(
        self, customer_id: int, body: Mapping[str, Any], *, actor: str, may_hand_over: bool = True
    ) -> dict[str, Any]:
        return await self._save(
            customer_id, body, actor=actor, partial=True, may_hand_over=may_hand_over
        )

    async def _save(
        self,
        customer_id: int | None,
        body: Mapping[str, Any],
        *,
        actor: str,
        partial: bool,
        may_hand_over: bool,
    ) -> dict[str, Any]:
        """Create or change a customer. Without `may_hand_over` the responsible manager may
        only be left as it is, or be the actor on a new customer (an agent's own new card)."""
        try:
            async with writing(self._sessions) as session:
                old = await _customer(session, customer_id) if customer_id is not None else None
                rules = f.Rules(region=self._region, managers=await agent_store.logins(session))
                given = inputs.customer(body, rules, partial=partial)
                new = with_values(old, given.values)
                before = old.manager_login if old else None
                if (
                    not may_hand_over
                    and new.manager_login != before
                    and not (old is None and new.manager_login == actor)
                ):
                    raise NotAllowed(
                        "only supervisors and administrators hand customers over to a manager"
                    )
                if new.external_id and new.external_id != (old.external_id if old else None):
                    taken = await customer_store.load(session, external_ids=[new.external_id])
                    if taken:
                        raise Conflict(
                            f"customer {taken[0].id} already has external_id {new.external_id!r}",
                            field="external_id",
                        )
                stored = (
                    await customer_store.orders_of(session, [old.id])
                    if old and old.id and given.orders
                    else {}
                )
                new = customer_store.with_orders(
                    new, stored.get(old.id or 0, []) if old else [], given.orders
                )
                write = customer_store.CustomerWrite(old, new, given.orders)
                (written,) = await customer_store.write(
                    session, [write], actor=actor, at=self._clock()
                )
                assert written.id is not None
                await record_changes(session, Entity.CUSTOMER, [written.id])
                if self._on_saved is not None and (
                    old is None or old.audited() != new.audited() or given.orders
                ):
                    await self._on_saved(session, self.view(written), old is None)
        except IntegrityError:
            raise Conflict(
                "another request changed the same customer; try again", field="external_id"
            ) from None
        await self._tell_directory()
        return await self.get(written.id)

    async def delete(self, customer_id: int, *, actor: str) -> None:
        async with writing(self._sessions) as session:
            customer = await _customer(session, customer_id)
            await customer_store.remove(session, customer, actor=actor, at=self._clock())
            await record_changes(session, Entity.CUSTOMER, [customer_id])
        await self._tell_directory()

    async def bulk(
        self, items: Sequence[Mapping[str, Any]], *, actor: str
    ) -> bulk_store.ImportReport:
        """Upsert by external id; invalid items are reported by index and skipped, the valid
        ones land together (one transaction)."""
        if len(items) > BULK_MAX:
            raise InvalidFields(
                [
                    f.FieldError(
                        "customers", f"at most {BULK_MAX} per request; upload a CSV file for more"
                    )
                ]
            )
        report = bulk_store.ImportReport("customers")
        async with writing(self._sessions) as session:
            rules = f.Rules(region=self._region, managers=await agent_store.logins(session))
            good: list[importing.CustomerInput] = []
            for n, body in enumerate(items):
                report.rows += 1
                try:
                    item = inputs.customer(body, rules, partial=True)
                except InvalidFields as exc:
                    report.rejected.extend(
                        importing.RowError(n, e.field, e.reason) for e in exc.errors
                    )
                    continue
                if not item.external_id:
                    report.rejected.append(
                        importing.RowError(n, "external_id", "is required in a bulk upsert")
                    )
                    continue
                good.append(dataclasses.replace(item, row=n))
            good, duplicates = importing.Deduplicator(importing.CUSTOMERS)(good)
            report.rejected.extend(duplicates)
            known = customer_store.by_external_id(
                await customer_store.load(
                    session, external_ids=[i.external_id for i in good if i.external_id]
                )
            )
            nameless = [i for i in good if i.external_id not in known and not i.values.get("name")]
            report.rejected.extend(
                importing.RowError(i.row, "name", "is required for a new customer")
                for i in nameless
            )
            skipped = {i.row for i in nameless}
            good = [i for i in good if i.row not in skipped]
            await bulk_store.write_customers(session, good, report, actor=actor, at=self._clock())
            await record_changes(session, Entity.CUSTOMER, report.touched)
        await self._tell_directory()
        return report

    async def import_csv(
        self,
        kind: importing.Kind,
        lines: Iterable[str],
        *,
        actor: str,
        progress: Callable[[bulk_store.ImportReport], None] | None = None,
        dry_run: bool = False,
        validator: bulk_store.Validator = bulk_store.validate_here,
        lookahead: int = 1,
        chunk: int = bulk_store.CHUNK,
    ) -> bulk_store.ImportReport:
        """A customers, orders or agents CSV file; raises importing.FileError if unreadable."""
        table = importing.read_table(lines, known=kind.columns, required=kind.required)
        report = await bulk_store.run(
            sessions=self._sessions,
            kind=kind,
            records=table.records,
            region=self._region,
            actor=actor,
            clock=self._clock,
            progress=progress,
            dry_run=dry_run,
            validator=validator,
            lookahead=lookahead,
            chunk=chunk,
        )
        if not dry_run:
            await self._tell_directory()
        return report

    async def _tell_directory(self) -> None:
        if self._directory is not None:
            await self._directory.refresh()


class AgentService:
    """Agents: CRUD and history; a handover of customers is a change of their manager_login."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        region: str,
        directory: CallerDirectory | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._region = region
        self._directory = directory
        self._clock = clock

    async def listing(self) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            return [a.to_json() for a in await agent_store.all_agents(session)]

    async def get(self, login: str) -> dict[str, Any]:
        async with self._sessions() as session:
            return (await _agent(session, login)).to_json()

    async def save(
        self, login: str | None, body: Mapping[str, Any], *, actor: str, partial: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """Create (login None) or update an agent; returns it and whether it was created."""
        async with writing(self._sessions) as session:
            old = await _agent(session, login) if login is not None else None
            if old is not None and "login" in body and body["login"] != old.login:
                raise InvalidFields(
                    [
                        f.FieldError(
                            "login", "cannot change; create a new agent and hand the customers over"
                        )
                    ]
                )
            current = old.audited() if old is not None and partial else None
            if old is not None and not partial:
                body = {**body, "login": old.login}
            values = inputs.agent(body, f.Rules(region=self._region), current=current)
            if old is None and (await agent_store.by_logins(session, [values["login"]])):
                raise Conflict(f"an agent with login {values['login']!r} exists", field="login")
            new = Agent(id=old.id if old else None, **values)
            (written,) = await agent_store.write(
                session, [(old, new)], actor=actor, at=self._clock()
            )
            assert written.id is not None
            await record_changes(session, Entity.AGENT, [written.id])
        await self._tell_directory()
        return written.to_json(), old is None

    async def delete(self, login: str, *, actor: str) -> None:
        async with writing(self._sessions) as session:
            agent = await _agent(session, login)
            managed = await customer_store.count_managed_by(session, login)
            if managed:
                raise Conflict(
                    f"{login} is the responsible manager of {managed} customer(s); hand them over first",
                    field="login",
                )
            await agent_store.remove(session, agent, actor=actor, at=self._clock())
            assert agent.id is not None
            await record_changes(session, Entity.AGENT, [agent.id])
        await self._tell_directory()

    async def history(self, login: str, *, limit: int = 100) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            agent = await _agent(session, login)
            assert agent.id is not None
            return [
                e.to_json() for e in await history(session, Entity.AGENT, agent.id, limit=limit)
            ]

    async def _tell_directory(self) -> None:
        if self._directory is not None:
            await self._directory.refresh()


async def _customer(session: AsyncSession, customer_id: int | None) -> Customer:
    found = await customer_store.get(session, customer_id) if customer_id is not None else None
    if found is None:
        raise NotFound(f"no customer with id {customer_id}")
    return found


async def _agent(session: AsyncSession, login: str | None) -> Agent:
    found = await agent_store.by_logins(session, [login]) if login else {}
    if login is None or login not in found:
        raise NotFound(f"no agent with login {login!r}")
    return found[login]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


__all__ = ["BULK_MAX", "AgentService", "CustomerService", "DirectoryServices", "effective_timezone"]
