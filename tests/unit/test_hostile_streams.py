"""Whatever arrives (reordered, duplicated, truncated, garbage), the tracker never crashes and
never records a Linkedid twice."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami.ingest import EventStream
from cti.calls.endpoints import TrackingRules
from cti.calls.machine import Finished
from cti.calls.tracker import CallTracker

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
FRAMES = [
    frame + b"\r\n\r\n"
    for name in (
        "02_inbound_101_no_answer_then_duty_199_answers.ami",
        "06_queue_support_answered_by_102.ami",
        "07_click2call_originate_102_then_external.ami",
        "10_coreshowchannels_and_queuestatus_responses.ami",
    )
    for frame in (CAPTURES / name).read_bytes().split(b"\r\n\r\n")
    if frame
]


def run(frames: list[bytes]) -> list[str]:
    tracker = CallTracker(rules=TrackingRules())
    finished: list[str] = []

    def on_event(event: object) -> None:
        for effect in tracker.handle(event):  # type: ignore[arg-type]
            if isinstance(effect, Finished):
                finished.append(effect.record.linkedid)

    stream = EventStream(on_event=on_event, variables=("CTI_DID",))
    for frame in frames:
        stream.feed(frame, 0.0)
    finished.extend(
        e.record.linkedid for e in tracker.sweep(now=10**12, max_idle=0) if isinstance(e, Finished)
    )
    return finished


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.floats(0, 0.3), st.floats(0, 0.3), st.floats(0, 0.2))
def test_shuffled_duplicated_dropped_frames(
    seed: int, dup: float, drop: float, swap: float
) -> None:
    rng = random.Random(seed)
    frames: list[bytes] = []
    for frame in FRAMES:
        if rng.random() < drop:
            continue
        frames.append(frame)
        if rng.random() < dup:
            frames.append(frame)
    for i in range(len(frames) - 1):
        if rng.random() < swap:
            frames[i], frames[i + 1] = frames[i + 1], frames[i]
    finished = run(frames)
    assert len(finished) == len(set(finished))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300) | st.sampled_from(FRAMES), max_size=60))
def test_garbage_mixed_with_real_frames(chunks: list[bytes]) -> None:
    finished = run(chunks)
    assert len(finished) == len(set(finished))
