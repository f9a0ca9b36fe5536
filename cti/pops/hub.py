"""The feed: routes every outgoing message to the logins that may receive it, numbers it in each
login's journal, and hands it to that login's open websockets here (and, through the fan-out, in
every other process).

Who receives what is decided by `cti.auth.policy` from the principals with a feed open (or
closed less than `grace` seconds ago, so that a reconnect can resume): a message naming an
`agent` goes to that login only, and is journaled even when they are away (a pop waits for its
agent); a `call.*` message goes to the call's parties, to whoever was shown the call until it
ends, and to supervisors and administrators; anything else to supervisors and administrators.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from cti.auth import policy
from cti.auth.principal import Principal, Role, Via
from cti.calls.model import iso
from cti.pops.journal import Journal, MemoryJournal, RedisJournal, numbered

log = logging.getLogger(__name__)

#: calls remembered as shown to someone (a call that never ends is forgotten after this many)
MAX_SHOWN = 50_000


class Outlet(Protocol):
    """One open websocket of a login, as the hub sees it: a non-blocking, bounded inbox."""

    principal: Principal

    def offer(self, seq: int, text: str) -> None: ...

    def start_over(self) -> None:
        """The numbering began again (Redis lost the journal): reconnect for a fresh snapshot."""


class Fanout(Protocol):
    def publish(self, payload: dict[str, Any]) -> None: ...


@dataclass
class _Presence:
    principal: Principal
    until: float  #: epoch seconds; a login with a feed open here is renewed while it lasts


def dumps(message: dict[str, Any]) -> str:
    """A message's JSON body (compact, UTF-8 as is); its `seq` is spliced in per login."""
    if "seq" in message:
        message = {k: v for k, v in message.items() if k != "seq"}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def principal_to_json(p: Principal) -> dict[str, Any]:
    return {
        "login": p.login,
        "role": p.role.value,
        "extensions": sorted(p.extensions),
        "name": p.name,
    }


def principal_from_json(data: dict[str, Any]) -> Principal:
    return Principal(
        login=str(data["login"]),
        role=Role(data.get("role", "agent")),
        via=Via.SESSION,
        extensions=frozenset(str(x) for x in data.get("extensions", ())),
        name=str(data.get("name", "")),
    )


