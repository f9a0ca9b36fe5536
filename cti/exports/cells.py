"""What one exported cell holds: numbers as numbers, times in the office's zone, words in the
reader's language. Shared by the CSV and the XLSX writers so that both say the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cti.exports.headers import title, word

#: the languages an export is written in
LANGUAGES = ("ru", "en")

#: columns that hold a fraction (0.8 = 80%): a spreadsheet shows them as percentages
FRACTIONS = frozenset(
    {
        "service_level",
        "service_level_answered",
        "missed_rate",
        "abandon_rate",
        "answer_rate",
        "callbacks_within_sla",
        "callbacks_on_time",
    }
)

#: columns that hold a calendar date (the period's bounds, a day of a breakdown)
DATES = frozenset({"from", "to", "day"})

Cell = str | int | float | datetime | date | None


@dataclass(frozen=True, slots=True)
class ExportStyle:
    """How an export is written for its reader: language ("ru" or "en") and office time zone."""

    lang: str = "en"
    zone: ZoneInfo = ZoneInfo("UTC")

    @property
    def separator(self) -> str:
        """Russian spreadsheets split CSV on `;` (the comma is their decimal mark)."""
        return ";" if self.lang == "ru" else ","

    @property
    def decimal(self) -> str:
        return "," if self.lang == "ru" else "."

    def title(self, column: str) -> str:
        return title(column, self.lang)


def pick_language(asked: str | None, accept_language: str | None, default: str) -> str:
    """`?lang=` if given, else the first of Accept-Language we speak, else `default`."""
    if asked:
        return asked
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return default


def typed(column: str, value: Any, style: ExportStyle) -> Cell:
    """The cell `value` becomes: None empty, bool a word, lists joined, times in office time
    (naive: a spreadsheet has no zones), ISO dates as dates, numbers kept numbers."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return ("да" if value else "нет") if style.lang == "ru" else ("yes" if value else "no")
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return _office(value, style.zone)
    if isinstance(value, date):
        return value
    text = str(value)
    if column.endswith("_at"):
        try:
            return _office(datetime.fromisoformat(text.replace("Z", "+00:00")), style.zone)
        except ValueError:
            return text
    if column in DATES:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return text
    return word(column, text, style.lang)


def _office(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None:  # stored times without a zone are UTC
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)
