"""Console sessions: how long they live and when a use is worth writing down."""

from __future__ import annotations

from dataclasses import dataclass

from cti.auth.store import SessionRecord


@dataclass(frozen=True, kw_only=True)
class SessionPolicy:
    """A session ends `ttl` seconds after login (a working day by default), at logout, or
    `idle_timeout` seconds after its last use (0: never for idleness)."""

    ttl: float = 12 * 3600.0
    idle_timeout: float = 0.0
    #: last_seen_at is written at most this often per session (not on every request)
    touch_every: float = 60.0
    #: a process trusts what it read about a session for this long (logout elsewhere, disable)
    cache_seconds: float = 5.0

    def alive(self, session: SessionRecord, now: float) -> bool:
        if session.expires_at <= now:
            return False
        return not (self.idle_timeout > 0 and now - session.last_seen_at > self.idle_timeout)

    def needs_touch(self, session: SessionRecord, now: float) -> bool:
        return now - session.last_seen_at >= self.touch_every


__all__ = ["SessionPolicy"]
