"""Caller ID to customer: the rules, as pure functions over the candidates a directory found.

1. The caller ID is read (`numbers.read_caller`): withheld, an extension, a short service
   number or garbage never match a customer.
2. Exact E.164: every customer with this number.
3. Only if nobody has the exact number, the fallback on the national significant number (the
   digits after the country code): customers with a phone whose NSN is one the caller's digits
   may stand for, provided the caller's number or the stored one is a number phonenumbers does
   not know. Two valid numbers that differ only in the country code (+1 916 123 4567 and
   +7 916 123 4567) are different people; `+89161234567` (a trunk that put `+` before a
   national number) is the customer with +7 916 123 45 67.
4. Several customers: the one an agent picked for this number (until a customer with it
   changes), else the one with the most recent activity (last change or call), ties to the
   newest customer (highest id); the others are reported as candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from cti.customers.model import Candidate, Match, MatchedBy
from cti.customers.numbers import CallerNumber, NumberKind

#: candidates reported beside the match at most (a switchboard number may be on hundreds)
MAX_CANDIDATES = 10


def ranked(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Most recent activity first, then the newest customer; each customer once."""
    unique = {c.customer_id: c for c in candidates}
    return sorted(unique.values(), key=lambda c: (-c.activity, -c.customer_id))


def national_allowed(number: CallerNumber, stored_valid: bool) -> bool:
    """May a national-number match stand? Not between two numbers phonenumbers both knows."""
    return not (number.valid and stored_valid)


def searches_directory(number: CallerNumber) -> bool:
    """Does this caller ID need a directory search at all?"""
    return number.kind in (NumberKind.EXTERNAL, NumberKind.INVALID) and bool(
        number.e164 or number.national
    )


def decide(
    number: CallerNumber,
    *,
    exact: Sequence[Candidate] = (),
    national: Sequence[tuple[Candidate, bool]] = (),
    agent: str | None = None,
) -> Match:
    """The match for `number` given the customers with its exact E.164 (`exact`) and those
    with one of its national significant numbers (`national`: candidate, stored number valid).
    `agent`: the login of the agent whose extension the number is, if any."""
    if number.kind is NumberKind.INTERNAL:
        return Match(number.raw, None, number.kind.value, agent=agent)
    found, via = ranked(exact), MatchedBy.E164
    if not found:
        found = ranked(c for c, valid in national if national_allowed(number, valid))
        via = MatchedBy.NATIONAL_NUMBER
    if not found:
        return Match(number.raw, number.e164, number.kind.value)
    return Match(
        number.raw,
        number.e164,
        number.kind.value,
        customer=found[0],
        via=via,
        others=tuple(found[1 : 1 + MAX_CANDIDATES]),
    )


def prefer(match: Match, chosen: int | None) -> Match:
    """An agent picked `chosen` for this shared number: it is the match, the others stay
    candidates. A choice of a customer who no longer has the number changes nothing."""
    if chosen is None or match.customer is None or not match.others:
        return match
    if match.customer.customer_id == chosen:
        return match
    picked = next((c for c in match.others if c.customer_id == chosen), None)
    if picked is None:
        return match
    rest = (match.customer, *(c for c in match.others if c.customer_id != chosen))
    return replace(match, customer=picked, others=rest, chosen=True)


__all__ = ["MAX_CANDIDATES", "decide", "prefer", "national_allowed", "ranked", "searches_directory"]
