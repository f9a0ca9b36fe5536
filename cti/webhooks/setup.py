"""The webhooks of one `cti serve` process, built from the settings: the service (subscriptions,
outbox hooks), the sender and the live events' writer, and the tasks the application owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.config import Settings
from cti.db.session import writing
from cti.webhooks import outbox
from cti.webhooks.delivery import DeliveryWorker
from cti.webhooks.links import Links
from cti.webhooks.live import LiveEvents
from cti.webhooks.retry import RetryPolicy
from cti.webhooks.service import WebhookService

log = logging.getLogger(__name__)


def links(settings: Settings) -> Links:
    return Links(
        crm_url_template=settings.crm_url_template,
        recording_url_template=settings.recording_url_template,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        first=settings.webhook_retry_first_seconds,
        give_up_after=settings.webhook_retry_hours * 3600.0,
    )


@dataclass
class Webhooks:
    service: WebhookService
    worker: DeliveryWorker
    live: LiveEvents | None = None
    keep_days: float = 30.0

    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        work: list[tuple[str, Coroutine[Any, Any, None]]] = [
            ("cti-webhooks", self.worker.run()),
            ("cti-webhooks-prune", self._prune_forever()),
        ]
        if self.live is not None:
            work.append(("cti-webhooks-live", self.live.run()))
        return work

    async def _prune_forever(self, every: float = 3600.0) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                async with writing(self.service.sessions) as session:
                    before = self.service.now() - timedelta(days=self.keep_days)
                    await outbox.prune(session, before=before)
            except Exception as exc:
                log.warning("pruning the webhook log failed: %s", exc)

    def samples(self) -> list[tuple[str, str, str, float]]:
        """Prometheus samples (cti.metrics.Sample)."""
        s = self.worker.stats
        return [
            ("cti_webhook_requests_total", "counter", "webhook POSTs sent", s.sent),
            (
                "cti_webhook_delivered_total",
                "counter",
                "webhook deliveries answered 2xx",
                s.delivered,
            ),
            (
                "cti_webhook_failures_total",
                "counter",
                "webhook attempts that failed (retried)",
                s.failures,
            ),
            (
                "cti_webhook_gave_up_total",
                "counter",
                "webhook deliveries failed for good (24 h)",
                s.gave_up,
            ),
            (
                "cti_webhook_live_dropped_total",
                "counter",
                "live webhook events dropped (queue full)",
                self.live.dropped if self.live is not None else 0,
            ),
        ]

    def health(self) -> dict[str, Any]:
        report = self.worker.health()
        if self.live is not None:
            report["live_dropped"] = self.live.dropped
        return report


def webhooks_for_server(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    snapshot: Callable[[str], Mapping[str, Any] | None] | None = None,
    publishing: Callable[[], bool] = lambda: True,
) -> Webhooks:
    """`snapshot(linkedid)`: the live call (for call.ringing/answered); `publishing`: whether
    this process turns call events into messages (the lease holder with Redis)."""
    service = WebhookService(sessions=sessions, links=links(settings))
    worker = DeliveryWorker(
        sessions=sessions,
        policy=retry_policy(settings),
        timeout=settings.webhook_timeout,
        concurrency=settings.webhook_concurrency,
    )
    service.on_enqueued = worker.wake
    live = None
    if snapshot is not None:
        live = LiveEvents(
            service=service, sessions=sessions, snapshot=snapshot, publishing=publishing
        )
    return Webhooks(service=service, worker=worker, live=live, keep_days=settings.webhook_log_days)


__all__ = ["Webhooks", "links", "retry_policy", "webhooks_for_server"]
