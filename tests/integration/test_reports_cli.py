"""`cti report` as a user runs it: after `cti replay --store` of the shared captures, the figures
are the ones their expected.json implies (SQLite and PostgreSQL); bad input is refused precisely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cti.reports.kpi import figures, tally_calls
from tests.integration.test_cli import CAPTURES, EXPECTED, cti

CALLS = [call for name in sorted(EXPECTED) for call in EXPECTED[name]]
RANGE = ("--from", "2026-11-24", "--to", "2026-11-25")


def report(env: dict[str, str], cwd: Path, *args: str) -> dict:
    out = cti("report", *RANGE, *args, "--json", env=env, cwd=cwd)
    assert out.returncode == 0, out.stderr
    result: dict = json.loads(out.stdout)
    return result


def test_replayed_captures_give_the_figures_expected_json_implies(
    database_url: str, tmp_path: Path
) -> None:
    env = {"CTI_DATABASE_URL": database_url}
    stored = cti(
        "replay",
        *(str(CAPTURES / name) for name in sorted(EXPECTED)),
        "--store",
        env=env,
        cwd=tmp_path,
    )
    assert stored.returncode == 0, stored.stderr

    inbound = [c for c in CALLS if c["direction"] == "inbound"]
    # by hand from expected.json: 8 inbound calls, 5 answered, 3 abandoned (2 of them short)
    assert (len(inbound), sum(c["outcome"] == "answered" for c in inbound)) == (8, 5)
    want = figures(tally_calls(CALLS, threshold=20.0))
    got = report(env, tmp_path)["figures"]
    for key in (
        "offered",
        "answered",
        "missed",
        "missed_abandoned",
        "missed_no_answer",
        "missed_busy",
        "missed_out_of_hours",
        "short_abandons",
        "answered_within_threshold",
    ):
        assert got[key] == want[key], key
    for key in ("service_level", "service_level_answered", "missed_rate", "abandon_rate"):
        assert got[key] == pytest.approx(want[key], abs=1e-6), key
    for key in ("average_speed_of_answer", "average_wait", "longest_wait", "average_talk"):
        assert got[key] == pytest.approx(want[key], abs=0.05), (
            key
        )  # expected.json gives whole seconds
    assert (got["offered"], got["missed"], got["short_abandons"]) == (8, 3, 2)
    assert got["service_level"] == pytest.approx(
        5 / 6, abs=1e-4
    )  # every answer within 20 s; 2 short abandons out
    assert got["callbacks"] == 3  # each missed caller is owed a call back

    agents = {r["label"]: r for r in report(env, tmp_path, "--by", "agent")["rows"]}
    for ext in ("101", "102", "103", "199"):
        rung = [c for c in inbound if ext in c["agents_rung"]]
        took = [c for c in inbound if ext in c["answered_by"]]
        assert (agents[ext]["offered"], agents[ext]["answered"]) == (len(rung), len(took)), ext
    dids = {r["did"]: r["offered"] for r in report(env, tmp_path, "--by", "did")["rows"]}
    assert dids == {
        did: sum(c["did"] == did for c in inbound) for did in {c["did"] for c in inbound}
    }
    hours = report(env, tmp_path, "--by", "hour")["rows"]
    assert sum(r["offered"] for r in hours) == 8 and len(hours) == 24

    human = cti("report", *RANGE, env=env, cwd=tmp_path)
    assert human.returncode == 0 and "offered 8  answered 5  missed 3" in human.stdout
    assert "service level 20 s: 83.3% of offered" in human.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--from", "2026-11-26", "--to", "2026-11-25"],
            "--from: 2026-11-26 is after --to 2026-11-25",
        ),
        (["--from", "26.11.2026"], "--from: '26.11.2026' is not a date; write it as YYYY-MM-DD"),
        (
            ["--by", "queue"],
            "--by: 'queue' is not a breakdown; use one of agent, did, team, hour, day",
        ),
        (["--period", "year"], "--period: 'year' is not a period"),
    ],
)
def test_bad_input_is_refused_precisely(args: list[str], words: str, tmp_path: Path) -> None:
    (tmp_path / "x.db").touch()  # an empty SQLite database: the arguments are checked first
    out = cti(
        "report", *args, env={"CTI_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}, cwd=tmp_path
    )
    assert out.returncode == 2
    assert words in out.stderr
