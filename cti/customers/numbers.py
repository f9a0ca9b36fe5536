"""Caller IDs to E.164: one number however the PBX or a person wrote it."""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as number_timezones

#: caller IDs that mean "no number": withheld, anonymous, unknown
_NO_NUMBER = {
    "",
    "<unknown>",
    "unknown",
    "anonymous",
    "restricted",
    "private",
    "unavailable",
    "withheld",
}
_JUNK = re.compile(r"[\s\-().\u00a0]")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")

#: the shortest national significant number the fallback compares (shorter ones collide)
MIN_FALLBACK_DIGITS = 7


@dataclass(frozen=True, slots=True)
class Number:
    """A caller ID as the domain reads it."""

    raw: str
    e164: str | None  #: None when withheld, internal or not a phone number
    internal: bool  #: an extension, not an outside number


class NumberKind(enum.StrEnum):
    """What a caller ID is, before anyone looks for a customer."""

    EXTERNAL = "external"  #: an outside number, read as E.164
    INTERNAL = "internal"  #: an extension of this PBX (a known agent's, or any short number)
    SERVICE = "service"  #: a short service number of the region (112, 01), not an agent's extension
    WITHHELD = "withheld"  #: no number at all: anonymous, <unknown>, empty
    INVALID = "invalid"  #: letters, garbage, or digits that make no phone number


@dataclass(frozen=True, slots=True)
class CallerNumber:
    """A caller ID read for matching: its kind, E.164 and the keys of the fallback."""

    raw: str
    kind: NumberKind
    e164: str | None  #: set for EXTERNAL numbers (and for INVALID ones written with a +)
    valid: bool  #: phonenumbers knows this number
    #: national significant numbers (digits after the country code) for the fallback: the
    #: number's own for a valid number, every plausible reading for one phonenumbers rejects
    national: tuple[str, ...] = ()

    @property
    def internal(self) -> bool:
        return self.kind is NumberKind.INTERNAL


@dataclass(frozen=True, slots=True)
class ParsedPhone:
    """A customer's phone as stored: E.164 for the exact match, the national significant
    number (digits after the country code) for the fallback."""

    e164: str
    nsn: str
    valid: bool  #: False: kept as written with a country code, phonenumbers does not know it


class InvalidNumber(ValueError):
    """A phone number we cannot store; the message says why in words a person can act on."""


def is_withheld(raw: str) -> bool:
    return raw.strip().strip('"').lower() in _NO_NUMBER


def _compact(raw: str) -> str | None:
    """The number without spaces, dashes and brackets, `00` read as `+`; None: not digits."""
    compact = _JUNK.sub("", raw.strip().strip('"'))
    if compact.startswith("00") and compact[2:].isdigit():
        compact = "+" + compact[2:]
    digits = compact[1:] if compact.startswith("+") else compact
    return compact if digits.isascii() and digits.isdigit() else None


def _valid_parse(compact: str, region: str) -> phonenumbers.PhoneNumber | None:
    """The number as phonenumbers reads it in `region`, else as international; None if invalid."""
    digits = compact.lstrip("+")
    for candidate, reg in ((compact, region), ("+" + digits, None)):
        try:
            parsed = phonenumbers.parse(candidate, reg)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed) and _E164.fullmatch(
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        ):  # phonenumbers accepts some 16-digit numbers; E.164 ends at 15
            return parsed
    return None


def _e164(parsed: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def normalize(raw: str, region: str = "RU", max_extension_digits: int = 6) -> Number:
    """E.164 of a caller ID: `8 (916) 123-45-67`, `+7 916 123 45 67`, `79161234567` and
    `9161234567` are all `+79161234567` in region RU. Short digit strings are extensions."""
    if is_withheld(raw):
        return Number(raw, None, False)
    compact = _compact(raw)
    if compact is None:
        return Number(raw, None, False)
    digits = compact.lstrip("+")
    if not compact.startswith("+") and len(digits) <= max_extension_digits:
        return Number(raw, None, True)
    parsed = _valid_parse(compact, region)
    if parsed is not None:
        return Number(raw, _e164(parsed), False)
    # Not a number phonenumbers knows (a new range, a test number): keep the digits we have
    # in E.164 shape when they already carry a country code, else give up on normalizing.
    if compact.startswith("+") and 8 <= len(digits) <= 15 and not digits.startswith("0"):
        return Number(raw, compact, False)
    return Number(raw, None, False)


def national_keys(compact: str, region: str) -> tuple[str, ...]:
    """National significant numbers a number that phonenumbers does not know may stand for.

    `+89161234567` (a trunk that put `+` before a national number) gives `9161234567`: the
    digits read as a national number of `region` (trunk prefix `8` dropped) and read as
    international (country code dropped), when phonenumbers can parse them at all.
    """
    digits = compact.lstrip("+")
    keys: list[str] = []
    for candidate, reg in ((digits, region), ("+" + digits, None)):
        try:
            parsed = phonenumbers.parse(candidate, reg)
        except phonenumbers.NumberParseException:
            continue
        nsn = phonenumbers.national_significant_number(parsed)
        if len(nsn) >= MIN_FALLBACK_DIGITS and nsn not in keys:
            keys.append(nsn)
    return tuple(keys)


def _is_service_number(digits: str, region: str) -> bool:
    try:
        parsed = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_short_number_for_region(parsed, region))


