"""`cti import` and `cti lookup` as a user runs them: real processes, real files, both databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "api"

#: every test runs several `cti` processes (about a second each to start, more on a busy machine)
pytestmark = pytest.mark.timeout(240)

AGENTS = """login,name,role,extension,device,mobile,teams,seniority,max_calls
ivanova,Мария Иванова,agent,101,PJSIP/101,+7 916 000 00 01,sales;vip,5,2
petrov,Пётр Петров,supervisor,102,,89160000002,sales,10,1
"""

# Russian Excel: semicolons, a BOM, CRLF; one good row per problem the report must name
CUSTOMERS = (
    "\ufeffexternal_id;name;company;phones;vip;timezone;manager_login;crm_url\r\n"
    'c1;Иван Сергеевич Кузнецов;Уютный дом;"8 (916) 123-45-67; +7 495 123-45-67";да;;ivanova;https://crm.example.com/c/1\r\n'
    "c2;Анна Белова;СтройМаркет;+44 20 7123 4567;0;Europe/London;petrov;\r\n"
    "c3;Нет телефона;;12;0;;;\r\n"
    "c4;Не та зона;;+7 903 111-22-33;0;Europe/Londn;;\r\n"
    "c5;Нет менеджера;;+7 903 111-22-44;0;;nobody;\r\n"
    ";Без ключа;;+7 903 111-22-55;0;;;\r\n"
    "c1;Дубль;;;0;;;\r\n"
)
ORDERS = """external_id,order_number,date,status,amount,currency
c1,A-1,2026-11-01,delivered,1000.50,RUB
c1,A-2,20.11.2026,paid,"250,00",RUB
c9,A-3,2026-11-20,paid,1,RUB
"""


def cti(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CTI_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "cti.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def lookup(database_url: str, cwd: Path, phone: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    out = cti(database_url, cwd, "lookup", phone, "--json")
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def lookups(database_url: str, cwd: Path, *phones: str) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    """Several numbers in one `cti lookup`: one JSON object per line."""
    out = cti(database_url, cwd, "lookup", *phones, "--json")
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "agents.csv").write_text(AGENTS, encoding="utf-8")
    (tmp_path / "customers.csv").write_bytes(CUSTOMERS.encode("utf-8"))
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    return tmp_path


def test_import_reports_bad_rows_lands_good_ones_and_is_idempotent(
    database_url: str, files: Path
) -> None:
    agents = cti(database_url, files, "import", "agents", "agents.csv")
    assert agents.returncode == 0, agents.stderr
    assert "2 created" in agents.stdout

    first = cti(database_url, files, "import", "customers", "customers.csv", "--json")
    assert first.returncode == 1, first.stderr  # some rows rejected, the others imported
    report = json.loads(first.stdout)
    assert (
        list(
            Draft202012Validator(
                json.loads((SCHEMAS / "import.report.json").read_text())
            ).iter_errors(report)
        )
        == []
    )
    assert (report["rows"], report["created"], report["rejected"]) == (7, 2, 5)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (4, "phones"),
        (5, "timezone"),
        (6, "manager_login"),
        (7, "external_id"),
        (8, "external_id"),
    ]
    assert "row 2 was kept" in report["errors"][-1]["reason"]

    human = cti(database_url, files, "import", "customers", "customers.csv")
    assert human.returncode == 1
    assert "0 created, 0 updated, 2 unchanged, 5 rejected" in human.stdout
    assert "row 4, phones: '12' is too short" in human.stdout

    # the same file with the bad rows fixed: only those land, the rest is unchanged
    fixed = (
        CUSTOMERS.replace(";12;", ";+7 903 111-22-66;")
        .replace("Europe/Londn", "")
        .replace("nobody", "")
    )
    fixed = fixed.replace(";Без ключа;", "c6;Без ключа;").replace("c1;Дубль;;;0;;;\r\n", "")
    (files / "fixed.csv").write_text(fixed, encoding="utf-8")
    again = cti(database_url, files, "import", "customers", "fixed.csv", "--json")
    assert again.returncode == 0, again.stdout
    assert (json.loads(again.stdout)["created"], json.loads(again.stdout)["unchanged"]) == (4, 2)


def test_lookup_finds_an_imported_customer_in_every_format_and_tells_what_else_a_number_is(
    database_url: str, files: Path
) -> None:
    assert cti(database_url, files, "import", "agents", "agents.csv").returncode == 0
    assert cti(database_url, files, "import", "customers", "customers.csv").returncode == 1
    schema = Draft202012Validator(json.loads((SCHEMAS / "lookup.result.json").read_text()))
    formats = (
        "8 (916) 123-45-67",
        "+7 916 123 45 67",
        "79161234567",
        "9161234567",
        "007 916 123 45 67",
    )
    code, one = lookup(database_url, files, formats[0])  # as a user types it
    code, every = lookups(database_url, files, *formats)  # several numbers, one line each
    assert code == 0 and [m["phone"] for m in every] == list(formats) and every[0] == one
    for phone, found in zip(formats, every, strict=True):
        assert list(schema.iter_errors(found)) == []
        assert (found["name"], found["company"], found["normalized"]) == (
            "Иван Сергеевич Кузнецов",
            "Уютный дом",
            "+79161234567",
        ), phone
        assert (found["internal"], found["ambiguous"], found["candidates"], found["vip"]) == (
            False,
            False,
            [],
            True,
        )
        assert (found["manager_login"], found["matched_by"]) == ("ivanova", "e164")
    human = cti(database_url, files, "lookup", "8 495 123-45-67", "101")  # his second number
    assert human.returncode == 1  # 101 is not a customer
    first, second = human.stdout.splitlines()
    assert (
        first
        == "+74951234567: Иван Сергеевич Кузнецов (Уютный дом), customer 1, VIP, manager ivanova"
    )
    assert second == "'101': an internal extension of agent ivanova"

    # and what is not a customer
    expected = {
        "101": ("internal", True, None),
        "112": ("service", False, None),
        "anonymous": ("withheld", False, None),
        "<unknown>": ("withheld", False, None),
        "": ("withheld", False, None),
        "not a number": ("invalid", False, None),
        "+7 903 000-00-00": ("external", False, "+79030000000"),
    }
    code, found_all = lookups(database_url, files, *expected)
    assert code == 1
    for (phone, (kind, internal, normalized)), found in zip(
        expected.items(), found_all, strict=True
    ):
        assert found["customer_id"] is None, phone
        assert (found["kind"], found["internal"], found["normalized"]) == (
            kind,
            internal,
            normalized,
        ), phone
    assert found_all[0]["agent"] == "ivanova"


def test_orders_and_a_dry_run(database_url: str, files: Path) -> None:
    assert cti(database_url, files, "import", "agents", "agents.csv").returncode == 0
    dry = cti(database_url, files, "import", "customers", "customers.csv", "--dry-run", "--json")
    assert json.loads(dry.stdout)["dry_run"] is True and json.loads(dry.stdout)["created"] == 2
    assert lookup(database_url, files, "89161234567")[0] == 1  # nothing was written
    assert cti(database_url, files, "import", "customers", "customers.csv").returncode == 1
    orders = cti(database_url, files, "import", "orders", "orders.csv", "--json")
    report = json.loads(orders.stdout)
    assert orders.returncode == 1 and report["updated"] == 1
    assert report["errors"] == [
        {"row": 4, "field": "external_id", "reason": "no customer with external_id 'c9'"}
    ]
    again = json.loads(cti(database_url, files, "import", "orders", "orders.csv", "--json").stdout)
    assert (again["updated"], again["unchanged"]) == (0, 1)


def test_files_that_cannot_be_imported_write_nothing(database_url: str, files: Path) -> None:
    (files / "cp1251.csv").write_bytes("external_id,name\nc1,Иван\n".encode("cp1251"))
    out = cti(database_url, files, "import", "customers", "cp1251.csv")
    assert (
        out.returncode == 2 and "not UTF-8" in out.stderr and "Nothing was imported" in out.stderr
    )
    (files / "typo.csv").write_text(
        "external_id,name,phone\nc1,Иван,89161234567\n", encoding="utf-8"
    )
    out = cti(database_url, files, "import", "customers", "typo.csv")
    assert out.returncode == 2 and "unknown column(s) 'phone'" in out.stderr
    out = cti(database_url, files, "import", "customers", "missing.csv")
    assert out.returncode == 2 and "no such file" in out.stderr
    assert lookup(database_url, files, "89161234567")[0] == 1


def test_parallel_validation_gives_the_same_result(files: Path) -> None:
    database_url = (
        f"sqlite:///{files / 'parallel.db'}"  # worker processes do not touch the database
    )
    assert cti(database_url, files, "import", "agents", "agents.csv").returncode == 0
    out = cti(
        database_url, files, "import", "customers", "customers.csv", "--json", "--workers", "2"
    )
    report = json.loads(out.stdout)
    assert (report["created"], report["rejected"]) == (2, 5)
    assert [e["row"] for e in report["errors"]] == [4, 5, 6, 7, 8]


def test_people_without_a_phone_import_and_an_agent_without_one_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "people.csv").write_text(
        "login,name,role,extension,device,mobile,teams,seniority,max_calls\n"
        "ivanova,Мария Иванова,agent,101,,,sales,5,2\n"
        "boss,Ольга Начальникова,supervisor,,,,sales,10,1\n"
        "root,Админ,admin,,,,,0,1\n",
        encoding="utf-8",
    )
    out = cti(database_url, tmp_path, "import", "agents", "people.csv", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["created"] == 3
    # the one who has no phone is no extension: 101 is Ivanova's, nothing is ''
    assert lookup(database_url, tmp_path, "101")[1]["agent"] == "ivanova"

    (tmp_path / "phoneless_agent.csv").write_text(
        "login,name,role,extension\nnophone,Без телефона,agent,\n", encoding="utf-8"
    )
    refused = cti(database_url, tmp_path, "import", "agents", "phoneless_agent.csv", "--json")
    assert refused.returncode == 1
    assert [e["field"] for e in json.loads(refused.stdout)["errors"]] == ["extension"]
