"""The CSV and XLSX exports of a report and of the missed-calls list, opened in LibreOffice Calc
as a user would: the right columns, numbers that are numbers, office times."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.reports_world import DAY, EXPECTED, report_app

SOFFICE = shutil.which("soffice")
#: the CSV import filter per language: separator (59 ';' or 44 ','), quote 34, UTF-8 (76),
#: from line 1, and the locale (1049 ru-RU, 1033 en-US) that reads the decimal mark
CSV_FILTERS = {"ru": "CSV:59,34,76,1,,1049", "en": "CSV:44,34,76,1,,1033"}


@pytest.fixture(scope="module")
def soffice() -> str:
    if SOFFICE is None:
        reason = "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return SOFFICE


@pytest.fixture
async def api(aiohttp_client: Any, database_url: str) -> AsyncIterator[tuple[Any, dict[str, str]]]:
    app, tokens, engine = await report_app(database_url)
    try:
        yield await aiohttp_client(app), {"Authorization": f"Bearer {tokens['boss']}"}
    finally:
        await engine.dispose()


def open_in_calc(
    soffice: str, data: bytes, name: str, lang: str, tmp: Path
) -> list[tuple[Any, ...]]:
    """Rows of a download as LibreOffice Calc reads it (converted to XLSX, then read back)."""
    path = tmp / name
    path.write_bytes(data)
    out = tmp / "calc"
    command = [
        soffice,
        f"-env:UserInstallation=file://{tmp / 'profile'}",
        "--headless",
        "--convert-to",
        "xlsx",
        "--outdir",
        str(out),
        str(path),
    ]
    if path.suffix == ".csv":
        command[3:3] = [f"--infilter={CSV_FILTERS[lang]}"]
    done = subprocess.run(command, capture_output=True, timeout=50, check=False)
    converted = out / (path.stem + ".xlsx")
    assert converted.exists(), done.stderr.decode(errors="replace")
    sheet = openpyxl.load_workbook(converted).active
    assert sheet is not None
    return list(sheet.iter_rows(values_only=True))


async def download(client: Any, auth: dict[str, str], url: str) -> bytes:
    resp = await client.get(url, headers=auth)
    assert resp.status == 200, await resp.text()
    body: bytes = await resp.read()
    return body


@pytest.mark.parametrize(("fmt", "lang"), [("csv", "ru"), ("csv", "en"), ("xlsx", "ru")])
async def test_the_summary_opens_into_titled_columns_of_numbers(
    api: tuple[Any, dict[str, str]], soffice: str, tmp_path: Path, fmt: str, lang: str
) -> None:
    client, auth = api
    url = f"/api/reports/summary?from={DAY}&to={DAY}&format={fmt}&lang={lang}"
    data = await download(client, auth, url)
    header, row = open_in_calc(soffice, data, f"summary.{fmt}", lang, tmp_path)
    cells = dict(zip(header, row, strict=True))
    offered, level, wait = (
        ("Поступило", "Уровень обслуживания", "Среднее ожидание, с")
        if lang == "ru"
        else ("Offered", "Service level", "Average wait, s")
    )
    assert cells[offered] == EXPECTED["offered"]
    assert isinstance(cells[level], float)
    assert cells[level] == pytest.approx(EXPECTED["service_level"], abs=1e-4)
    assert cells[wait] == pytest.approx(EXPECTED["average_wait"])


@pytest.mark.parametrize(("fmt", "lang"), [("csv", "ru"), ("csv", "en"), ("xlsx", "en")])
async def test_the_missed_calls_open_with_office_times_and_numbers(
    api: tuple[Any, dict[str, str]], soffice: str, tmp_path: Path, fmt: str, lang: str
) -> None:
    client, auth = api
    base = f"/api/reports/missed?from={DAY}&to={DAY}"
    listed = (await (await client.get(base, headers=auth)).json())["missed"]
    data = await download(client, auth, f"{base}&format={fmt}&lang={lang}")
    header, *rows = open_in_calc(soffice, data, f"missed.{fmt}", lang, tmp_path)
    assert len(header) == 14 and len(rows) == len(listed) == 4
    when, wait, rung = (
        ("Время пропуска", "Ожидание, с", "Кому звонило")
        if lang == "ru"
        else ("Missed at", "Wait, s", "Agents rung")
    )
    opened = [dict(zip(header, row, strict=True)) for row in rows]
    for cells, call in zip(opened, listed, strict=True):
        moment = datetime.fromisoformat(call["missed_at"].replace("Z", "+00:00"))
        office = moment.astimezone(_moscow()).replace(tzinfo=None, microsecond=0)
        assert cells[when] == office  # a date-time cell in office time, not UTC text
        assert cells[wait] == pytest.approx(call["wait_seconds"])
        # one extension reads as a number, several as text: either way the same agents
        assert str(cells[rung] or "") == ", ".join(call["agents_rung"])
    # c4 rang 40 s from 12:20 office time, and the sheet says 12:20:40, not 09:20:40 UTC
    assert datetime(2026, 11, 25, 12, 20, 40) in {c[when] for c in opened}


def _moscow() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Moscow")