@lru_cache(maxsize=65536)
def _read(raw: str, region: str, max_extension_digits: int) -> CallerNumber:
    if is_withheld(raw):
        return CallerNumber(raw, NumberKind.WITHHELD, None, False)
    compact = _compact(raw)
    if compact is None:
        return CallerNumber(raw, NumberKind.INVALID, None, False)
    digits = compact.lstrip("+")
    if not compact.startswith("+") and len(digits) <= max_extension_digits:
        kind = NumberKind.SERVICE if _is_service_number(compact, region) else NumberKind.INTERNAL
        return CallerNumber(raw, kind, None, False)
    parsed = _valid_parse(compact, region)
    if parsed is not None:
        nsn = phonenumbers.national_significant_number(parsed)
        return CallerNumber(raw, NumberKind.EXTERNAL, _e164(parsed), True, (nsn,))
    # the same rule as normalize(): digits with a country code are kept as written
    loose = (
        compact
        if compact.startswith("+") and 8 <= len(digits) <= 15 and not digits.startswith("0")
        else None
    )
    kind = NumberKind.EXTERNAL if loose else NumberKind.INVALID
    return CallerNumber(raw, kind, loose, False, national_keys(compact, region))


def read_caller(
    raw: str,
    region: str = "RU",
    *,
    extensions: Collection[str] = (),
    max_extension_digits: int = 6,
) -> CallerNumber:
    """A caller ID read for matching.

    Short digit strings are extensions (INTERNAL), except a short service number of the region
    (112, 01...) that no agent has as an extension (SERVICE). `extensions` are the agents'
    extensions: a known extension is always INTERNAL, even `101`, Russia's fire service.
    """
    read = _read(raw, region, max_extension_digits)
    if read.kind is NumberKind.SERVICE and (_compact(raw) or "") in extensions:
        return CallerNumber(raw, NumberKind.INTERNAL, None, False)
    return read


def parse_phone(raw: str, region: str = "RU") -> ParsedPhone:
    """A customer's phone for storage, or InvalidNumber saying what is wrong with it."""
    text = raw.strip()
    if is_withheld(text) or not text:
        raise InvalidNumber(f"{raw!r} is not a phone number")
    compact = _compact(text)
    if compact is None:
        raise InvalidNumber(f"{raw!r} is not a phone number (only digits, spaces, + - ( ) allowed)")
    digits = compact.lstrip("+")
    if not compact.startswith("+") and len(digits) <= 6:
        raise InvalidNumber(f"{raw!r} is too short for a customer's phone (an extension?)")
    parsed = _valid_parse(compact, region)
    if parsed is not None:
        return ParsedPhone(_e164(parsed), phonenumbers.national_significant_number(parsed), True)
    if compact.startswith("+") and 8 <= len(digits) <= 15 and not digits.startswith("0"):
        keys = national_keys(compact, region)
        return ParsedPhone(compact, keys[-1] if keys else digits, False)
    raise InvalidNumber(
        f"{raw!r} is not a valid number in region {region}; "
        "write it with the country code, e.g. +44 20 7123 4567"
    )


@lru_cache(maxsize=65536)
def zones_of_number(e164: str) -> tuple[str, ...]:
    """IANA time zones phonenumbers gives for a number (several for a mobile of a big country)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = number_timezones.time_zones_for_number(parsed)
    return tuple(z for z in zones if z != number_timezones.UNKNOWN_TIMEZONE)


def timezone_from_numbers(e164s: Iterable[str], known: Collection[str]) -> str | None:
    """The one time zone every number agrees on (`known`: zones this machine has), else None."""
    found: set[str] = set()
    for e164 in e164s:
        zones = zones_of_number(e164)
        if len(zones) != 1:
            return None
        found.add(zones[0])
    if len(found) != 1:
        return None
    (zone,) = found
    return zone if zone in known else None


__all__ = [
    "CallerNumber",
    "InvalidNumber",
    "Number",
    "NumberKind",
    "ParsedPhone",
    "is_withheld",
    "national_keys",
    "normalize",
    "parse_phone",
    "read_caller",
    "timezone_from_numbers",
    "zones_of_number",
]
