"""Prometheus exposition of what the server counts (text format 0.0.4, no extra dependency)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

Sample = tuple[str, str, str, "float | Histogram"]  # name, type, help, value

#: seconds: a screen-pop is good under 0.1 s and bad over 1 s
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Observations counted into cumulative buckets (a Prometheus histogram)."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)  # the last one: above every bound (+Inf)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.count += 1
        self.sum += value

    def lines(self, name: str) -> list[str]:
        out, running = [], 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'{name}_bucket{{le="{le}"}} {running}')
        out.append(f"{name}_sum {self.sum:g}")
        out.append(f"{name}_count {self.count}")
        return out


def render(samples: Iterable[Sample]) -> str:
    lines: list[str] = []
    for name, kind, help_text, value in samples:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        if isinstance(value, Histogram):
            lines.extend(value.lines(name))
        else:
            lines.append(f"{name} {float(value):g}")
    return "\n".join(lines) + "\n"
