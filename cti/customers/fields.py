"""What a valid customer, order or agent field is: one rule per field, for CSV rows and API bodies."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from cti.customers.model import Phone, Role
from cti.customers.numbers import InvalidNumber, parse_phone

NAME_MAX = 200
COMPANY_MAX = 200
EXTERNAL_ID_MAX = 128
URL_MAX = 2000
ORDER_NUMBER_MAX = 64
STATUS_MAX = 32
MAX_PHONES = 20
MAX_TEAMS = 20
#: an amount above this is surely a typo (or an overflow in the making)
AMOUNT_MAX = Decimal("1000000000000")

_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_EXTENSION = re.compile(r"[0-9]{1,10}")
_DEVICE = re.compile(r"[A-Za-z][A-Za-z0-9]*/[^\s/][^\s]{0,62}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRUE = {"1", "true", "yes", "y", "да", "д", "+", "vip"}
_FALSE = {"", "0", "false", "no", "n", "нет", "н", "-"}
_LIST_SPLIT = re.compile(r"[;,\n]")


class FieldError(ValueError):
    """A field's value is not acceptable; `field` names it, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """IANA zones this machine knows (from the system tz database)."""
    return frozenset(available_timezones())


@dataclass(frozen=True)
class Rules:
    """What validation needs to know beyond the value: region, agents, zones."""

    region: str = "RU"
    #: logins a responsible manager may be; None: not checked here
    managers: Collection[str] | None = None
    zones: frozenset[str] = field(default_factory=known_zones)


def text(name: str, value: str | None, *, max_len: int, required: bool = False) -> str:
    """A line of text: runs of whitespace (line breaks too) become one space; no control
    characters; at most max_len characters."""
    cleaned = " ".join((value or "").split())
    if required and not cleaned:
        raise FieldError(name, "is required")
    if len(cleaned) > max_len:
        raise FieldError(name, f"is longer than {max_len} characters")
    if _CONTROL.search(cleaned):
        raise FieldError(name, "contains control characters")
    if not _encodable(cleaned):
        raise FieldError(name, "is not valid Unicode text")
    return cleaned


def _encodable(value: str) -> bool:
    """No lone surrogates (JSON's \\ud800 escapes): they cannot be stored as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def optional_text(name: str, value: str | None, *, max_len: int) -> str | None:
    return text(name, value, max_len=max_len) or None


def phones(values: Iterable[str], region: str, name: str = "phones") -> tuple[Phone, ...]:
    """Phones in any format, to E.164 (duplicates dropped); the first bad one is the error."""
    found: dict[str, Phone] = {}
    for raw in values:
        if not raw.strip():
            continue
        try:
            parsed = parse_phone(raw, region)
        except InvalidNumber as exc:
            raise FieldError(name, str(exc)) from None
        found.setdefault(parsed.e164, Phone(parsed.e164, raw.strip(), parsed.nsn, parsed.valid))
    if len(found) > MAX_PHONES:
        raise FieldError(name, f"more than {MAX_PHONES} numbers")
    return tuple(found.values())


def split_list(value: str) -> list[str]:
    """`a; b, c` -> [a, b, c]: lists in one CSV cell."""
    return [part.strip() for part in _LIST_SPLIT.split(value) if part.strip()]


def flag(name: str, value: str | bool | None) -> bool:
    if isinstance(value, bool):
        return value
    cleaned = (value or "").strip().lower()
    if cleaned in _TRUE:
        return True
    if cleaned in _FALSE:
        return False
    raise FieldError(name, f"{value!r} is not yes/no (use 1 or 0, true or false)")


def timezone(value: str | None, zones: Collection[str], name: str = "timezone") -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        return None
    if cleaned in zones:
        return cleaned
    by_case = {z.lower(): z for z in zones}
    if cleaned.lower() in by_case:
        return by_case[cleaned.lower()]
    raise FieldError(name, f"{cleaned!r} is not an IANA time zone (e.g. Europe/Moscow)")


def manager(value: str | None, managers: Collection[str] | None) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        return None
    if managers is not None and cleaned not in managers:
        raise FieldError("manager_login", f"no agent with login {cleaned!r}")
    return cleaned


def url(value: str | None, name: str = "crm_url") -> str | None:
    cleaned = text(name, value, max_len=URL_MAX)
    if not cleaned:
        return None
    try:
        parts = urlsplit(cleaned)
    except ValueError:  # "http://[::1" and the like
        raise FieldError(name, f"{cleaned!r} is not an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FieldError(name, f"{cleaned!r} is not an http(s) URL")
    return cleaned


def login(value: str | None, name: str = "login") -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise FieldError(name, "is required")
    if not _LOGIN.fullmatch(cleaned):
        raise FieldError(name, f"{cleaned!r}: use letters, digits and . _ @ - (at most 64)")
    return cleaned


#: what agents may write about a customer at most
NOTES_MAX = 4000


def notes(value: str | None) -> str:
    """Free text that keeps its lines (CRLF read as LF); no other control characters."""
    cleaned = "\n".join(line.rstrip() for line in (value or "").replace("\r\n", "\n").split("\n"))
    cleaned = cleaned.strip()
    if len(cleaned) > NOTES_MAX:
        raise FieldError("notes", f"is longer than {NOTES_MAX} characters")
    if _CONTROL.search(cleaned.replace("\n", " ")):
        raise FieldError("notes", "contains control characters")
    if not _encodable(cleaned):
        raise FieldError("notes", "is not valid Unicode text")
    return cleaned


def role(value: str | None) -> Role:
    cleaned = (value or "").strip().lower() or Role.AGENT.value
    try:
        return Role(cleaned)
    except ValueError:
        raise FieldError("role", f"{value!r} is not one of agent, supervisor, admin") from None


def extension(value: str | None, *, role: Role = Role.AGENT) -> str:
    """The desk phone's extension; supervisors and administrators may have none (empty)."""
    cleaned = (value or "").strip()
    if not cleaned and role is not Role.AGENT:
        return ""
    if not _EXTENSION.fullmatch(cleaned):
        raise FieldError("extension", f"{cleaned!r} is not an extension (digits, e.g. 101)")
    return cleaned


