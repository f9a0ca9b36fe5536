"""Prometheus exposition through prometheus-client: the samples the server counts (labelled
where a dimension matters: PBX, line, outcome), beside the client's process, GC and platform
collectors, on a registry of this process's own (no global registry)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

Sample = tuple[str, str, str, "float | Histogram | Labelled"]  # name, type, help, value

#: seconds: a screen-pop is good under 0.1 s and bad over 1 s
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Observations counted into buckets (a Prometheus histogram, cumulative when exposed)."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)  # the last one: above every bound (+Inf)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += n
            out.append((floatToGoString(bound), float(running)))
        return out


@dataclass(frozen=True)
class Labelled:
    """One metric with labels: label values (in `names` order) -> value."""

    names: tuple[str, ...]
    values: Mapping[tuple[str, ...], float]


@dataclass
class CallOutcomes:
    """Calls this process finished, by line (DID), direction, outcome and missed kind; fed by
    the bus's call.ended (messages from other nodes carry a `node` and are theirs to count)."""

    counts: dict[tuple[str, str, str, str], int] = field(default_factory=dict)

    def __call__(self, message: Mapping[str, Any]) -> None:
        if message.get("type") != "call.ended" or "agent" in message or "node" in message:
            return
        call = message.get("call")
        if not isinstance(call, Mapping):
            return
        key = (
            str(call.get("did") or ""),
            str(call.get("direction") or ""),
            str(call.get("outcome") or ""),
            str(call.get("missed_kind") or ""),
        )
        self.counts[key] = self.counts.get(key, 0) + 1

    def labelled(self) -> Labelled:
        return Labelled(
            ("line", "direction", "outcome", "missed_kind"),
            {k: float(v) for k, v in self.counts.items()},
        )


def family(name: str, kind: str, help_text: str, value: float | Histogram | Labelled) -> Metric:
    """One prometheus-client metric family from a sample."""
    if isinstance(value, Histogram):
        return HistogramMetricFamily(
            name, help_text, buckets=value.cumulative(), sum_value=value.sum
        )
    make = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    if isinstance(value, Labelled):
        metric = make(name, help_text, labels=list(value.names))
        for labels, number in sorted(value.values.items()):
            metric.add_metric(list(labels), float(number))
        return metric
    return make(name, help_text, value=float(value))


class SampleCollector(Collector):
    """The server's samples, read afresh at every scrape."""

    def __init__(self, samples: Callable[[], Iterable[Sample]]) -> None:
        self._samples = samples

    def collect(self) -> Iterator[Metric]:
        for name, kind, help_text, value in self._samples():
            yield family(name, kind, help_text, value)


def process_registry(samples: Callable[[], Iterable[Sample]]) -> CollectorRegistry:
    """A registry with the server's samples and the process, GC and platform metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SampleCollector(samples))
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> str:
    """The text format Prometheus scrapes."""
    return generate_latest(registry).decode("utf-8")


def render(samples: Iterable[Sample]) -> str:
    """Just `samples` in the text format (no process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    listed = list(samples)
    registry.register(SampleCollector(lambda: listed))
    return exposition(registry)
