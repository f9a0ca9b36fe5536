"""The `cti` commands as a user runs them: real processes, real files, real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.captures_index import CAPTURES
from tests.captures_index import SAMPLE_EXPECTED as EXPECTED


def cti(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cti.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("chunk", [[], ["--chunk-size", "1"]])
def test_replay_json_prints_each_capture_outcome(chunk: list[str], tmp_path: Path) -> None:
    files = [str(CAPTURES / name) for name in sorted(EXPECTED)]
    out = cti("replay", *files, "--json", *chunk, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    want = [call for name in sorted(EXPECTED) for call in EXPECTED[name]]
    assert [(r["linkedid"], r["outcome"], r["missed_kind"], r["short_abandon"]) for r in lines] == [
        (w["linkedid"], w["outcome"], w["missed_kind"], w["short_abandon"]) for w in want
    ]
    for got in lines:
        for key in (
            "linkedid",
            "direction",
            "caller",
            "caller_name",
            "did",
            "agents_rung",
            "answered_by",
            "outcome",
            "missed_kind",
            "short_abandon",
            "started_at",
            "answered_at",
            "ended_at",
            "wait_seconds",
            "talk_seconds",
        ):
            assert key in got


def test_replay_store_then_calls_lists_the_same(database_url: str, tmp_path: Path) -> None:
    env = {"CTI_DATABASE_URL": database_url}
    files = [str(CAPTURES / name) for name in sorted(EXPECTED)]
    stored = cti("replay", *files, "--json", "--store", env=env, cwd=tmp_path)
    assert stored.returncode == 0, stored.stderr
    again = cti("replay", *files, "--store", env=env, cwd=tmp_path)  # idempotent by Linkedid
    assert again.returncode == 0, again.stderr
    listed = cti("calls", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    by_id = lambda text: {json.loads(x)["linkedid"]: json.loads(x) for x in text.splitlines()}  # noqa: E731
    assert by_id(listed.stdout) == by_id(stored.stdout)
    recent = cti("calls", "--json", "--since", "2026-11-24T19:01:00Z", env=env, cwd=tmp_path)
    assert 0 < len(recent.stdout.splitlines()) < len(listed.stdout.splitlines())
    human = cti("calls", env=env, cwd=tmp_path)
    assert "missed/abandoned (short)" in human.stdout


def test_errors_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "x.db").touch()  # an empty file is an empty SQLite database
    missing = cti("replay", str(tmp_path / "nope.ami"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bad_since = cti(
        "calls",
        "--since",
        "yesterday",
        env={"CTI_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
        cwd=tmp_path,
    )
    assert bad_since.returncode == 2 and "ISO 8601" in bad_since.stderr
    (tmp_path / "cti.toml").write_text("ami_prot = 5038\n")
    typo = cti("calls", cwd=tmp_path)
    assert typo.returncode == 2 and "unknown setting 'ami_prot'" in typo.stderr
    bad_port = cti("calls", env={"CTI_AMI_PORT": "five"}, cwd=tmp_path / "..")
    assert bad_port.returncode == 2 and "ami_port" in bad_port.stderr


def test_every_command_has_help_with_a_description_and_examples() -> None:
    import argparse

    from cti.cli import _parser

    def paths(parser: argparse.ArgumentParser, path: list[str]) -> list[list[str]]:
        found = [path]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found += paths(child, [*path, name])
        return found

    every = paths(_parser(), [])
    assert len(every) > 30 and ["agent", "state"] in every and ["listen"] in every
    for command in every:
        out = cti(*command, "--help")
        assert out.returncode == 0 and "usage: cti" in out.stdout, command
        head = out.stdout.split("\n\n")[1]
        assert not head.startswith(("options:", "positional")), command  # a description
        examples = out.stdout.split("examples:\n")[-1]
        assert "examples:" in out.stdout and examples.strip().startswith("cti"), command


def test_simulate_lists_its_scenarios() -> None:
    out = cti("simulate", "--list")
    assert out.returncode == 0
    assert {"answered", "queue_abandoned", "click_to_call", "out_of_hours"} <= set(
        out.stdout.split()
    )
