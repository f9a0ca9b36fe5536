"""Every capture from a real Asterisk gives the records its `NAME.expected.json` states."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.calls.endpoints import TrackingRules
from cti.calls.replay import replay_files
from tests.captures_index import CAPTURES, EXPECTED, expected_path


def test_every_capture_states_its_records() -> None:
    if (CAPTURES / "expected.json").exists():
        pytest.skip("a folder with one expected.json index")
    missing = [p.name for p in CAPTURES.glob("*.ami") if not expected_path(p).exists()]
    assert not missing, f"captures without NAME.expected.json beside them: {missing}"
    assert len(EXPECTED) >= 29


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
        keys = ("linkedid", "outcome", "missed_kind", "direction", "answered_by")
        assert len(records) == len(expected), name
        for got, want in zip(records, expected, strict=True):
            assert {k: got[k] for k in keys if k in want} == {
                k: want[k] for k in keys if k in want
            }, name


def test_asterisk_11_capture_records_nothing_and_says_why() -> None:
    from cti.calls.replay import Replayer

    replayer = Replayer(rules=TrackingRules())
    name = "50_asterisk11_written_not_recorded_untrackable.ami"
    assert list(replayer.feed_capture(CAPTURES / name)) == []
    warnings = replayer.result().warnings
    assert any("Asterisk 11 or older" in w for w in warnings), warnings
    assert any("no Linkedid" in w for w in warnings), warnings


def test_a_supported_capture_has_no_warnings() -> None:
    from cti.calls.replay import Replayer

    replayer = Replayer(rules=TrackingRules())
    list(replayer.feed_capture(CAPTURES / "01_inbound_answered_by_101_caller_hangs_up.ami"))
    assert replayer.result().warnings == []
