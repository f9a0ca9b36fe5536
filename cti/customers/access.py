"""Who may see and change which customer, field by field: pure rules over the server-side Principal.

Supervisors and administrators see every customer and change every field. An agent changes
only the fields of `CustomerPolicy.agent_fields` (by default name, company, phones and notes),
and only on the customers they manage and the cards they created that nobody manages yet; the
responsible manager, VIP flag, time zone, CRM link, external id and orders are for supervisors
and administrators (an agent may name themselves the manager of a card they create). Which
customers an agent sees at all is `agents_see`: all of them, their team's, or their own (those
they manage or created, and those who called them). Deleting, merging and bulk imports are for
supervisors and administrators; agents themselves are configuration: administrators only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cti.auth.policy import may_change_configuration, may_use, sees_everything
from cti.auth.principal import Principal, Scope
from cti.customers.fields import FieldError
from cti.customers.model import CUSTOMER_DEFAULTS, Customer


class Visibility(enum.StrEnum):
    """Which customers an agent sees (the `agents_see` setting)."""

    ALL = "all"  #: every customer
    TEAM = "team"  #: those managed by someone of the agent's teams, and their own
    OWN = "own"  #: those they manage or created, and those who called them


#: every field of a customer the policy rules on, in the order the console shows them
FIELDS: tuple[str, ...] = (
    "name",
    "company",
    "phones",
    "notes",
    "manager_login",
    "vip",
    "timezone",
    "crm_url",
    "external_id",
    "orders",
)

#: what agents may change on their own customers unless the settings say otherwise
AGENT_FIELDS: frozenset[str] = frozenset({"name", "company", "phones", "notes"})


@dataclass(frozen=True, slots=True)
class CustomerScope:
    """The customers an agent sees, as the database filters them (None anywhere: no limit)."""

    login: str  #: cards this login created
    managers: frozenset[str]  #: customers managed by one of these logins
    extensions: frozenset[str]  #: customers whose calls involved one of these phones


@dataclass(frozen=True, slots=True)
class CustomerPolicy:
    """The role x field policy and the agents' visibility, built once from the settings."""

    agent_fields: frozenset[str] = AGENT_FIELDS
    agents_see: Visibility = Visibility.ALL

    @classmethod
    def from_settings(cls, *, agents_see: str, agent_fields: Iterable[str]) -> CustomerPolicy:
        """Raises ValueError naming the setting when a value is not one the policy knows."""
        try:
            visibility = Visibility(agents_see.strip().lower())
        except ValueError:
            raise ValueError(f"agents_see={agents_see!r}: use all, team or own") from None
        fields = frozenset(f.strip() for f in agent_fields if f.strip())
        unknown = sorted(fields - set(FIELDS))
        if unknown:
            raise ValueError(
                f"agent_customer_fields: {', '.join(unknown)} not among {', '.join(FIELDS)}"
            )
        return cls(agent_fields=fields, agents_see=visibility)

    # --- seeing ----------------------------------------------------------------------------------

    def scope(self, principal: Principal, teammates: Iterable[str] = ()) -> CustomerScope | None:
        """None: every customer; else what the agent sees (`teammates`: logins sharing a team)."""
        if sees_everything(principal) or self.agents_see is Visibility.ALL:
            return None
        managers = {principal.login}
        if self.agents_see is Visibility.TEAM:
            managers.update(teammates)
        return CustomerScope(principal.login, frozenset(managers), principal.extensions)

    # --- changing ----------------------------------------------------------------------------------

    def is_theirs(self, principal: Principal, customer: Customer) -> bool:
        """The agent manages the customer, or created the card and nobody manages it yet; a
        lead card made for an unknown caller (source auto) is for whoever completes it."""
        if customer.manager_login is not None:
            return customer.manager_login == principal.login
        if customer.source == "auto":
            return True
        return customer.created_by is not None and customer.created_by == principal.login

    def editable(self, principal: Principal, customer: Customer | None) -> frozenset[str]:
        """The fields this principal may change on `customer` (None: a card being created); a
        read-only token changes nothing."""
        if not may_use(principal, Scope.WRITE):
            return frozenset()
        if sees_everything(principal):
            return frozenset(FIELDS)
        if customer is not None and not self.is_theirs(principal, customer):
            return frozenset()
        return self.agent_fields

    def refused(
        self,
        principal: Principal,
        old: Customer | None,
        new: Customer,
        *,
        orders_given: bool = False,
    ) -> list[FieldError]:
        """One error per field the principal changes but may not (empty: the change may go)."""
        allowed = self.editable(principal, old)
        before: Mapping[str, Any] = old.audited() if old is not None else CUSTOMER_DEFAULTS
        after = new.audited()
        changed = [f for f in FIELDS if f != "orders" and before.get(f) != after.get(f)]
        if orders_given:
            changed.append("orders")
        errors = []
        for name in changed:
            if name in allowed:
                continue
            if name == "manager_login" and old is None and new.manager_login == principal.login:
                continue  # an agent's own new card: they may be its manager
            errors.append(FieldError(name, self._why(principal, old, name)))
        return errors

    def _why(self, principal: Principal, old: Customer | None, name: str) -> str:
        if old is not None and not self.is_theirs(principal, old):
            whose = f"managed by {old.manager_login}" if old.manager_login else "not yours"
            return f"this customer is {whose}: only their manager, supervisors and administrators change it"
        if name == "manager_login":
            return "only supervisors and administrators hand customers over to another manager"
        return f"only supervisors and administrators change {name}"


def may_hand_over(principal: Principal) -> bool:
    """Set or change a customer's responsible manager to someone else."""
    return sees_everything(principal)


def may_manage_customers(principal: Principal) -> bool:
    """Delete and merge customers, upsert them in bulk, import CSV files."""
    return sees_everything(principal)


def may_change_agents(principal: Principal) -> bool:
    return may_change_configuration(principal)


__all__ = [
    "AGENT_FIELDS",
    "FIELDS",
    "CustomerPolicy",
    "CustomerScope",
    "Visibility",
    "may_change_agents",
    "may_hand_over",
    "may_manage_customers",
]
