"""CSV exports: the reader's convention (RU `;` and decimal comma, EN `,` and `.`), office time,
titled columns; formula injection neutralized (caller names are attacker-controlled), phone
numbers left as they are."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.exports.cells import ExportStyle, pick_language, typed
from cti.exports.csv import safe_text, to_csv

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
RU = ExportStyle(lang="ru", zone=ZoneInfo("Europe/Moscow"))
EN = ExportStyle(lang="en", zone=ZoneInfo("Europe/Moscow"))


def test_formula_cells_become_text_and_phone_numbers_stay_as_they_are() -> None:
    assert safe_text('=HYPERLINK("http://evil.example","Click")').startswith("'=")
    assert safe_text("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert safe_text("+1+cmd|' /C calc'!A0") == "'+1+cmd|' /C calc'!A0"
    assert safe_text("-2+3") == "'-2+3"
    assert safe_text("@SUM(A1:A9)") == "'@SUM(A1:A9)"
    assert safe_text("\t=1") == "'\t=1"
    assert safe_text("Иван Петров") == "Иван Петров"
    assert safe_text("+79161234567") == "+79161234567"
    assert safe_text("+7 (916) 123-45-67") == "+7 (916) 123-45-67"


def parse(text: str, delimiter: str) -> list[list[str]]:
    assert text.startswith("\ufeff")  # UTF-8 with a BOM: Excel shows Cyrillic right
    return list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=delimiter))


ROW = {
    "missed_at": "2026-11-25T09:30:00Z",
    "caller": "+79161234567",
    "wait_seconds": 12.5,
    "service_level": 0.769697,
    "agents_rung": ["101", "102"],
    "short_abandon": True,
    "kind": "no_answer",
}


def test_russian_csv_uses_semicolons_decimal_commas_and_office_time() -> None:
    header, row = parse(to_csv([ROW], list(ROW), RU), ";")
    assert header[:4] == ["Время пропуска", "Кто звонил", "Ожидание, с", "Уровень обслуживания"]
    assert row == [
        "2026-11-25 12:30:00",  # 09:30 UTC is 12:30 in Moscow
        "+79161234567",
        "12,5",
        "0,769697",
        "101, 102",
        "да",
        "нет ответа",
    ]


def test_english_csv_uses_commas_and_points() -> None:
    header, row = parse(to_csv([ROW], list(ROW), EN), ",")
    assert header[:3] == ["Missed at", "Caller", "Wait, s"]
    assert row == [
        "2026-11-25 12:30:00",
        "+79161234567",
        "12.5",
        "0.769697",
        "101, 102",
        "yes",
        "no answer",
    ]


def test_cells_are_typed_for_a_spreadsheet() -> None:
    assert typed("missed_at", datetime(2026, 1, 1, 21, 30, tzinfo=UTC), RU) == datetime(
        2026, 1, 2, 0, 30
    )
    assert typed("from", "2026-11-25", RU) == date(2026, 11, 25)
    assert typed("offered", 8, RU) == 8 and typed("average_wait", None, RU) is None
    assert typed("callback_state", "open", RU) == "open"


def test_the_language_comes_from_the_query_then_accept_language_then_the_setting() -> None:
    assert pick_language("en", "ru-RU,ru;q=0.9", "ru") == "en"
    assert pick_language(None, "de-DE, en-GB;q=0.8", "ru") == "en"
    assert pick_language(None, "de-DE", "ru") == "ru"
    assert pick_language(None, None, "en") == "en"


rows = st.lists(
    st.fixed_dictionaries({"caller": st.text(max_size=30), "caller_name": st.text(max_size=30)}),
    max_size=10,
)


@settings(max_examples=300, deadline=None)
@given(rows, st.sampled_from([RU, EN]))
def test_no_text_cell_of_an_export_starts_like_a_formula(
    data: list[dict[str, str]], style: ExportStyle
) -> None:
    parsed = parse(to_csv(data, ["caller", "caller_name"], style), style.separator)
    assert len(parsed) == len(data) + 1  # a newline or quote in a name never splits a row
    for row, original in zip(parsed[1:], data, strict=True):
        for cell, key in zip(row, ["caller", "caller_name"], strict=True):
            value = original[key]
            phone = value[:1] in "+0123456789" and not set(value[1:]) - set("0123456789 ()-")
            if value.startswith(TRIGGERS) and not (phone and value[1:2].isascii()):
                assert cell.startswith("'"), value
            assert cell == value if not value.startswith(TRIGGERS) else cell in (value, "'" + value)


def test_xlsx_cells_are_typed_and_a_formula_stays_text() -> None:
    from openpyxl import load_workbook

    from cti.exports.xlsx import to_xlsx

    row = {**ROW, "caller_name": '=HYPERLINK("http://evil.example")'}
    book = load_workbook(io.BytesIO(to_xlsx([row], list(row), RU)))
    sheet = book.active
    assert sheet is not None
    header, cells = sheet.iter_rows(values_only=True)
    assert header[0] == "Время пропуска"
    assert cells[0] == datetime(2026, 11, 25, 12, 30)
    assert cells[1] == "+79161234567" and cells[2] == 12.5 and cells[3] == 0.769697
    name = sheet.cell(row=2, column=len(row))
    assert name.data_type == "s" and name.value == '=HYPERLINK("http://evil.example")'
