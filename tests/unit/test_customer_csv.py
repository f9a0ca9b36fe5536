"""CSV files to validated rows and the per-row report (cti.customers.importing), without a database."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from cti.customers import fields, importing
from cti.customers.importing import AGENTS, CUSTOMERS, ORDERS, FileError, read_table, validate_rows

RULES = fields.Rules(region="RU", managers={"ivanova"})


def rows(kind: importing.Kind, text: str, rules: fields.Rules = RULES):  # type: ignore[no-untyped-def]
    raw = text.encode("utf-8")
    lines = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="")
    table = read_table(lines, known=kind.columns, required=kind.required)
    return validate_rows(kind, list(table.records), rules)


def test_comma_file_with_every_column() -> None:
    good, bad = rows(
        CUSTOMERS,
        "external_id,name,company,phones,vip,timezone,manager_login,crm_url\n"
        'c1,Иван,"ООО ""Ромашка""","8 (916) 123-45-67; +7 495 123 45 67",1,Asia/Yekaterinburg,ivanova,https://crm/c1\n',
    )
    assert bad == []
    (c,) = good
    assert c.row == 2 and c.external_id == "c1"
    assert c.values["company"] == 'ООО "Ромашка"'
    assert [p.e164 for p in c.values["phones"]] == ["+79161234567", "+74951234567"]
    assert c.values["vip"] is True and c.values["timezone"] == "Asia/Yekaterinburg"


@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_russian_excel_semicolons_with_or_without_bom(bom: str) -> None:
    good, bad = rows(
        CUSTOMERS,
        bom
        + "external_id;name;company;phones;vip\r\nc1;Иван;Уютный дом;8 916 123-45-67, 8 903 111 22 33;да\r\n",
    )
    assert bad == []
    assert [p.e164 for p in good[0].values["phones"]] == ["+79161234567", "+79031112233"]
    assert good[0].values["vip"] is True


def test_columns_left_out_are_left_alone() -> None:
    good, _ = rows(CUSTOMERS, "external_id,name\nc1,Иван\n")
    assert set(good[0].values) == {"external_id", "name"}


def test_each_bad_row_is_reported_with_its_row_and_field() -> None:
    good, bad = rows(
        CUSTOMERS,
        "external_id,name,phones,vip,timezone,manager_login,crm_url\n"
        "c1,Ok,89161234567,0,,,\n"
        ",No id,,0,,,\n"  # row 3
        "c3,,,0,,,\n"  # row 4
        "c4,Short,12,0,,,\n"
        "c5,Letters,call me,0,,,\n"
        "c6,Vip,,maybe,,,\n"
        "c7,Zone,,0,Mars/Olympus,,\n"
        "c8,Manager,,0,,nobody,\n"
        "c9,Link,,0,,,ftp://x\n"
        "\n"  # a blank line is skipped but keeps the numbering
        "c10,Ok too,+44 20 7123 4567,0,,,\n",
    )
    assert [c.external_id for c in good] == ["c1", "c10"]
    assert [(e.row, e.field) for e in bad] == [
        (3, "external_id"),
        (4, "name"),
        (5, "phones"),
        (6, "phones"),
        (7, "vip"),
        (8, "timezone"),
        (9, "manager_login"),
        (10, "crm_url"),
    ]
    assert good[1].row == 12
    assert all(e.reason for e in bad)


def test_a_quoted_cell_may_span_lines_and_rows_count_records() -> None:
    good, bad = rows(
        CUSTOMERS, 'external_id,name,company\nc1,Иван,"line one\nline two"\nc2,Анна,x\n'
    )
    assert bad == [] and [c.row for c in good] == [2, 3]
    assert good[0].values["company"] == "line one line two"


def test_too_many_cells_is_a_row_error() -> None:
    _, bad = rows(CUSTOMERS, "external_id,name\nc1,Иван,extra\nc2,Анна,\n")
    assert [(e.row, e.field) for e in bad] == [(2, "")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("hello world\nc1\n", "not a header"),
        ("external_id,name,phone\nc1,x,1\n", "unknown column(s) 'phone'"),
        ("name,phones\nx,1\n", "lacks the column(s) external_id"),
        ("external_id,name,name\n", "appear twice"),
    ],
)
def test_file_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(FileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rows(CUSTOMERS, text)


def test_duplicates_in_a_file_keep_the_first() -> None:
    good, _ = rows(CUSTOMERS, "external_id,name\nc1,First\nc2,Other\nc1,Second\n")
    kept, dupes = importing.Deduplicator(CUSTOMERS)(good)
    assert [c.values["name"] for c in kept] == ["First", "Other"]
    assert [(e.row, e.field) for e in dupes] == [(4, "external_id")]
    assert "row 2" in dupes[0].reason


def test_orders_with_russian_decimal_commas_and_dates() -> None:
    good, bad = rows(
        ORDERS,
        "external_id;order_number;date;status;amount;currency\n"
        "c1;A-1;2026-11-20;paid;1234.50;RUB\n"
        'c1;A-2;20.11.2026;new;"1 234,50";rub\n'
        "c1;A-3;yesterday;new;10;RUB\n"
        "c1;A-4;2026-11-20;new;-5;RUB\n"
        "c1;A-5;2026-11-20;new;1.234;RUB\n"
        "c1;A-6;2026-11-20;new;10;rubles\n",
    )
    assert [o.order.amount for o in good] == [Decimal("1234.50"), Decimal("1234.50")]
    assert good[1].order.date.isoformat() == "2026-11-20" and good[1].order.currency == "RUB"
    assert [(e.row, e.field) for e in bad] == [
        (4, "date"),
        (5, "amount"),
        (6, "amount"),
        (7, "currency"),
    ]


def test_agents() -> None:
    good, bad = rows(
        AGENTS,
        "login,name,role,extension,device,mobile,teams,seniority,max_calls\n"
        "ivanova,Мария,supervisor,101,,8 916 000-00-01,sales; vip,5,2\n"
        "x y,Bad login,agent,102,,,,,\n"
        "petrov,Пётр,boss,103,,,,,\n"
        "sidorov,Сидоров,agent,10a,,,,,\n"
        "orlov,Орлов,agent,104,PJSIP 104,,,,\n"
        "kim,Ким,agent,105,,,,,0\n",
    )
    (a,) = good
    assert a.values["device"] == "PJSIP/101" and a.values["mobile"] == "+79160000001"
    assert a.values["teams"] == ("sales", "vip") and a.values["max_calls"] == 2
    assert [(e.row, e.field) for e in bad] == [
        (3, "login"),
        (4, "role"),
        (5, "extension"),
        (6, "device"),
        (7, "max_calls"),
    ]
