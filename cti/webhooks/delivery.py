"""The webhook sender: claims due deliveries from the outbox, POSTs them signed, records the
answer, and schedules retries with backoff until the window closes. Owns its HTTP session."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db.session import writing
from cti.webhooks import outbox
from cti.webhooks.outbox import Claimed
from cti.webhooks.retry import RetryPolicy
from cti.webhooks.signing import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)

log = logging.getLogger(__name__)

USER_AGENT = "cti-webhooks/1"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def body_of(payload: dict[str, object]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def where(url: str) -> str:
    """The receiver as logs show it: scheme, host and port, never credentials or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}"


@dataclass(frozen=True)
class Attempt:
    """What one POST came to."""

    status: int | None
    error: str | None  #: None: the receiver took it (2xx)


@dataclass
class DeliveryStats:
    sent: int = 0
    delivered: int = 0
    failures: int = 0
    gave_up: int = 0
    errors: int = 0  #: the worker's own failures (database down)


class DeliveryWorker:
    """Sends what the outbox holds; any number of processes may run one on PostgreSQL."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        policy: RetryPolicy | None = None,
        timeout: float = 10.0,
        concurrency: int = 4,
        batch: int = 50,
        idle: float = 5.0,
        clock: Callable[[], datetime] = _utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._sessions = sessions
        self.policy = policy if policy is not None else RetryPolicy()
        self._timeout = timeout
        self._concurrency = max(1, concurrency)
        self._batch = max(1, batch)
        self._idle = idle
        self._clock = clock
        self._rand = rand
        self._wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self.stats = DeliveryStats()
        self.last_error = ""

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is ours: the request's timeout and room to record it."""
        return timedelta(seconds=self._timeout + 30.0)

    def wake(self) -> None:
        """New events were enqueued here: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled."""
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={"User-Agent": USER_AGENT},
        )
        try:
            delay = 1.0
            while True:
                try:
                    worked = await self._step_to_the_end()
                    delay = 1.0
                except Exception as exc:  # the database is down: keep the outbox, try again
                    self.stats.errors += 1
                    self.last_error = f"{exc.__class__.__name__}: {exc}"
                    log.error(
                        "webhook delivery failed (%s); retrying in %.0f s", self.last_error, delay
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                if not worked:
                    await self._sleep()
        finally:
            await self._http.close()
            self._http = None

    async def _step_to_the_end(self) -> int:
        """A step that a shutdown lets finish (bounded by the timeout): a request answered by
        the receiver is recorded, so the next process does not send it again."""
        step = asyncio.ensure_future(self.step())
        try:
            return await asyncio.shield(step)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(step, self._timeout + 5.0)
            raise

    async def _sleep(self) -> None:
        """Until woken, the next delivery is due, or the idle poll (other processes enqueue)."""
        async with self._sessions() as session:
            due = await outbox.next_due(session)
        wait = self._idle
        if due is not None:
            wait = max(0.0, min(wait, (due - self._clock()).total_seconds()))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def step(self) -> int:
        """Claim what is due and send it; returns how many deliveries were attempted."""
        async with writing(self._sessions) as session:
            claimed = await outbox.claim(
                session, now=self._clock(), lease=self.lease, limit=self._batch
            )
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self._concurrency)

        async def one(item: Claimed) -> None:
            async with gate:
                await self._record(item, await self.send(item))

        await asyncio.gather(*(one(item) for item in claimed))
        return len(claimed)

    async def send(self, item: Claimed) -> Attempt:
        """POST one event, signed now; never raises."""
        http = self._http
        if http is None:
            raise RuntimeError("DeliveryWorker.send outside run()")
        body = body_of(item.payload)
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: item.event_id,
            EVENT_TYPE_HEADER: item.event_type,
            SIGNATURE_HEADER: signature_header(item.secret, int(self._clock().timestamp()), body),
            "X-CTI-Delivery-Attempt": str(item.attempts),
        }
        self.stats.sent += 1
        try:
            async with http.post(
                item.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                snippet = (await response.content.read(200)).decode("utf-8", "replace")
                if 200 <= response.status < 300:
                    return Attempt(response.status, None)
                return Attempt(
                    response.status,
                    f"HTTP {response.status} {response.reason or ''}: {snippet}".strip(),
                )
        except TimeoutError:
            return Attempt(None, f"no answer within {self._timeout:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Attempt(None, f"{exc.__class__.__name__}: {exc}")

    async def _record(self, item: Claimed, attempt: Attempt) -> None:
        now = self._clock()
        async with writing(self._sessions) as session:
            if attempt.error is None:
                self.stats.delivered += 1
                await outbox.delivered(
                    session, item.delivery_id, status=attempt.status or 0, at=now
                )
                return
            self.stats.failures += 1
            retry_at = self.policy.next_attempt(
                attempt=item.attempts, event_at=item.event_at, now=now, rand=self._rand
            )
            await outbox.failed(
                session,
                item.delivery_id,
                status=attempt.status,
                error=attempt.error,
                retry_at=retry_at,
            )
        if retry_at is None:
            self.stats.gave_up += 1
            log.warning(
                "webhook %s %s to %s failed for good after %d attempts: %s",
                item.event_type,
                item.event_id,
                where(item.url),
                item.attempts,
                attempt.error,
            )
        else:
            log.info(
                "webhook %s %s to %s failed (attempt %d: %s); next at %s",
                item.event_type,
                item.event_id,
                where(item.url),
                item.attempts,
                attempt.error,
                retry_at.isoformat(),
            )

    def health(self) -> dict[str, object]:
        s = self.stats
        return {
            "sent": s.sent,
            "delivered": s.delivered,
            "failures": s.failures,
            "gave_up": s.gave_up,
            "error": self.last_error or None,
        }


__all__ = ["Attempt", "DeliveryWorker", "body_of", "where"]
