"""Every shared capture from a real Asterisk gives the outcome its README and expected.json state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cti.calls.endpoints import TrackingRules
from cti.calls.replay import replay_files

CAPTURES = Path(
    os.environ.get("CTI_CAPTURES", Path(__file__).resolve().parents[2] / "tests" / "captures")
)
EXPECTED = json.loads((CAPTURES / "expected.json").read_text(encoding="utf-8"))


def _check(records: list[dict], expected: list[dict]) -> None:
    assert len(records) == len(expected), records
    for got, want in zip(records, expected, strict=True):
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, abs=0.1), key
            else:
                assert got[key] == value, key


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("chunk_size", [None, 1, 7, 4096])
def test_capture_gives_stated_outcome(name: str, chunk_size: int | None) -> None:
    records = [
        r.to_json()
        for r in replay_files([CAPTURES / name], rules=TrackingRules(), chunk_size=chunk_size)
    ]
    _check(records, EXPECTED[name])


def test_all_captures_back_to_back_are_separate_sessions() -> None:
    """Several sessions in a row (each with its banner) are reconnects: nothing lost or doubled."""
    names = sorted(EXPECTED)
    records = [
        r.to_json() for r in replay_files([CAPTURES / n for n in names], rules=TrackingRules())
    ]
    want = [call for n in names for call in EXPECTED[n]]
    _check(records, want)


def test_capture_without_timestamps_gives_same_outcomes(tmp_path: Path) -> None:
    """Strip every Timestamp: header: receipt times (the .timing file) still give outcomes."""
    for name, expected in EXPECTED.items():
        raw = (CAPTURES / name).read_bytes()
        stripped = b"\r\n".join(
            line for line in raw.split(b"\r\n") if not line.startswith(b"Timestamp: ")
        )
        target = tmp_path / name
        target.write_bytes(stripped)
        records = [r.to_json() for r in replay_files([target], rules=TrackingRules())]
        assert [
            (r["linkedid"], r["outcome"], r["missed_kind"], r["direction"], r["answered_by"])
            for r in records
        ] == [
            (e["linkedid"], e["outcome"], e["missed_kind"], e["direction"], e["answered_by"])
            for e in expected
        ]
