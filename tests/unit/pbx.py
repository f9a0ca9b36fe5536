"""A tiny scripted PBX for pure tests: typed events, no AMI text, no sockets."""

from __future__ import annotations

from cti.ami import events as ev
from cti.calls.endpoints import TrackingRules
from cti.calls.machine import Finished
from cti.calls.model import CallRecord
from cti.calls.tracker import CallTracker


class Pbx:
    def __init__(self, rules: TrackingRules | None = None) -> None:
        self.t = 1000.0
        self.n = 0
        self.tracker = CallTracker(rules=rules or TrackingRules())
        self.records: list[CallRecord] = []
        self.effects: list[object] = []
        self.chan: dict[str, tuple[str, str]] = {}  # uid -> (channel, linkedid)

    def at(self, seconds: float) -> Pbx:
        self.t = 1000.0 + seconds
        return self

    def send(self, event: ev.AmiEvent) -> None:
        for effect in self.tracker.handle(event):
            self.effects.append(effect)
            if isinstance(effect, Finished):
                self.records.append(effect.record)

    def channel(
        self,
        endpoint: str,
        linkedid: str | None = None,
        *,
        num: str = "",
        name: str = "",
        exten: str = "s",
        state: str = "Down",
    ) -> str:
        self.n += 1
        uid = f"1000.{self.n}"
        linkedid = linkedid or uid
        name_ = (
            f"{endpoint}-{self.n:08x}"
            if not endpoint.startswith("Local/")
            else f"{endpoint}-{self.n:08x};1"
        )
        self.chan[uid] = (name_, linkedid)
        self.send(ev.Newchannel(self.t, uid, linkedid, name_, state, num, name, "ctx", exten))
        return uid

    def _c(self, uid: str) -> tuple[str, str, str]:
        name, lid = self.chan[uid]
        return uid, lid, name

    def dial(self, src: str | None, dest: str, *, exten: str = "s", dial_string: str = "") -> None:
        d_uid, d_lid, d_name = self._c(dest)
        s = self._c(src) if src else ("", "", "")
        self.send(ev.DialBegin(self.t, *s, d_uid, d_lid, d_name, "", exten, dial_string))

    def dial_end(self, src: str | None, dest: str, status: str) -> None:
        d_uid, d_lid, d_name = self._c(dest)
        s = self._c(src) if src else ("", "", "")
        self.send(ev.DialEnd(self.t, *s, d_uid, d_lid, d_name, status))

    def up(self, uid: str) -> None:
        self.send(ev.Newstate(self.t, *self._c(uid), "Up", "", ""))

    def bridge(self, bridge: str, *uids: str) -> None:
        for uid in uids:
            self.send(ev.BridgeEnter(self.t, *self._c(uid), bridge))

    def leave(self, bridge: str, *uids: str) -> None:
        for uid in uids:
            self.send(ev.BridgeLeave(self.t, *self._c(uid), bridge))

    def hangup(self, *uids: str, cause: str = "16") -> None:
        for uid in uids:
            self.send(ev.Hangup(self.t, *self._c(uid), cause))

    def relink(self, uid: str, linkedid: str) -> None:
        name, _ = self.chan[uid]
        self.chan[uid] = (name, linkedid)

    def queue_join(self, caller: str, queue: str = "support") -> None:
        self.send(ev.QueueCallerJoin(self.t, *self._c(caller), queue))

    def queue_leave(self, caller: str, queue: str = "support") -> None:
        self.send(ev.QueueCallerLeave(self.t, *self._c(caller), queue))

    def queue_abandon(self, caller: str, queue: str = "support") -> None:
        self.send(ev.QueueCallerAbandon(self.t, *self._c(caller), queue))

    def agent(self, kind: type[ev.AgentEvent], caller: str, member: str, interface: str) -> None:
        m_uid, _, m_name = self._c(member)
        self.send(kind(self.t, *self._c(caller), m_uid, m_name, interface, "", "support"))

    def only(self) -> CallRecord:
        assert len(self.records) == 1, self.records
        return self.records[0]
