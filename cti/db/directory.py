"""Agents and customers: the demo seed and the caller lookup behind a screen-pop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db.models import Agent, Customer, CustomerPhone


@dataclass(frozen=True)
class DemoAgent:
    login: str
    name: str
    extension: str
    role: str = "agent"

    @property
    def device(self) -> str:
        return f"PJSIP/{self.extension}"


@dataclass(frozen=True)
class DemoCustomer:
    external_id: str
    name: str
    company: str
    phones: tuple[tuple[str, str], ...]  #: (E.164, as typed)
    vip: bool = False
    timezone: str | None = "Europe/Moscow"
    manager_login: str | None = None

    @property
    def crm_url(self) -> str:
        return f"https://crm.example.com/customers/{self.external_id}"


DEMO_AGENTS: tuple[DemoAgent, ...] = (
    DemoAgent("101", "Ivan Petrov", "101"),
    DemoAgent("102", "Maria Sidorova", "102"),
    DemoAgent("103", "Oleg Smirnov", "103"),
    DemoAgent("199", "Duty Operator", "199"),
)

DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        "demo-1",
        "Иван Сергеевич Кузнецов",
        "Уютный дом",
        (("+79161234567", "8 (916) 123-45-67"),),
        vip=True,
        manager_login="101",
    ),
    DemoCustomer(
        "demo-2",
        "Анна Викторовна Белова",
        "СтройМаркет",
        (("+79031112233", "+7 903 111-22-33"),),
        manager_login="102",
    ),
    DemoCustomer(
        "demo-3",
        "Пётр Алексеевич Волков",
        "Северный ветер",
        (("+79165550101", "8 916 555-01-01"), ("+79165550102", "8 916 555-01-02")),
        manager_login="103",
    ),
    DemoCustomer(
        "demo-4",
        "Елена Дмитриевна Орлова",
        "Уральские самоцветы",
        (("+79261112233", "89261112233"),),
        timezone="Asia/Yekaterinburg",
    ),
)


def _insert_ignore(
    dialect_name: str, model: Any, rows: list[dict[str, Any]], keys: list[str]
) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO NOTHING for SQLite or PostgreSQL."""
    if dialect_name == "postgresql":
        return postgresql.insert(model).values(rows).on_conflict_do_nothing(index_elements=keys)
    if dialect_name == "sqlite":
        return sqlite_dialect.insert(model).values(rows).on_conflict_do_nothing(index_elements=keys)
    raise NotImplementedError(
        f"seeding is implemented for sqlite and postgresql, not {dialect_name}"
    )


async def seed_demo(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """Insert the demo agents and customers, skipping any already there (safe to run again)."""
    async with session_factory() as session, session.begin():
        dialect = session.get_bind().dialect.name
        agents = [
            {
                "login": a.login,
                "name": a.name,
                "role": a.role,
                "extension": a.extension,
                "device": a.device,
            }
            for a in DEMO_AGENTS
        ]
        await session.execute(_insert_ignore(dialect, Agent, agents, ["login"]))
        customers = [
            {
                "external_id": c.external_id,
                "name": c.name,
                "company": c.company,
                "vip": c.vip,
                "timezone": c.timezone,
                "manager_login": c.manager_login,
                "crm_url": c.crm_url,
            }
            for c in DEMO_CUSTOMERS
        ]
        await session.execute(_insert_ignore(dialect, Customer, customers, ["external_id"]))
        wanted = [c.external_id for c in DEMO_CUSTOMERS]
        found = await session.execute(
            select(Customer.external_id, Customer.id).where(Customer.external_id.in_(wanted))
        )
        ids = {external_id: customer_id for external_id, customer_id in found}
        phones = [
            # every demo number is Russian: the national number follows "+7"
            {"customer_id": ids[c.external_id], "e164": e164, "raw": raw, "nsn": e164[2:]}
            for c in DEMO_CUSTOMERS
            for e164, raw in c.phones
        ]
        await session.execute(
            _insert_ignore(dialect, CustomerPhone, phones, ["customer_id", "e164"])
        )


async def find_customer_by_e164(
    session_factory: async_sessionmaker[AsyncSession], e164: str
) -> dict[str, Any] | None:
    """The customer with this phone number, or None; of several, the one the caller matching
    picks (most recent activity, then the newest).

    Keys: name, company, vip, manager_login, and also customer_id, timezone (the customer's own,
    else the one zone all their numbers agree on, else None: the office's), crm_url.
    """
    from cti.customers.fields import known_zones
    from cti.customers.matching import ranked
    from cti.customers.numbers import timezone_from_numbers
    from cti.db import customers, lookup

    if not e164:
        return None
    async with session_factory() as session:
        found = ranked(await lookup.exact_candidates(await session.connection(), e164))
        customer = await customers.get(session, found[0].customer_id) if found else None
    if customer is None:
        return None
    zone = customer.timezone or timezone_from_numbers(
        [p.e164 for p in customer.phones], known_zones()
    )
    return {
        "name": customer.name,
        "company": customer.company,
        "vip": bool(customer.vip),
        "manager_login": customer.manager_login,
        "customer_id": customer.id,
        "timezone": zone,
        "crm_url": customer.crm_url,
    }


__all__ = ["DEMO_AGENTS", "DEMO_CUSTOMERS", "find_customer_by_e164", "seed_demo"]
