"""Webhook use cases: subscriptions added, listed and removed (for the API and the CLI), the
delivery log, and the hooks that put stored facts into the outbox in their own transaction."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.model import CallRecord
from cti.db.missed_models import CallbackRow, MissedCallRow
from cti.db.session import writing
from cti.db.webhook_models import WebhookSubscriptionRow
from cti.missed.rules import is_missed
from cti.missed.views import callback_view, missed_view
from cti.webhooks import model, outbox
from cti.webhooks.links import Links
from cti.webhooks.model import DeliveryState, Event

#: longest URL and description accepted; shortest secret (HMAC keys shorter than this are guessable)
URL_MAX, DESCRIPTION_MAX, SECRET_MIN, SECRET_MAX = 2000, 200, 16, 256
#: deliveries shown by the log at most
LOG_MAX = 1000


class WebhookError(ValueError):
    """A subscription cannot be made as asked; the message says what to change."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SubscriptionNotFound(LookupError):
    """No subscription has this id."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host; anything else is refused before it is stored."""
    url = url.strip()
    if not url or len(url) > URL_MAX or any(c.isspace() or ord(c) < 32 for c in url):
        raise WebhookError(
            f"url must be an http(s) URL of at most {URL_MAX} characters", field="url"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise WebhookError("url is not a valid URL", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("url must start with http:// or https:// and name a host", field="url")
    return url


class WebhookService:
    """Subscriptions and the outbox hooks; the sending is `cti.webhooks.delivery`."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        links: Links | None = None,
        clock: Callable[[], datetime] = _utcnow,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self.links = links if links is not None else Links()
        self._clock = clock
        self.on_enqueued = on_enqueued  #: the local sender's wake-up (set by the composition root)
        #: live events of calls not written yet (`LiveEvents.pending`), written before their end
        self.pending_live: Callable[[Collection[str]], list[Event]] | None = None

    def sessions(self) -> AsyncSession:
        return self._sessions()

    def now(self) -> datetime:
        return self._clock()

    # --- subscriptions -------------------------------------------------------------------------

    async def add(
        self,
        url: str,
        events: str | Sequence[str],
        *,
        secret: str | None = None,
        description: str = "",
        actor: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """A new subscription and its secret (generated when not given: shown this once)."""
        url = check_url(url)
        try:
            kinds = model.parse_events(events)
        except ValueError as exc:
            raise WebhookError(str(exc), field="events") from None
        if secret is None or secret == "":
            secret = secrets.token_urlsafe(32)
        if not SECRET_MIN <= len(secret) <= SECRET_MAX or any(c.isspace() for c in secret):
            raise WebhookError(
                f"secret must be {SECRET_MIN} to {SECRET_MAX} characters without spaces",
                field="secret",
            )
        if len(description) > DESCRIPTION_MAX:
            raise WebhookError(
                f"description is over {DESCRIPTION_MAX} characters", field="description"
            )
        row = WebhookSubscriptionRow(
            url=url,
            events=list(kinds),
            secret=secret,
            description=description,
            active=True,
            created_at=self._clock(),
            created_by=actor,
        )
        async with writing(self._sessions) as session:
            session.add(row)
            await session.flush()
            view = outbox.subscription_of(row).to_json()
        return {**view, **_empty_summary()}, secret

    async def listing(self) -> list[dict[str, Any]]:
        """Every subscription with its deliveries by state and the last error (no secrets)."""
        async with self._sessions() as session:
            subs = await outbox.subscriptions(session)
            counts = await outbox.summary(session)
        return [{**s.to_json(), **counts.get(s.id, _empty_summary())} for s in subs]

    async def get(self, subscription_id: int) -> dict[str, Any]:
        for item in await self.listing():
            if item["id"] == subscription_id:
                return item
        raise SubscriptionNotFound(f"no webhook subscription with id {subscription_id}")

    async def remove(self, subscription_id: int) -> None:
        async with writing(self._sessions) as session:
            if not await outbox.remove_subscription(session, subscription_id):
                raise SubscriptionNotFound(f"no webhook subscription with id {subscription_id}")

    async def deliveries(
        self, subscription_id: int, *, limit: int = 100, state: str | None = None
    ) -> list[dict[str, Any]]:
        """The delivery log of one subscription, newest first."""
        if state is not None and state not in {s.value for s in DeliveryState}:
            raise WebhookError("state must be pending, delivered or failed", field="state")
        await self.get(subscription_id)
        async with self._sessions() as session:
            return await outbox.deliveries(
                session, subscription_id, limit=min(limit, LOG_MAX), state=state
            )

    # --- the outbox hooks (run inside the writer's transaction) ---------------------------------

    async def enqueue(self, session: AsyncSession, events: Sequence[Event]) -> int:
        return await outbox.enqueue(session, events)

    async def record_calls(
        self, session: AsyncSession, records: Sequence[CallRecord]
    ) -> list[dict[str, Any]]:
        """`CallRepository(after_save=...)`, after the callback book: call.ended for every call,
        call.missed for misses, callback.resolved for callbacks the calls resolved."""
        now = self._clock()
        latest = {r.linkedid: r for r in records}
        events: list[Event] = []
        ordered: list[Event] = list(self.pending_live(list(latest))) if self.pending_live else []
        for record in latest.values():
            url = self.links.recording_url(record.recording, record.linkedid)
            events.append(model.call_ended(record, at=now, recording_url=url))
        missed = [r.linkedid for r in latest.values() if is_missed(r)]
        if missed:
            rows = await session.execute(
                select(MissedCallRow, CallbackRow)
                .outerjoin(CallbackRow, CallbackRow.id == MissedCallRow.callback_id)
                .where(MissedCallRow.linkedid.in_(missed))
            )
            for row, callback in rows.all():
                events.append(model.call_missed(missed_view(row, callback), at=now))
        resolved = await session.scalars(
            select(CallbackRow).where(CallbackRow.resolving_linkedid.in_(list(latest)))
        )
        for callback in resolved.all():
            events.append(model.callback_resolved(callback_view(callback), at=now))
        events.sort(key=lambda e: _ORDER[e.type])  # within a call: ended, missed, resolved
        await self.enqueue_now(session, [*ordered, *events])
        return []

    async def callback_resolved(self, session: AsyncSession, view: dict[str, Any]) -> None:
        """A callback closed by hand (`Callbacks.resolve`)."""
        await self.enqueue_now(session, [model.callback_resolved(view, at=self._clock())])

    async def customer_saved(
        self, session: AsyncSession, view: dict[str, Any], created: bool
    ) -> None:
        """A customer created or changed through the API or the CLI."""
        event = model.customer_changed(view, created=created, at=self._clock())
        await self.enqueue_now(session, [event])

    async def enqueue_now(self, session: AsyncSession, events: Sequence[Event]) -> None:
        if await self.enqueue(session, events) and self.on_enqueued is not None:
            wake = self.on_enqueued  # once committed: before, the sender would not see the rows
            sa_event.listen(session.sync_session, "after_commit", lambda _s: wake(), once=True)


_ORDER = {
    model.EventType.CALL_ENDED: 0,
    model.EventType.CALL_MISSED: 1,
    model.EventType.CALLBACK_RESOLVED: 2,
}


def _empty_summary() -> dict[str, Any]:
    return {"pending": 0, "delivered": 0, "failed": 0, "last_error": None}


__all__ = ["SubscriptionNotFound", "WebhookError", "WebhookService", "check_url"]
