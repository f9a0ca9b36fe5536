"""/metrics of a running server, scraped as Prometheus does: finished calls by line and outcome,
the AMI link labelled with its PBX, the pop latency histogram, process and GC metrics."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.pops_world import running, until


async def test_a_scrape_after_calls_has_labelled_counts_and_process_metrics(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as world:
        feed = await world.feed("101")
        answered, _, one = world.sim.start_scenario("answered", agent="101", ring=1.0, talk=0.5)
        await one
        await world.settle()
        await until(lambda: bool(feed.of("call.ended", answered)))
        async with world.session.get(f"{world.url}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    calls = [s for s in families["cti_calls"].samples if s.name == "cti_calls_total"]
    assert [(s.labels["direction"], s.labels["outcome"], s.value) for s in calls] == [
        ("inbound", "answered", 1.0)
    ]
    assert calls[0].labels["line"]  # the DID the call came in on
    (connected,) = families["cti_ami_connected"].samples
    assert connected.labels == {"pbx": f"127.0.0.1:{world.sim.port}"} and connected.value == 1.0
    assert families["cti_pop_latency_seconds"].type == "histogram"
    assert "process_resident_memory_bytes" in families
    assert "python_gc_objects_collected" in families
