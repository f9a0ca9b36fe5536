"""CSV exports neutralize formula injection: caller names and numbers are attacker-controlled."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.exports.csv import safe_cell, to_csv

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def test_formula_cells_become_text() -> None:
    assert safe_cell('=HYPERLINK("http://evil.example","Click")').startswith("'=")
    assert safe_cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert safe_cell("+1+cmd|' /C calc'!A0") == "'+1+cmd|' /C calc'!A0"
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("@SUM(A1:A9)") == "'@SUM(A1:A9)"
    assert safe_cell("\t=1") == "'\t=1"
    assert safe_cell("Иван Петров") == "Иван Петров"
    assert safe_cell(None) == "" and safe_cell(7) == "7" and safe_cell(["101", "102"]) == "101;102"


rows = st.lists(
    st.fixed_dictionaries({"caller": st.text(max_size=30), "caller_name": st.text(max_size=30)}),
    max_size=10,
)


@settings(max_examples=300, deadline=None)
@given(rows)
def test_no_cell_of_an_export_starts_like_a_formula(data: list[dict[str, str]]) -> None:
    text = to_csv(data, ["caller", "caller_name"])
    parsed = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    assert parsed[0] == ["caller", "caller_name"]
    assert len(parsed) == len(data) + 1  # a newline or quote in a name never splits a row
    for row, original in zip(parsed[1:], data, strict=True):
        for cell, key in zip(row, ["caller", "caller_name"], strict=True):
            assert not cell.startswith(TRIGGERS)
            value = original[key]
            assert cell == ("'" + value if value.startswith(TRIGGERS) else value)
