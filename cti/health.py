"""What one process says about itself: the `/health/*` body and the Prometheus `/metrics`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cti.ami.connection import AmiClient
from cti.customers.directory import CallerDirectory
from cti.metrics import CallOutcomes, Labelled, Sample
from cti.pops.setup import Feed
from cti.routing.setup import routing_samples

if TYPE_CHECKING:
    from cti.app import Components


def health(c: Components) -> dict[str, Any]:
    """/health/ready's report: "ok" when AMI is connected (or this process is a standby: the
    lease's holder consumes AMI), the database and Redis (when configured) answer and no
    finished call had to be dropped for a full buffer; else the reasons."""
    lease = c.feed.lease if c.feed is not None else None
    leader = lease.valid() if lease is not None else True
    reasons = []
    if leader and not c.ami.connected:
        reasons.append("AMI not connected")
    if leader and c.ami.pbx_problem:
        reasons.append(c.ami.pbx_problem)
    if c.probes is not None and c.probes.database_reason is not None:
        reasons.append(c.probes.database_reason)
    if c.probes is not None and not c.probes.redis_ok:
        reasons.append("Redis unreachable")
    if c.agi is not None and c.agi.last_error:
        reasons.append(f"FastAGI {c.agi.last_error}")
    if c.service.unsaved >= c.service.buffer_limit:
        reasons.append("call buffer full: finished calls are being dropped")
    return {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "role": "standalone" if lease is None else "leader" if leader else "standby",
        "lease": None
        if lease is None
        else {"node": lease.node_id, "epoch": lease.epoch, "error": lease.last_error or None},
        "ami": {
            "connected": c.ami.connected,
            "consuming": c.ami.consuming,
            "error": c.ami.last_error,
        },
        "database": {
            "reachable": c.probes.database_ok if c.probes is not None else None,
            "error": c.probes.database_error if c.probes is not None else None,
            "reason": c.probes.database_reason if c.probes is not None else None,
            "unsaved_calls": c.service.unsaved,
            "buffer_limit": c.service.buffer_limit,
            "dropped_calls": c.service.dropped_records,
            "errors": c.service.store_errors,
        },
        "redis": None
        if c.probes is None or c.feed is None or c.feed.redis is None
        else {"reachable": c.probes.redis_ok, "error": c.probes.redis_error},
        "live_calls": len(c.service.tracker.calls),
        "fastagi": c.agi.health() if c.agi is not None else None,
        "directory": c.callers.stats() if c.callers is not None else None,
        "feed": c.feed.health() if c.feed is not None else None,
        "webhooks": c.webhooks.health() if c.webhooks is not None else None,
    }


def samples(c: Components, outcomes: CallOutcomes | None = None) -> list[Sample]:
    """Everything /metrics says about this process (prometheus-client adds process and GC)."""
    s, t, link = c.service, c.service.tracker.stats, c.ami.stats
    pbx = f"{c.settings.ami_host}:{c.settings.ami_port}"
    ami: list[Sample] = [
        ("cti_ami_connected", "gauge", "1 when logged in to Asterisk AMI", float(c.ami.connected)),
        ("cti_ami_connects_total", "counter", "AMI sessions opened", link.connects),
        (
            "cti_ami_connect_failures_total",
            "counter",
            "failed AMI connection attempts",
            link.connect_failures,
        ),
        ("cti_ami_login_failures_total", "counter", "AMI logins refused", link.login_failures),
        (
            "cti_ami_ping_timeouts_total",
            "counter",
            "keepalive Pings unanswered (half-open links)",
            link.ping_timeouts,
        ),
        (
            "cti_ami_handler_errors_total",
            "counter",
            "AMI frames whose handling failed",
            link.handler_errors,
        ),
        *_framing_samples(c.ami),
    ]
    found: list[Sample] = [
        *_on_pbx(pbx, ami),
        ("cti_events_total", "counter", "AMI events tracked", t.events),
        ("cti_orphan_events_total", "counter", "events for calls never seen starting", t.orphans),
        ("cti_late_events_total", "counter", "events for calls already finished", t.late),
        ("cti_resyncs_total", "counter", "resynchronizations after (re)connects", t.resyncs),
        ("cti_live_calls", "gauge", "calls in progress", len(s.tracker.calls)),
        ("cti_calls_finished_total", "counter", "calls finished", s.finished),
        ("cti_calls_stored_total", "counter", "calls written to the database", s.stored),
        ("cti_database_errors_total", "counter", "failed database writes", s.store_errors),
        ("cti_buffer_depth", "gauge", "finished calls waiting for the database", s.unsaved),
        (
            "cti_calls_dropped_total",
            "counter",
            "calls dropped because the buffer was full",
            s.dropped_records,
        ),
        ("cti_buffer_limit", "gauge", "finished calls the buffer holds at most", s.buffer_limit),
        (
            "cti_calls_fenced_total",
            "counter",
            "calls refused: a newer AMI consumer had written",
            s.fenced_records,
        ),
        ("cti_event_backlog", "gauge", "AMI events queued for the tracker", s.backlog),
        *_cluster_samples(c),
        (
            "cti_ws_subscribers",
            "gauge",
            "live subscribers (websocket clients)",
            c.feed.hub.connections if c.feed is not None else c.bus.subscriber_count,
        ),
        *_feed_samples(c.feed),
        ("cti_uptime_seconds", "gauge", "seconds since start", time.time() - c.started_at),
        *routing_samples(c.routing, c.agi),
        *_directory_samples(c.callers),
        *(c.webhooks.samples() if c.webhooks is not None else []),
    ]
    if outcomes is not None:
        found.append(
            (
                "cti_calls_total",
                "counter",
                "calls this process finished, by line (DID), direction, outcome and missed kind",
                outcomes.labelled(),
            )
        )
    if c.auth is not None:
        brake = c.auth.throttle
        found += [
            ("cti_login_failures_total", "counter", "failed console sign-ins", brake.failures),
            ("cti_login_lockouts_total", "counter", "sign-in failures that locked", brake.lockouts),
            ("cti_login_refused_total", "counter", "sign-ins refused while locked", brake.refused),
        ]
    return found


def _cluster_samples(c: Components) -> list[Sample]:
    lease = c.feed.lease if c.feed is not None else None
    probes = c.probes
    leader = lease.valid() if lease is not None else True
    samples: list[Sample] = [
        (
            "cti_leader",
            "gauge",
            "1 when this process consumes AMI (holds the lease, or alone)",
            float(leader),
        ),
        (
            "cti_lease_epoch",
            "gauge",
            "fencing epoch of the AMI lease held (0: none)",
            float(lease.epoch or 0) if lease else 0.0,
        ),
        (
            "cti_lease_changes_total",
            "counter",
            "times this process took or gave up the AMI lease",
            lease.changes if lease else 0,
        ),
        (
            "cti_lease_errors_total",
            "counter",
            "AMI lease renewals that failed (Redis away)",
            lease.errors if lease else 0,
        ),
    ]
    if probes is not None:
        samples.append(
            ("cti_database_up", "gauge", "1 when the database answers", float(probes.database_ok))
        )
        if c.feed is not None and c.feed.redis is not None:
            samples.append(
                ("cti_redis_up", "gauge", "1 when Redis answers", float(probes.redis_ok))
            )
    return samples


def _on_pbx(pbx: str, samples: list[Sample]) -> list[Sample]:
    """The AMI link's samples labelled with the PBX they are about (host:port)."""
    out: list[Sample] = []
    for name, kind, text, value in samples:
        if isinstance(value, int | float):
            out.append((name, kind, text, Labelled(("pbx",), {(pbx,): float(value)})))
        else:
            out.append((name, kind, text, value))
    return out


