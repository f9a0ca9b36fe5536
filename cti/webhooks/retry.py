"""When a failed webhook delivery is tried again: exponential backoff with jitter, for a day."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n (1 = the first retry) waits `first * factor**(n-1)` seconds, at most `cap`,
    spread by +-`jitter` (a fraction) so that many failed deliveries do not return together.
    A delivery still failing `give_up_after` seconds after its event is marked failed."""

    first: float = 10.0
    factor: float = 2.0
    cap: float = 3600.0
    jitter: float = 0.2
    give_up_after: float = 24 * 3600.0

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the `attempt`-th failed attempt (1-based)."""
        base = min(self.cap, self.first * self.factor ** max(0, attempt - 1))
        spread = base * self.jitter * (2.0 * rand() - 1.0)
        return max(0.0, base + spread)

    def next_attempt(
        self,
        *,
        attempt: int,
        event_at: datetime,
        now: datetime,
        rand: Callable[[], float] = random.random,
    ) -> datetime | None:
        """When to try again after the `attempt`-th failure; None: give up (past the window).
        The last try is placed at the end of the window rather than skipped."""
        end = event_at + timedelta(seconds=self.give_up_after)
        if now >= end:
            return None
        return min(end, now + timedelta(seconds=self.delay(attempt, rand)))

    def schedule(self, attempts: int) -> list[float]:
        """The delays without jitter (for the docs and the tests)."""
        return [min(self.cap, self.first * self.factor**n) for n in range(attempts)]


__all__ = ["RetryPolicy"]
