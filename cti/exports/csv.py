"""CSV that a spreadsheet opens into the right columns: the reader's separator and decimal mark,
office time, titled columns, UTF-8 with a BOM (Excel then shows Cyrillic right).

Caller IDs and names are attacker-controlled, so a text cell that starts like a formula (=, +, -,
@, tab, CR) is prefixed with an apostrophe and shown as text; a phone number (+7 916 ...) is data,
not a formula, and is written as it is."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from cti.exports.cells import Cell, ExportStyle, typed

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: +7 916 123-45-67, +7 (916) 123 45 67: digits, spaces, dashes and brackets after a plus
_PHONE = re.compile(r"\+?[0-9][0-9 ()\-]*")


def safe_text(text: str) -> str:
    """`text` defused: a would-be formula gets an apostrophe, a phone number does not."""
    if text.startswith(_FORMULA_START) and not _PHONE.fullmatch(text):
        return "'" + text
    return text


def csv_text(cell: Cell, style: ExportStyle) -> str:
    """One typed cell as CSV text in the reader's convention."""
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        text = repr(cell)
        if "e" in text or "E" in text:
            text = f"{cell:.12f}".rstrip("0").rstrip(".")
        return text.replace(".", style.decimal)
    return safe_text(cell)


def to_csv(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    style: ExportStyle | None = None,
) -> str:
    """A CSV document: titled header, then one line per row, in `style` (English, UTC if none)."""
    style = style or ExportStyle()
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=style.separator, lineterminator="\r\n")
    writer.writerow([style.title(column) for column in columns])
    for row in rows:
        writer.writerow(
            [csv_text(typed(column, row.get(column), style), style) for column in columns]
        )
    return out.getvalue()
