"""DID rules: the number the customer dialled selects the team (distribution by channel)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from cti.customers.numbers import normalize


class RuleError(ValueError):
    """A DID rule that cannot be read; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class DidRule:
    """`pattern=team`: calls to a DID matching `pattern` go to `team`'s agents."""

    pattern: str  #: a number in any format, or a glob over its digits (7495*)
    team: str
    digits: str  #: the pattern's digits (E.164 without '+', when it is a number)

    @property
    def text(self) -> str:
        return f"{self.pattern}={self.team}"

    def matches(self, did_digits: str) -> bool:
        if any(ch in self.digits for ch in "*?["):
            return fnmatchcase(did_digits, self.digits)
        return did_digits == self.digits


@dataclass(frozen=True, slots=True)
class DidRules:
    """The rules in order (the first match wins) and the team of every other DID."""

    rules: tuple[DidRule, ...] = ()
    default_team: str = ""  #: "" = every agent
    region: str = "RU"

    def match(self, did: str) -> DidRule | None:
        if not self.rules or not did:
            return None
        digits = did_digits(did, self.region)
        raw = "".join(ch for ch in did if ch.isdigit())
        for rule in self.rules:
            if rule.matches(digits) or (raw and raw != digits and rule.matches(raw)):
                return rule
        return None


def did_digits(number: str, region: str) -> str:
    """The digits a rule compares: E.164 without '+' for phone numbers, else the digits."""
    e164 = normalize(number, region).e164
    if e164:
        return e164[1:]
    return "".join(ch for ch in number if ch.isdigit())


def parse_rules(entries: Iterable[str], *, default_team: str = "", region: str = "RU") -> DidRules:
    """Rules from settings: `["74951112233=sales", "8800*=support"]`."""
    rules = []
    for entry in entries:
        pattern, sep, team = entry.partition("=")
        pattern, team = pattern.strip(), team.strip()
        if not sep or not pattern or not team:
            raise RuleError(
                f'DID rule {entry!r} is not NUMBER=TEAM (e.g. "+7 495 111-22-33=sales" or '
                '"7495*=sales")'
            )
        if any(ch in pattern for ch in "*?["):
            digits = "".join(ch for ch in pattern if ch.isdigit() or ch in "*?[]!-")
        else:
            digits = did_digits(pattern, region)
            if not digits:
                raise RuleError(f"DID rule {entry!r}: {pattern!r} has no digits")
        rules.append(DidRule(pattern, team, digits))
    return DidRules(tuple(rules), default_team.strip(), region)
