"""Raw AMI captures through the live ingestion and tracking code, as if they came off the wire."""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cti.ami.events import AmiEvent, SessionStarted
from cti.ami.ingest import EventStream
from cti.ami.version import untested, untrackable
from cti.calls.endpoints import TrackingRules
from cti.calls.machine import Finished
from cti.calls.model import CallRecord
from cti.calls.tracker import CallTracker


@dataclass
class ReplayResult:
    records: list[CallRecord] = field(default_factory=list)
    open_calls: int = 0
    events: int = 0
    frames: int = 0
    warnings: list[str] = field(default_factory=list)  #: what a reader must know of the capture


class Timing:
    """`NAME.timing` beside a capture: `seconds R offset length` per read, the receipt times."""

    def __init__(self, reads: list[tuple[int, float]]) -> None:
        self._ends = [end for end, _ in reads]
        self._times = [t for _, t in reads]

    @classmethod
    def load(cls, capture: Path) -> Timing | None:
        path = capture.with_suffix(".timing")
        if not path.exists():
            return None
        reads = []
        for line in path.read_text(encoding="ascii", errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[1] == "R":
                try:
                    reads.append((int(parts[2]) + int(parts[3]), float(parts[0])))
                except ValueError:
                    continue
        return cls(reads) if reads else None

    def pieces(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """The capture cut as it was read off the socket."""
        start = 0
        for end in self._ends:
            if end > start:
                yield end, data[start:end]
                start = end
        if start < len(data):
            yield len(data), data[start:]

    def at(self, offset: int) -> float:
        """Receipt time (seconds since the session began) of the byte before `offset`."""
        i = bisect.bisect_left(self._ends, offset)
        return self._times[min(i, len(self._times) - 1)]


def chunks(data: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    for start in range(0, len(data), size):
        yield start + min(size, len(data) - start), data[start : start + size]


class Replayer:
    """One tracker fed by any number of captures in turn, with the live code path."""

    def __init__(self, *, rules: TrackingRules) -> None:
        self.rules = rules
        self.tracker = CallTracker(rules=rules)
        self.stream = EventStream(
            on_event=self._event,
            variables=(
                *rules.did_variables,
                *rules.recording_variables,
                *rules.out_of_hours_variables,
            ),
        )
        self.records: list[CallRecord] = []
        self.warnings: dict[str, None] = {}

    def _event(self, event: AmiEvent) -> None:
        if isinstance(event, SessionStarted):
            for problem in (untrackable(event.banner), untested(event.banner)):
                if problem:
                    self.warnings.setdefault(problem, None)
        for effect in self.tracker.handle(event):
            if isinstance(effect, Finished):
                self.records.append(effect.record)

    def feed_capture(self, path: Path, chunk_size: int | None = None) -> Iterator[CallRecord]:
        """Feed one capture; yield each call as it finishes."""
        data = path.read_bytes()
        timing = Timing.load(path)
        base = time.time()
        if chunk_size:
            pieces = chunks(data, chunk_size)
        elif timing:
            pieces = timing.pieces(data)
        else:
            pieces = chunks(data, 65536)
        for end, chunk in pieces:
            received = base + (timing.at(end) if timing else 0.0)
            self.stream.feed(chunk, received)
            if self.records:
                yield from self.records
                self.records.clear()

    def result(self) -> ReplayResult:
        return ReplayResult(
            open_calls=len(self.tracker.calls),
            events=self.tracker.stats.events,
            frames=self.stream.stats.frames,
            warnings=[*self.warnings, *self._orphan_warning()],
        )

    def _orphan_warning(self) -> list[str]:
        stats = self.tracker.stats
        if stats.no_linkedid and not stats.calls_started:
            return [
                f"{stats.no_linkedid} channel event(s) carry no Linkedid: the PBX is older than "
                "Asterisk 12 or hides it; cti cannot track its calls"
            ]
        return []


def replay_files(
    paths: list[Path], *, rules: TrackingRules, chunk_size: int | None = None
) -> Iterator[CallRecord]:
    """Every finished call of the captures, in the order they finished."""
    replayer = Replayer(rules=rules)
    for path in paths:
        yield from replayer.feed_capture(path, chunk_size)