def _framing_samples(ami: AmiClient) -> list[Sample]:
    f = ami.framing
    return [
        ("cti_ami_frames_total", "counter", "AMI frames decoded", f.frames),
        ("cti_ami_bytes_total", "counter", "bytes read from AMI", f.bytes),
        (
            "cti_ami_oversized_frames_total",
            "counter",
            "AMI frames over the size limit, dropped",
            f.oversized,
        ),
        (
            "cti_ami_malformed_frames_total",
            "counter",
            "AMI frames without headers or with too many",
            f.malformed,
        ),
        (
            "cti_ami_undecodable_frames_total",
            "counter",
            "AMI frames that were not UTF-8",
            f.undecodable,
        ),
        (
            "cti_ami_flow_pauses_total",
            "counter",
            "times AMI reads paused for a full backlog",
            ami.stats.flow_pauses,
        ),
    ]


def _feed_samples(feed: Feed | None) -> list[Sample]:
    if feed is None:
        return []
    hub, pops = feed.hub, feed.pops
    return [
        ("cti_ws_messages_total", "counter", "messages routed to at least one login", hub.routed),
        (
            "cti_ws_deliveries_total",
            "counter",
            "messages handed to websockets here",
            hub.deliveries,
        ),
        ("cti_pops_total", "counter", "screen-pops opened (ringing or transferred)", pops.shown),
        (
            "cti_pop_latency_seconds",
            "histogram",
            "from the AMI event's arrival to the pop handed to the feed",
            pops.latency,
        ),
        (
            "cti_pop_card_failures_total",
            "counter",
            "pops sent without the customer card",
            pops.card_failures,
        ),
        (
            "cti_feed_publishing",
            "gauge",
            "1 when this process publishes call events",
            float(feed.publishing),
        ),
    ]


def _directory_samples(callers: CallerDirectory | None) -> list[Sample]:
    if callers is None:
        return []
    stats = callers.stats()
    return [
        (
            "cti_directory_ready",
            "gauge",
            "1 when the caller lookup answers from memory",
            float(stats["ready"]),
        ),
        (
            "cti_directory_customers",
            "gauge",
            "customers with a phone in the caller lookup",
            stats["customers"],
        ),
        ("cti_directory_loads_total", "counter", "full loads of the caller lookup", stats["loads"]),
        (
            "cti_directory_refresh_errors_total",
            "counter",
            "failed directory refreshes",
            callers.refresh_errors,
        ),
    ]
