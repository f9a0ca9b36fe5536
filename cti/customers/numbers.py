"""Caller IDs to E.164: one number however the PBX or a person wrote it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

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


@dataclass(frozen=True, slots=True)
class Number:
    """A caller ID as the domain reads it."""

    raw: str
    e164: str | None  #: None when withheld, internal or not a phone number
    internal: bool  #: an extension, not an outside number


def is_withheld(raw: str) -> bool:
    return raw.strip().strip('"').lower() in _NO_NUMBER


@lru_cache(maxsize=65536)
def normalize(raw: str, region: str = "RU", max_extension_digits: int = 6) -> Number:
    """E.164 of a caller ID: `8 (916) 123-45-67`, `+7 916 123 45 67`, `79161234567` and
    `9161234567` are all `+79161234567` in region RU. Short digit strings are extensions."""
    text = raw.strip().strip('"')
    if text.lower() in _NO_NUMBER:
        return Number(raw, None, False)
    compact = _JUNK.sub("", text)
    if compact.startswith("00") and compact[2:].isdigit():
        compact = "+" + compact[2:]
    digits = compact[1:] if compact.startswith("+") else compact
    if not (digits.isascii() and digits.isdigit()):  # "²" and "٣" are isdigit() too
        return Number(raw, None, False)
    if not compact.startswith("+") and len(digits) <= max_extension_digits:
        return Number(raw, None, True)
    for candidate, reg in ((compact, region), ("+" + digits, None)):
        try:
            parsed = phonenumbers.parse(candidate, reg)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed) and _E164.fullmatch(
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        ):  # phonenumbers accepts some 16-digit numbers; E.164 ends at 15
            return Number(
                raw, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), False
            )
    # Not a number phonenumbers knows (a new range, a test number): keep the digits we have
    # in E.164 shape when they already carry a country code, else give up on normalizing.
    if compact.startswith("+") and 8 <= len(digits) <= 15 and not digits.startswith("0"):
        return Number(raw, compact, False)
    return Number(raw, None, False)
