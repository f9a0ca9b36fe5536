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

from cti.auth.policy import visible_extensions
from cti.auth.principal import Principal
from cti.customers import access, importing, inputs
from cti.customers import duplicates as dup
from cti.customers import fields as f
from cti.customers.agents import AgentService
from cti.customers.audit import Action, AuditEntry, Entity
from cti.customers.directory import CallerDirectory
from cti.customers.errors import Conflict, DuplicatePhones, InvalidFields, NotAllowed, NotFound
from cti.customers.fields import FieldError
from cti.customers.model import Customer, Match, TimezoneSource, summarize, with_values
from cti.customers.numbers import timezone_from_numbers
from cti.db import agents as agent_store
from cti.db import bulk as bulk_store
from cti.db import choices, merging
from cti.db import customers as customer_store
from cti.db.audit import history, record_changes, write_audit
from cti.db.calls import calls_involving, row_to_record
from cti.db.models import CallRow
from cti.db.session import writing

#: customers per bulk request at most (larger sets: CSV upload)
BULK_MAX = 5_000
#: who the audit log says made a lead card for an unknown caller (no login starts with ~)
AUTO_ACTOR = "~auto"


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
        policy: access.CustomerPolicy | None = None,
    ) -> None:
        self._sessions = sessions
        #: who may see and change what (the settings' agents_see and agent_customer_fields)
        self._policy = policy if policy is not None else access.CustomerPolicy()
        self._region = region
        self._office = office_timezone
        self._directory = directory
        self._clock = clock
        #: told of each customer created or changed one at a time, in the write's transaction
        #: (the webhook outbox: customer.created/updated); bulk upserts and imports are not
        self._on_saved = on_saved

    # --- reading ---------------------------------------------------------------------------------

    def view(self, customer: Customer, principal: Principal | None = None) -> dict[str, Any]:
        """A customer as the API shows it; with `principal`, the fields they may change."""
        zone, source = effective_timezone(customer, self._office, f.known_zones())
        data: dict[str, Any] = {
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
        if principal is not None:
            allowed = self._policy.editable(principal, customer)
            data["editable"] = [name for name in access.FIELDS if name in allowed]
        return data

    async def get(self, customer_id: int, principal: Principal | None = None) -> dict[str, Any]:
        """The card; NotFound also when `principal` may not see this customer."""
        async with self._sessions() as session:
            customer = await self._visible(session, customer_id, principal)
            return self.view(customer, principal)

    async def listing(
        self,
        *,
        limit: int,
        after_id: int = 0,
        manager_login: str | None = None,
        search: str | None = None,
        principal: Principal | None = None,
    ) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            scope = await self._scope(session, principal)
            found = await customer_store.listing(
                session,
                limit=limit,
                after_id=after_id,
                manager_login=manager_login,
                search=search,
                scope=scope,
            )
        return [self.view(c, principal) for c in found]

    async def history(
        self, customer_id: int, *, limit: int = 100, principal: Principal | None = None
    ) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            await self._visible(session, customer_id, principal)
            return [
                e.to_json()
                for e in await history(session, Entity.CUSTOMER, customer_id, limit=limit)
            ]

    async def calls(
        self, customer_id: int, *, limit: int = 50, principal: Principal | None = None
    ) -> list[dict[str, Any]]:
        """The customer's most recent calls, newest first (the replay/`cti calls` format); an
        agent gets only the calls they took part in, as everywhere else."""
        async with self._sessions() as session:
            await self._visible(session, customer_id, principal)
            query = (
                select(CallRow)
                .where(CallRow.customer_id == customer_id)
                .order_by(CallRow.started_at.desc(), CallRow.id.desc())
                .limit(limit)
            )
            involving = visible_extensions(principal) if principal is not None else None
            if involving is not None:
                query = query.where(calls_involving(involving))
            return [row_to_record(row).to_json() for row in (await session.scalars(query)).all()]

    async def seen_match(self, match: Match, principal: Principal | None) -> dict[str, Any]:
        """A lookup's answer as `principal` may see it: with agents_see limiting agents, the
        customers they may not see are left out (the number alone is not a way in)."""
        async with self._sessions() as session:
            scope = await self._scope(session, principal)
            if scope is None or match.customer is None:
                return match.to_json()
            ids = [c.customer_id for c in (match.customer, *match.others)]
            found = {c.id: c for c in await customer_store.load(session, ids=ids)}
            seen = [
                c
                for c in (match.customer, *match.others)
                if c.customer_id in found
                and await customer_store.in_scope(session, found[c.customer_id], scope)
            ]
        if not seen:
            return dataclasses.replace(match, customer=None, via=None, others=()).to_json()
        chosen = match.chosen and seen[0] is match.customer
        return dataclasses.replace(
            match, customer=seen[0], others=tuple(seen[1:]), chosen=chosen
        ).to_json()

    async def _scope(
        self, session: AsyncSession, principal: Principal | None
    ) -> access.CustomerScope | None:
        if principal is None:
            return None
        teammates: list[str] = []
        if self._policy.agents_see is access.Visibility.TEAM:
            agents = await agent_store.all_agents(session)
            mine = next((set(a.teams) for a in agents if a.login == principal.login), set())
            teammates = [a.login for a in agents if mine & set(a.teams)]
        return self._policy.scope(principal, teammates)

    async def _visible(
        self, session: AsyncSession, customer_id: int, principal: Principal | None
    ) -> Customer:
        customer = await _customer(session, customer_id)
        scope = await self._scope(session, principal)
        if scope is not None and not await customer_store.in_scope(session, customer, scope):
            raise NotFound(f"no customer with id {customer_id}")
        return customer

    # --- writing ---------------------------------------------------------------------------------

    async def create(
        self,
        body: Mapping[str, Any],
        *,
        actor: str,
        principal: Principal | None = None,
        allow_duplicates: bool = False,
        source: str = "manual",
    ) -> dict[str, Any]:
        """A new customer; `principal` None: a trusted caller (the CLI, the server itself)."""
        return await self._save(
            None,
            body,
            actor=actor,
            partial=False,
            principal=principal,
            allow_duplicates=allow_duplicates,
            source=source,
        )

    async def replace(
        self,
        customer_id: int,
        body: Mapping[str, Any],
        *,
        actor: str,
        principal: Principal | None = None,
        allow_duplicates: bool = False,
    ) -> dict[str, Any]:
        return await self._save(
            customer_id,
            body,
            actor=actor,
            partial=False,
            principal=principal,
            allow_duplicates=allow_duplicates,
        )

    async def patch(
        self,
        customer_id: int,
        body: Mapping[str, Any],
        *,
        actor: str,
        principal: Principal | None = None,
        allow_duplicates: bool = False,
    ) -> dict[str, Any]:
        return await self._save(
            customer_id,
            body,
            actor=actor,
            partial=True,
            principal=principal,
            allow_duplicates=allow_duplicates,
        )

    async def _save(
        self,
        customer_id: int | None,
        body: Mapping[str, Any],
        *,
        actor: str,
        partial: bool,
        principal: Principal | None,
        allow_duplicates: bool,
        source: str = "manual",
    ) -> dict[str, Any]:
        """Create or change a customer, as far as the policy lets `principal`; a number another
        customer has is a `DuplicatePhones` unless `allow_duplicates`."""
        try:
            async with writing(self._sessions) as session:
                old = (
                    await self._visible(session, customer_id, principal)
                    if customer_id is not None
                    else None
                )
                rules = f.Rules(region=self._region, managers=await agent_store.logins(session))
                given = inputs.customer(body, rules, partial=partial)
                new = with_values(old, given.values)
                if old is None:
                    new = dataclasses.replace(new, created_by=actor, source=source)
                if principal is not None:
                    refused = self._policy.refused(
                        principal, old, new, orders_given=bool(given.orders)
                    )
                    if refused:
                        raise NotAllowed(refused[0].reason, errors=refused)
                if new.external_id and new.external_id != (old.external_id if old else None):
                    taken = await customer_store.load(session, external_ids=[new.external_id])
                    if taken:
                        raise Conflict(
                            f"customer {taken[0].id} already has external_id {new.external_id!r}",
                            field="external_id",
                        )
                await self._check_numbers(session, old, new, principal, allow_duplicates)
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
                if old is None or old.audited() != new.audited():
                    await choices.forget(session, dup.numbers_of(old, new))
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
        return await self.get(written.id, principal)

    async def _check_numbers(
        self,
        session: AsyncSession,
        old: Customer | None,
        new: Customer,
        principal: Principal | None,
        allow_duplicates: bool,
    ) -> None:
        """No silent duplicates: a number this card gains that another customer has is refused
        with that customer, unless added anyway; an agent never takes a number from a customer
        someone else manages (it would take that customer's calls too)."""
        gained = dup.gained_numbers(old, new)
        if not gained:
            return
        owners = await customer_store.owners_of(session, [e164 for _, e164 in gained])
        taken = dup.taken_numbers(gained, owners, new.id)
        if not taken:
            return
        refused = dup.captures(principal, taken)
        if refused:
            raise NotAllowed(refused[0].reason, errors=refused)
        if allow_duplicates:
            return
        scope = await self._scope(session, principal)
        existing = []
        for other in {c.id: c for found in taken.values() for c in found}.values():
            if scope is None or await customer_store.in_scope(session, other, scope):
                existing.append({**dup.summary(other), "visible": True})
            else:
                existing.append({"id": other.id, "visible": False})
        raise DuplicatePhones(dup.conflicts(taken), existing=existing)

    async def choose(self, phone: str, customer_id: int, *, actor: str) -> dict[str, Any]:
        """An agent says who is calling from a number several customers share: remembered for
        the number (the pop and routing use it) until a customer with that number changes."""
        if self._directory is None:
            raise InvalidFields([FieldError("phone", "the caller lookup is not running")])
        found = await self._directory.match(phone)
        ids = [c.customer_id for c in (found.customer, *found.others) if c is not None]
        if not found.normalized or not found.ambiguous:
            raise InvalidFields(
                [FieldError("phone", "is not a number several customers share; nothing to choose")]
            )
        if customer_id not in ids:
            raise InvalidFields(
                [
                    FieldError(
                        "customer_id", f"customer {customer_id} does not have {found.normalized}"
                    )
                ]
            )
        async with writing(self._sessions) as session:
            await choices.remember(
                session,
                e164=found.normalized,
                customer_id=customer_id,
                login=actor,
                at=self._clock(),
            )
            await record_changes(session, Entity.CUSTOMER, [customer_id])
        await self._tell_directory()
        return (await self._directory.match(phone)).to_json()

    async def delete(self, customer_id: int, *, actor: str) -> None:
        async with writing(self._sessions) as session:
            customer = await _customer(session, customer_id)
            await customer_store.remove(session, customer, actor=actor, at=self._clock())
            await choices.forget(session, [p.e164 for p in customer.phones])
            await record_changes(session, Entity.CUSTOMER, [customer_id])
        await self._tell_directory()

    async def merge(self, target_id: int, source_id: int, *, actor: str) -> dict[str, Any]:
        """`source` becomes part of `target`: its numbers, orders, calls, callbacks and history
        move; the target's empty fields take the source's values; the source is gone."""
        if target_id == source_id:
            raise InvalidFields([FieldError("from", "is the customer itself")])
        async with writing(self._sessions) as session:
            target = await _customer(session, target_id)
            try:
                source = await _customer(session, source_id)
            except NotFound:
                raise InvalidFields(
                    [FieldError("from", f"no customer with id {source_id}")]
                ) from None
            merged = dup.merged_customer(target, source)
            if len(merged.phones) > f.MAX_PHONES:
                raise InvalidFields(
                    [
                        f.FieldError(
                            "from",
                            f"together the two have more than {f.MAX_PHONES} numbers; "
                            "remove some first",
                        )
                    ]
                )
            await merging.move_belongings(session, source=source_id, target=target_id)
            orders = await customer_store.orders_of(session, [target_id])
            merged = dataclasses.replace(merged, orders=summarize(orders.get(target_id, [])))
            at = self._clock()
            await customer_store.write(
                session, [customer_store.CustomerWrite(target, merged)], actor=actor, at=at
            )
            await write_audit(
                session,
                [
                    AuditEntry(
                        Entity.CUSTOMER,
                        target_id,
                        merged.external_id,
                        Action.MERGE,
                        actor,
                        at,
                        {"merged_from": (None, {"id": source_id, **source.audited()})},
                    )
                ],
            )
            await choices.forget(session, [p.e164 for p in (*target.phones, *source.phones)])
            await record_changes(session, Entity.CUSTOMER, [target_id, source_id])
        await self._tell_directory()
        return await self.get(target_id)

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
            await choices.forget_customers(session, report.touched)
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
            if report.touched and kind is importing.CUSTOMERS:
                async with writing(self._sessions) as session:
                    await choices.forget_customers(session, report.touched)
            await self._tell_directory()
        return report

    async def _tell_directory(self) -> None:
        if self._directory is not None:
            await self._directory.refresh()


async def _customer(session: AsyncSession, customer_id: int | None) -> Customer:
    found = await customer_store.get(session, customer_id) if customer_id is not None else None
    if found is None:
        raise NotFound(f"no customer with id {customer_id}")
    return found


def lead_name(caller_name: str, e164: str) -> str:
    """A lead card's name: the caller ID name when it is a name (not digits, not `<unknown>`)."""
    cleaned = " ".join(caller_name.split())[: f.NAME_MAX]
    if not any(ch.isalpha() for ch in cleaned) or cleaned.strip("<>").lower() in _NO_NAME:
        return e164
    return cleaned


#: caller ID names that say there is none
_NO_NAME = frozenset({"unknown", "anonymous", "restricted", "private", "unavailable", "withheld"})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


__all__ = [
    "AUTO_ACTOR",
    "BULK_MAX",
    "lead_name",
    "AgentService",
    "CustomerService",
    "DirectoryServices",
    "effective_timezone",
]