def device(value: str | None, ext: str) -> str:
    """The phone's channel (`PJSIP/101`); empty means PJSIP/<extension> (none without one)."""
    cleaned = (value or "").strip() or (f"PJSIP/{ext}" if ext else "")
    if not cleaned:
        return ""
    if not _DEVICE.fullmatch(cleaned):
        raise FieldError("device", f"{cleaned!r} is not a device such as PJSIP/101 or SIP/101")
    return cleaned


def mobile(value: str | None, region: str) -> str | None:
    if not (value or "").strip():
        return None
    (phone,) = phones([value or ""], region, name="mobile")
    return phone.e164


def teams(values: Iterable[str]) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(text("teams", v, max_len=64) for v in values if v.strip()))
    if len(found) > MAX_TEAMS:
        raise FieldError("teams", f"more than {MAX_TEAMS} teams")
    return found


def whole(name: str, value: str | int | None, *, low: int, high: int, default: int) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise FieldError(name, f"{value!r} is not a whole number")
    try:
        number = int(value.strip()) if isinstance(value, str) else int(value)
    except ValueError:
        raise FieldError(name, f"{value!r} is not a whole number") from None
    if not low <= number <= high:
        raise FieldError(name, f"must be from {low} to {high}")
    return number


def amount(value: str | int | float | None, name: str = "amount") -> Decimal:
    """`1234.50`, `1234,50` and `1 234,50` (Russian Excel) are all 1234.50; two decimals at most."""
    if isinstance(value, bool) or value is None:
        raise FieldError(name, "is required")
    cleaned = str(value).strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise FieldError(name, f"{value!r} is not an amount (e.g. 1234.50)") from None
    if not number.is_finite() or number < 0 or number > AMOUNT_MAX:
        raise FieldError(name, f"{value!r} is not an amount from 0 to {AMOUNT_MAX}")
    if number != number.quantize(Decimal("0.01")):
        raise FieldError(name, f"{value!r} has more than two decimals")
    return number.quantize(Decimal("0.01"))


def currency(value: str | None) -> str:
    cleaned = (value or "").strip().upper()
    if not _CURRENCY.fullmatch(cleaned):
        raise FieldError("currency", f"{value!r} is not an ISO 4217 code (e.g. RUB, EUR)")
    return cleaned


def order_date(value: str | None, name: str = "date") -> date:
    """ISO `2026-11-20` or Russian `20.11.2026`; a time of day, if any, is dropped."""
    cleaned = (value or "").strip()
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(cleaned[:10], pattern).date()
        except ValueError:
            continue
    raise FieldError(name, f"{value!r} is not a date (2026-11-20 or 20.11.2026)")


__all__ = [
    "FieldError",
    "Rules",
    "amount",
    "currency",
    "device",
    "extension",
    "flag",
    "known_zones",
    "login",
    "manager",
    "mobile",
    "optional_text",
    "order_date",
    "phones",
    "role",
    "split_list",
    "teams",
    "text",
    "timezone",
    "url",
    "whole",
]
