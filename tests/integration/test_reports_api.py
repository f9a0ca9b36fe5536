"""GET /api/reports/... over HTTP on SQLite and PostgreSQL: JSON and CSV of every report, an
agent's own figures only, and precise problem+json for bad parameters."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.reports_world import DAY, report_app


@pytest.fixture
async def api(aiohttp_client: Any, database_url: str) -> AsyncIterator[tuple[Any, dict[str, str]]]:
    app, tokens, engine = await report_app(database_url)
    try:
        yield await aiohttp_client(app), {k: f"Bearer {v}" for k, v in tokens.items()}
    finally:
        await engine.dispose()


async def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = await resp.json(content_type=None)
    return body


SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "api"


def conforms(body: dict[str, Any], name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    errors = [
        e.message
        for e in Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(body)
    ]
    assert errors == [], name


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def test_summary_and_breakdowns_in_json_and_csv(api: tuple[Any, dict[str, str]]) -> None:
    client, auth = api
    boss = {"Authorization": auth["boss"]}
    summary = await (
        await client.get(f"/api/reports/summary?from={DAY}&to={DAY}", headers=boss)
    ).json()
    assert (summary["figures"]["offered"], summary["figures"]["missed"]) == (8, 4)
    conforms(summary, "report.summary")
    assert summary["goals"]["missed_rate"] == {"goal": 0.03, "comparison": "<=", "status": "bad"}
    resp = await client.get(
        f"/api/reports/summary?from={DAY}&to={DAY}&format=csv&lang=en", headers=boss
    )
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert f"summary-{DAY}-{DAY}.csv" in resp.headers["Content-Disposition"]
    (row,) = rows_of(await resp.text())
    assert (row["Offered"], row["Service level (answered)"], row["From"]) == ("8", "0.75", DAY)
    for by, count in (("hour", 24), ("day", 1), ("agent", 2), ("did", 2), ("team", 2)):
        body = await (
            await client.get(f"/api/reports/breakdown?by={by}&date={DAY}", headers=boss)
        ).json()
        assert len(body["rows"]) == count, by
        conforms(body, "report.breakdown")
        text = await (
            await client.get(f"/api/reports/breakdown?by={by}&date={DAY}&format=csv", headers=boss)
        ).text()
        assert len(rows_of(text)) == count
    week = await (
        await client.get(f"/api/reports/breakdown?by=day&period=week&date={DAY}", headers=boss)
    ).json()
    assert [r["day"] for r in week["rows"]][0] == "2026-11-23" and len(week["rows"]) == 7


async def test_missed_report_filters_and_csv(api: tuple[Any, dict[str, str]]) -> None:
    client, auth = api
    boss = {"Authorization": auth["boss"]}
    base = f"/api/reports/missed?from={DAY}&to={DAY}"
    body = await (await client.get(base, headers=boss)).json()
    conforms(body, "report.missed")
    every = body["missed"]
    assert len(every) == 4
    kinds = {
        m["kind"]
        for m in (await (await client.get(base + "&kind=abandoned", headers=boss)).json())["missed"]
    }
    assert kinds == {"abandoned"}
    unresolved = (await (await client.get(base + "&resolved=false", headers=boss)).json())["missed"]
    assert sorted(m["linkedid"] for m in unresolved) == ["c5", "c8"]
    ivanova = (await (await client.get(base + "&agent=ivanova", headers=boss)).json())["missed"]
    assert sorted(m["linkedid"] for m in ivanova) == ["c4", "c6"]
    by_did = (await (await client.get(base + "&did=74952220202", headers=boss)).json())["missed"]
    assert [m["linkedid"] for m in by_did] == ["c8"]
    text = await (await client.get(base + "&format=csv", headers=boss)).text()
    assert len(rows_of(text)) == 4


async def test_an_agent_gets_only_their_own_figures(api: tuple[Any, dict[str, str]]) -> None:
    client, auth = api
    me = {"Authorization": auth["ivanova"]}
    summary = await (await client.get(f"/api/reports/summary?date={DAY}", headers=me)).json()
    assert summary["figures"]["offered"] == 5 and summary["filters"]["agent"] == "ivanova"
    agents = await (
        await client.get(f"/api/reports/breakdown?by=agent&date={DAY}", headers=me)
    ).json()
    assert [r["login"] for r in agents["rows"]] == ["ivanova"]
    body = await problem(
        await client.get(f"/api/reports/summary?date={DAY}&agent=petrov", headers=me), 403
    )
    assert "own figures" in body["detail"]
    mine = (await (await client.get(f"/api/reports/missed?date={DAY}", headers=me)).json())[
        "missed"
    ]
    assert sorted(m["linkedid"] for m in mine) == ["c4", "c6"]
    await problem(await client.get(f"/api/reports/missed?date={DAY}&agent=petrov", headers=me), 403)
    await problem(await client.get(f"/api/reports/summary?date={DAY}"), 401)


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("summary?from=2026-11-30&to=2026-11-01", "from", "after to"),
        ("summary?from=25.11.2026", "from", "YYYY-MM-DD"),
        ("summary?period=year", "period", "day, week or month"),
        ("breakdown?by=queue", "by", "not a breakdown"),
        ("breakdown", "by", "how to split"),
        ("summary?format=xml", "format", "json, csv or xlsx"),
        ("missed?kind=lost", "kind", "not a kind"),
        ("missed?resolved=maybe", "resolved", "true or false"),
        ("summary?agent=nobody", "agent", "no agent"),
    ],
)
async def test_bad_parameters_are_named(
    api: tuple[Any, dict[str, str]], query: str, field: str, words: str
) -> None:
    client, auth = api
    body = await problem(
        await client.get(f"/api/reports/{query}", headers={"Authorization": auth["boss"]}), 400
    )
    assert body["errors"][0]["field"] == field
    assert body["detail"].startswith(f"{field}: ") and words in body["detail"]


async def test_the_page_needs_a_signed_in_user(api: tuple[Any, dict[str, str]]) -> None:
    client, auth = api
    anonymous = await client.get("/reports", headers={"Accept": "text/html"}, allow_redirects=False)
    assert anonymous.status in (302, 303) and anonymous.headers["Location"].startswith("/login")
    page = await client.get(
        "/reports", headers={"Authorization": auth["ivanova"], "Accept": "text/html"}
    )
    assert page.status == 200
    html = await page.text()
    assert "/static/vendor/chartjs/chart.umd.min.js" in html and "<script>" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    chart = await client.get(
        "/static/vendor/chartjs/chart.umd.min.js", headers={"Authorization": auth["ivanova"]}
    )
    assert chart.status == 200 and b"Chart.js v4.6.1" in await chart.read()
