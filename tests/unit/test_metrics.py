"""Prometheus exposition: plain samples and histograms (cumulative buckets, sum, count)."""

from __future__ import annotations

from cti.metrics import Histogram, render


def test_a_histogram_renders_cumulative_buckets_with_sum_and_count() -> None:
    latency = Histogram(buckets=(0.01, 0.1, 1.0))
    for value in (0.005, 0.01, 0.05, 0.5, 3.0):
        latency.observe(value)
    text = render(
        [
            ("cti_leader", "gauge", "1 when this process consumes AMI", 1.0),
            ("cti_pop_latency_seconds", "histogram", "event to pop", latency),
        ]
    )
    assert text.splitlines() == [
        "# HELP cti_leader 1 when this process consumes AMI",
        "# TYPE cti_leader gauge",
        "cti_leader 1",
        "# HELP cti_pop_latency_seconds event to pop",
        "# TYPE cti_pop_latency_seconds histogram",
        'cti_pop_latency_seconds_bucket{le="0.01"} 2',  # a bound is inclusive
        'cti_pop_latency_seconds_bucket{le="0.1"} 3',
        'cti_pop_latency_seconds_bucket{le="1"} 4',
        'cti_pop_latency_seconds_bucket{le="+Inf"} 5',
        "cti_pop_latency_seconds_sum 3.565",
        "cti_pop_latency_seconds_count 5",
    ]
