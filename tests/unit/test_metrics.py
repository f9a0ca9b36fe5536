"""Prometheus exposition through prometheus-client: samples, labelled samples and histograms
(cumulative buckets, sum, count); finished calls counted by line and outcome."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from cti.metrics import CallOutcomes, Histogram, Labelled, exposition, process_registry, render


def parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


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
    assert "# TYPE cti_pop_latency_seconds histogram" in text
    got = parsed(text)
    assert got[("cti_leader", ())] == 1.0
    bucket = "cti_pop_latency_seconds_bucket"
    assert got[(bucket, (("le", "0.01"),))] == 2  # a bound is inclusive
    assert got[(bucket, (("le", "0.1"),))] == 3
    assert got[(bucket, (("le", "1.0"),))] == 4
    assert got[(bucket, (("le", "+Inf"),))] == 5
    assert got[("cti_pop_latency_seconds_sum", ())] == 3.565
    assert got[("cti_pop_latency_seconds_count", ())] == 5


def test_finished_calls_are_counted_by_line_and_outcome_and_others_nodes_are_not() -> None:
    outcomes = CallOutcomes()
    call = {"did": "74952220101", "direction": "inbound", "outcome": "missed"}
    outcomes({"type": "call.ended", "call": {**call, "missed_kind": "abandoned"}})
    outcomes({"type": "call.ended", "call": {**call, "missed_kind": "abandoned"}})
    outcomes({"type": "call.ended", "call": {**call, "outcome": "answered"}})
    outcomes({"type": "call.ended", "agent": "101", "call": call})  # a pop's end: same call
    outcomes({"type": "call.ended", "node": "n2", "call": call})  # another node's call
    text = render([("cti_calls_total", "counter", "calls finished", outcomes.labelled())])
    got = parsed(text)
    key = (("direction", "inbound"), ("line", "74952220101"))
    assert (
        got[
            (
                "cti_calls_total",
                (
                    *key[:1],
                    ("line", "74952220101"),
                    ("missed_kind", "abandoned"),
                    ("outcome", "missed"),
                ),
            )
        ]
        == 2
    )
    assert (
        got[
            (
                "cti_calls_total",
                (*key[:1], ("line", "74952220101"), ("missed_kind", ""), ("outcome", "answered")),
            )
        ]
        == 1
    )
    assert len([k for k in got if k[0] == "cti_calls_total"]) == 2


def test_the_process_registry_adds_process_and_gc_metrics() -> None:
    registry = process_registry(
        lambda: [
            (
                "cti_ami_connected",
                "gauge",
                "1 when logged in",
                Labelled(("pbx",), {("pbx1:5038",): 1.0}),
            )
        ]
    )
    got = parsed(exposition(registry))
    assert got[("cti_ami_connected", (("pbx", "pbx1:5038"),))] == 1.0
    names = {name for name, _ in got}
    assert "process_resident_memory_bytes" in names and "python_gc_collections_total" in names
    assert "python_info" in names
