"""The time zone a phone number lives in, when the number tells it unambiguously."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones


@lru_cache(maxsize=65536)
def number_timezone(e164: str, region: str = "RU") -> str | None:
    """IANA zone of an E.164 number if phonenumbers knows exactly one (a Moscow landline), else
    None (a Russian mobile could be anywhere from Kaliningrad to Kamchatka)."""
    try:
        parsed = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in number_zones.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    if len(zones) != 1:
        return None
    try:
        ZoneInfo(zones[0])
    except ZoneInfoNotFoundError:
        return None
    return zones[0]
