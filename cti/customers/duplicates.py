"""No silent duplicates, pure: the numbers a card gains that other customers have, which of them
an agent may never take, and what two merged cards become."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cti.auth.policy import sees_everything
from cti.auth.principal import Principal
from cti.customers.fields import FieldError
from cti.customers.model import Customer

#: (index in the card's phones, E.164) -> the other customers that have the number
Taken = dict[tuple[int, str], list[Customer]]


def gained_numbers(old: Customer | None, new: Customer) -> list[tuple[int, str]]:
    """The numbers `new` has that `old` had not, with their index in `new.phones`."""
    had = {p.e164 for p in old.phones} if old is not None else set()
    return [(n, p.e164) for n, p in enumerate(new.phones) if p.e164 not in had]


def taken_numbers(
    gained: Sequence[tuple[int, str]], owners: Mapping[str, Sequence[Customer]], own_id: int | None
) -> Taken:
    """Which gained numbers other customers have (the card itself does not count)."""
    found: Taken = {}
    for n, e164 in gained:
        others = [c for c in owners.get(e164, ()) if c.id != own_id]
        if others:
            found[(n, e164)] = others
    return found


def captures(principal: Principal | None, taken: Taken) -> list[FieldError]:
    """An agent may not take a number from a customer someone else manages: that customer's
    calls would go to them. One error per such number (empty: none, or not an agent)."""
    if principal is None or sees_everything(principal):
        return []
    errors = []
    for (n, e164), others in taken.items():
        guarded = [c for c in others if c.manager_login not in (None, principal.login)]
        if guarded:
            errors.append(
                FieldError(
                    f"phones[{n}]",
                    f"{e164} belongs to a customer managed by {guarded[0].manager_login}; "
                    "ask a supervisor to merge the cards",
                )
            )
    return errors


def conflicts(taken: Taken) -> list[FieldError]:
    return [
        FieldError(f"phones[{n}]", f"{e164} is already a number of another customer")
        for n, e164 in taken
    ]


def summary(customer: Customer) -> dict[str, Any]:
    """What a 409 says about the customer a number belongs to."""
    return {
        "id": customer.id,
        "name": customer.name,
        "company": customer.company,
        "manager_login": customer.manager_login,
        "phones": [p.e164 for p in customer.phones],
    }


def numbers_of(old: Customer | None, new: Customer) -> set[str]:
    """Every number the customer had or has: a pick for any of them is forgotten on a change."""
    before = {p.e164 for p in old.phones} if old is not None else set()
    return before | {p.e164 for p in new.phones}


def merged_customer(target: Customer, source: Customer) -> Customer:
    """The target with the source's numbers added and its empty fields filled from the source;
    VIP if either is; both notes kept whole (a merge loses nothing)."""
    phones = {p.e164: p for p in target.phones}
    for p in source.phones:
        phones.setdefault(p.e164, p)
    return dataclasses.replace(
        target,
        phones=tuple(phones.values()),
        company=target.company or source.company,
        vip=target.vip or source.vip,
        timezone=target.timezone or source.timezone,
        manager_login=target.manager_login or source.manager_login,
        external_id=target.external_id or source.external_id,
        crm_url=target.crm_url or source.crm_url,
        notes="\n\n".join(n for n in (target.notes, source.notes) if n),
    )


__all__ = [
    "Taken",
    "captures",
    "conflicts",
    "gained_numbers",
    "merged_customer",
    "numbers_of",
    "summary",
    "taken_numbers",
]
