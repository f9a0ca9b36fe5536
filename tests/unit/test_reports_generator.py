"""The benchmark's year of calls has the shape it promises: the lunch spike, ~8% missed,
out-of-hours misses at night, one missed-call row and callback per missed call; deterministic."""

from __future__ import annotations

from collections import Counter
from datetime import date
from zoneinfo import ZoneInfo

from cti.reports.generator import CALL_COLUMNS, generate

MSK = ZoneInfo("Europe/Moscow")


def test_a_generated_year_has_the_lunch_spike_and_a_realistic_mix() -> None:
    chunks = list(generate(20_000, first=date(2025, 11, 24), days=28, chunk_size=7_000))
    calls = [dict(zip(CALL_COLUMNS, row, strict=True)) for chunk in chunks for row in chunk.calls]
    assert len(calls) == 20_000 and len(chunks) == 3
    starts = [c["started_at"] for c in calls]
    assert starts == sorted(starts)
    inbound = [c for c in calls if c["direction"] == "inbound"]
    offered = Counter(c["started_at"].astimezone(MSK).hour for c in inbound)
    missed = Counter(
        c["started_at"].astimezone(MSK).hour for c in inbound if c["outcome"] == "missed"
    )
    assert offered[12] == max(offered.values())
    assert missed[12] / offered[12] > 3 * missed[10] / offered[10]
    share = sum(missed.values()) / len(inbound)
    assert 0.05 < share < 0.2
    night = [c for c in inbound if c["started_at"].astimezone(MSK).hour < 7]
    assert night and all(
        c["missed_kind"] == "out_of_hours" for c in night if c["outcome"] == "missed"
    )
    misses = sum(len(chunk.missed) for chunk in chunks)
    assert misses == sum(len(chunk.callbacks) for chunk in chunks) == sum(missed.values())
    again = next(generate(20_000, first=date(2025, 11, 24), days=28, chunk_size=7_000))
    assert again.calls == chunks[0].calls
