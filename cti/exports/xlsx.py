"""XLSX exports with typed cells: numbers, office times and dates a spreadsheet can sum and sort;
text stays text (never a formula, whatever a caller ID says)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from cti.exports.cells import FRACTIONS, ExportStyle, typed

_FORMATS = {datetime: "yyyy-mm-dd hh:mm:ss", date: "yyyy-mm-dd"}


def to_xlsx(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    style: ExportStyle | None = None,
    *,
    sheet: str = "cti",
) -> bytes:
    """One worksheet: a bold titled header, then one typed row per row."""
    style = style or ExportStyle()
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet[:31])
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(ws, value=style.title(column))
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for row in rows:
        ws.append([_cell(ws, column, typed(column, row.get(column), style)) for column in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(ws: Any, column: str, value: Any) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl takes "=..." for a formula: a caller ID is never one
    elif isinstance(value, datetime | date):
        cell.number_format = _FORMATS[datetime if isinstance(value, datetime) else date]
    elif column in FRACTIONS and isinstance(value, float | int):
        cell.number_format = "0.0%"
    return cell