class FeedHub:
    """One per process. `publish` is a synchronous bus listener; with an asynchronous journal
    (Redis) the appends run, in order, in `write_forever`, a task the application owns."""

    def __init__(
        self,
        *,
        journal: Journal | None = None,
        live_calls: Callable[[], list[dict[str, Any]]] = list,
        grace: float = 120.0,
        node_id: str = "",
        clock: Callable[[], float] = time.time,
        max_pending: int = 100_000,
    ) -> None:
        self.journal: Journal = journal if journal is not None else MemoryJournal()
        self._live_calls = live_calls
        self.grace = grace
        self.node_id = node_id or uuid.uuid4().hex[:8]
        self._clock = clock
        self.fanout: Fanout | None = None
        self._outlets: dict[str, set[Outlet]] = {}
        self._here: dict[str, _Presence] = {}  #: logins with a feed open here, or lately
        self._there: dict[str, _Presence] = {}  #: the same, as other processes announced them
        self._by_extension: dict[str, set[str]] = {}
        self._extensions_of: dict[str, frozenset[str]] = {}
        self._watchers: set[str] = set()  #: present logins that see everything
        self._shown: dict[str, set[str]] = {}  #: linkedid -> logins shown the call
        self._writes: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._max_pending = max_pending
        self.routed = 0  #: messages with at least one recipient
        self.deliveries = 0  #: messages handed to local websockets
        self.dropped = 0  #: messages lost because the ordered writer's backlog was full
        self.journal_errors = 0

    # --- who is here ------------------------------------------------------------------------------

    def attach(self, outlet: Outlet) -> None:
        """A websocket of `outlet.principal` opened here: it receives their messages from now on."""
        login = outlet.principal.login
        self._outlets.setdefault(login, set()).add(outlet)
        self._here[login] = _Presence(outlet.principal, float("inf"))
        self._reindex(login)
        self._announce(login)

    def detach(self, outlet: Outlet) -> None:
        login = outlet.principal.login
        outlets = self._outlets.get(login)
        if outlets is None:
            return
        outlets.discard(outlet)
        if not outlets:
            del self._outlets[login]
            # keep journaling what they would have seen, for a reconnect within `grace`
            self._here[login] = _Presence(outlet.principal, self._clock() + self.grace)
            self._announce(login)

    def refresh_principal(self, outlet: Outlet, principal: Principal) -> None:
        """A re-check found the principal changed (role, phones): route by the new one."""
        outlet.principal = principal
        self._here[principal.login] = _Presence(principal, float("inf"))
        self._reindex(principal.login)
        self._announce(principal.login)

    @property
    def connections(self) -> int:
        return sum(len(o) for o in self._outlets.values())

    def connected(self, login: str) -> int:
        return len(self._outlets.get(login, ()))

    def _presence(self, login: str) -> _Presence | None:
        now = self._clock()
        for table in (self._here, self._there):
            found = table.get(login)
            if found is not None and found.until > now:
                return found
        return None

    def _reindex(self, login: str) -> None:
        for ext in self._extensions_of.pop(login, frozenset()):
            logins = self._by_extension.get(ext)
            if logins is not None:
                logins.discard(login)
                if not logins:
                    del self._by_extension[ext]
        self._watchers.discard(login)
        presence = self._presence(login)
        if presence is None:
            return
        principal = presence.principal
        if policy.sees_everything(principal):
            self._watchers.add(login)
        self._extensions_of[login] = principal.extensions
        for ext in principal.extensions:
            self._by_extension.setdefault(ext, set()).add(login)

    def expire(self) -> None:
        """Forget logins whose grace has run out (called every few seconds)."""
        now = self._clock()
        for table in (self._here, self._there):
            for login in [k for k, v in table.items() if v.until <= now]:
                del table[login]
                self._reindex(login)

    # --- presence across processes ------------------------------------------------------------

    def _announce(self, login: str) -> None:
        if self.fanout is None:
            return
        presence = self._here.get(login)
        if presence is None:
            return
        # a feed open here is announced as lasting one grace period; `announce_all` renews it
        until = min(presence.until, self._clock() + self.grace)
        self.fanout.publish(
            {"presence": [{"principal": principal_to_json(presence.principal), "until": until}]}
        )

    def announce_all(self) -> None:
        """Tell the other processes who has a feed here (at start, on request, periodically)."""
        if self.fanout is None or not self._here:
            return
        now = self._clock()
        self.fanout.publish(
            {
                "presence": [
                    {
                        "principal": principal_to_json(p.principal),
                        "until": min(p.until, now + self.grace),
                    }
                    for p in self._here.values()
                    if p.until > now
                ]
            }
        )

    def hello(self) -> None:
        """Joined the fan-out: ask the others who has a feed open where."""
        if self.fanout is not None:
            self.fanout.publish({"hello": True})
            self.announce_all()

    def from_fanout(self, payload: dict[str, Any]) -> None:
        """A message of another process: deliver to our websockets, or learn their presence."""
        to = payload.get("to")
        body = payload.get("body")
        stream = payload.get("stream")
        if isinstance(stream, str) and isinstance(self.journal, RedisJournal):
            if self.journal.adopt(stream):
                self._start_over()
        if isinstance(to, list) and isinstance(body, str):
            self._deliver([(str(login), int(seq)) for login, seq in to], body)
        for item in payload.get("presence") or ():
            try:
                principal = principal_from_json(item["principal"])
                self._there[principal.login] = _Presence(principal, float(item["until"]))
            except (KeyError, TypeError, ValueError):
                continue
            self._reindex(principal.login)
        if payload.get("hello"):
            self.announce_all()

    # --- routing ------------------------------------------------------------------------------

    def recipients(self, message: dict[str, Any]) -> list[str]:
        """The logins that get `message`, per the authorization policy."""
        agent = message.get("agent")
        if agent is not None:
            return [agent] if isinstance(agent, str) and agent else []  # for that person only
        kind = str(message.get("type", ""))
        if not kind.startswith("call."):
            return [w for w in self._watchers if self._allowed(w, message)]
        call = message.get("call")
        linkedid = call.get("linkedid") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(linkedid, str):
            return [w for w in self._watchers if self._allowed(w, message)]
        candidates = set(self._watchers)
        for ext in policy.call_parties(call):
            candidates.update(self._by_extension.get(ext, ()))
        shown = self._shown.get(linkedid, set())
        out = [
            login
            for login in candidates | shown
            if (login in shown and self._presence(login) is not None)
            or self._allowed(login, message)
        ]
        if kind == "call.ended":
            self._shown.pop(linkedid, None)
        elif out:
            self._remember_shown(linkedid, out)
        return out

    def _allowed(self, login: str, message: dict[str, Any]) -> bool:
        presence = self._presence(login)
        return presence is not None and policy.may_receive(presence.principal, message)

    def _remember_shown(self, linkedid: str, logins: Iterable[str]) -> None:
        shown = self._shown.get(linkedid)
        if shown is None:
            if len(self._shown) >= MAX_SHOWN:
                self._shown.pop(next(iter(self._shown)))
            shown = self._shown[linkedid] = set()
        shown.update(logins)

    def publish(self, message: dict[str, Any]) -> None:
        """Route, number and deliver one message (a listener of the bus)."""
        recipients = self.recipients(message)
        if not recipients:
            return
        self.routed += 1
        body = dumps(message)
        if self.journal.synchronous:
            pairs = [(login, self.journal.append_now(login, body)) for login in recipients]
            self._deliver(pairs, body)
            if self.fanout is not None:
                self.fanout.publish({"to": pairs, "body": body})
        else:
            self._queue(("message", recipients, body))

    def keep_pop(self, login: str, linkedid: str, view: dict[str, Any] | None) -> None:
        """Remember (or, with None, forget) `login`'s open pop for a call: their snapshot's pops."""
        text = dumps(view) if view is not None else None
        if isinstance(self.journal, MemoryJournal):
            self.journal.keep_pop_now(login, linkedid, text)
        else:
            self._queue(("pop", login, linkedid, text))

    def _queue(self, item: tuple[Any, ...]) -> None:
        if self._writes.qsize() >= self._max_pending:
            self._writes.get_nowait()
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("feed journal backlog full (%d): dropping the oldest", self._max_pending)
        self._writes.put_nowait(item)

    def _start_over(self) -> None:
        """Every socket here holds numbers of a stream that is gone: each reconnects and gets a
        snapshot of the new one (a socket kept open would discard the new, lower numbers)."""
        outlets = [o for group in self._outlets.values() for o in group]
        log.warning("feed numbering began again: %d websocket(s) here resync", len(outlets))
        for outlet in outlets:
            outlet.start_over()

    def _deliver(self, pairs: list[tuple[str, int]], body: str) -> None:
        for login, seq in pairs:
            outlets = self._outlets.get(login)
            if not outlets:
                continue
            text = numbered(seq, body)
            for outlet in tuple(outlets):
                outlet.offer(seq, text)
                self.deliveries += 1

    async def write_forever(self, backoff_max: float = 30.0) -> None:
        """The ordered writer of an asynchronous (Redis) journal: appends in batches, then
        delivers here and publishes to the other processes."""
        delay = 0.2
        while True:
            batch = [await self._writes.get()]
            while len(batch) < 200 and not self._writes.empty():
                batch.append(self._writes.get_nowait())
            while True:
                try:
                    await self._write(batch)
                    delay = 0.2
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.journal_errors += 1
                    log.error(
                        "feed journal write failed (%s: %s); retrying in %.1f s",
                        exc.__class__.__name__,
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, backoff_max)

    async def _write(self, batch: list[tuple[Any, ...]]) -> None:
        appends = [(login, item[2]) for item in batch if item[0] == "message" for login in item[1]]
        stream = self.journal.stream_id
        seqs = iter(await self.journal.append(appends))
        if self.journal.stream_id != stream:
            self._start_over()
        for item in batch:
            if item[0] == "message":
                pairs = [(login, next(seqs)) for login in item[1]]
                self._deliver(pairs, item[2])
                if self.fanout is not None:
                    self.fanout.publish(
                        {"to": pairs, "body": item[2], "stream": self.journal.stream_id}
                    )
            else:
                await self.journal.keep_pop(item[1], item[2], item[3])

    # --- opening a feed -------------------------------------------------------------------------

    async def opening(
        self, principal: Principal, *, since: int | None, stream: str | None
    ) -> tuple[list[str], int]:
        """What a feed that was just attached sends first, and the last seq that covers: the
        messages missed since `since` (after a `resume` header), or a fresh `snapshot`."""
        login = principal.login
        now = iso(self._clock())
        if since is not None and stream == self.journal.stream_id:
            missed = await self.journal.since(login, since)
            if missed is not None:
                header = {
                    "type": "resume",
                    "stream": self.journal.stream_id,
                    "server_time": now,
                    "replayed": len(missed),
                }
                texts = [numbered(since, dumps(header))]
                texts += [numbered(e.seq, e.body) for e in missed]
                return texts, missed[-1].seq if missed else since
            reason = "too_far_behind"
        elif since is not None:
            reason = "other_stream"
        else:
            reason = "new"
        head = await self.journal.head(login)
        pops = [json.loads(view) for view in await self.journal.pops(login)]
        snapshot = {
            "type": "snapshot",
            "stream": self.journal.stream_id,
            "server_time": now,
            "reason": reason,
            "calls": self.visible_calls(principal),
            "pops": sorted(pops, key=lambda p: str(p.get("rang_at", ""))),
        }
        return [numbered(head, dumps(snapshot))], head

    def visible_calls(self, principal: Principal) -> list[dict[str, Any]]:
        """Live calls the principal may see now; they follow each of them until it ends."""
        out = []
        for call in self._live_calls():
            linkedid = call.get("linkedid")
            shown = isinstance(linkedid, str) and principal.login in self._shown.get(linkedid, ())
            if shown or policy.may_see_call(principal, call):
                out.append(call)
                if isinstance(linkedid, str):
                    self._remember_shown(linkedid, [principal.login])
        return out

    async def missed(self, login: str, after: int) -> list[tuple[int, str]] | None:
        """Messages after `after` from the journal (a gap to fill), None when gone."""
        found = await self.journal.since(login, after)
        return None if found is None else [(e.seq, numbered(e.seq, e.body)) for e in found]

    async def housekeeping(self, every: float = 5.0, announce_every: float = 30.0) -> None:
        """Expire lapsed presence; renew ours with the other processes."""
        last = 0.0
        while True:
            await asyncio.sleep(every)
            self.expire()
            if self.fanout is not None and time.monotonic() - last >= announce_every:
                self.announce_all()
                last = time.monotonic()


__all__ = ["FeedHub", "Outlet", "dumps", "principal_from_json", "principal_to_json"]
