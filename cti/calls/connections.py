"""Who is connected with whom on the switch: bridges, and Local channel pairs that join them."""

from __future__ import annotations


class Switch:
    """Channels (by Uniqueid) in bridges, and the two halves of each Local channel.

    A Local channel `Local/101@ctx-0000001a` has two halves, `;1` and `;2`, that carry the same
    audio: a caller bridged with `;1` talks to whoever `;2` is bridged with. Following bridges
    and halves, however deep, tells whether a caller really talks with a person (a follow-me
    mobile behind a Local channel, a queue member `Local/102@from-queue`), rather than a leg
    that merely answered somewhere inside the chain.
    """

    def __init__(self) -> None:
        self._bridge_of: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        self._local_half: dict[str, tuple[str, str]] = {}  #: uniqueid -> (pair name, half)
        self._pairs: dict[str, dict[str, str]] = {}  #: pair name -> {"1": uid, "2": uid}

    def add_channel(self, uniqueid: str, channel: str) -> None:
        pair = _local_pair(channel)
        if pair is None or uniqueid in self._local_half:
            return
        name, half = pair
        self._local_half[uniqueid] = pair
        self._pairs.setdefault(name, {})[half] = uniqueid

    def remove_channel(self, uniqueid: str) -> None:
        self.leave(uniqueid)
        pair = self._local_half.pop(uniqueid, None)
        if pair is None:
            return
        halves = self._pairs.get(pair[0])
        if halves is not None:
            halves.pop(pair[1], None)
            if not halves:
                del self._pairs[pair[0]]

    def enter(self, uniqueid: str, bridge: str) -> None:
        self.leave(uniqueid)
        self._bridge_of[uniqueid] = bridge
        self._members.setdefault(bridge, set()).add(uniqueid)

    def leave(self, uniqueid: str) -> None:
        bridge = self._bridge_of.pop(uniqueid, None)
        if bridge is None:
            return
        members = self._members.get(bridge)
        if members is not None:
            members.discard(uniqueid)
            if not members:
                del self._members[bridge]

    def bridge_of(self, uniqueid: str) -> str | None:
        return self._bridge_of.get(uniqueid)

    def connected(self, uniqueid: str) -> set[str]:
        """Every channel that hears `uniqueid` (itself included)."""
        seen = {uniqueid}
        todo = [uniqueid]
        while todo:
            uid = todo.pop()
            neighbours: set[str] = set()
            bridge = self._bridge_of.get(uid)
            if bridge is not None:
                neighbours |= self._members.get(bridge, set())
            pair = self._local_half.get(uid)
            if pair is not None:
                other = self._pairs.get(pair[0], {}).get("2" if pair[1] == "1" else "1")
                if other is not None:
                    neighbours.add(other)
            for n in neighbours - seen:
                seen.add(n)
                todo.append(n)
        return seen


def _local_pair(channel: str) -> tuple[str, str] | None:
    """`Local/101@from-queue-0000001a;2` -> ("Local/101@from-queue-0000001a", "2")."""
    if not channel[:6].lower() == "local/":
        return None
    name, sep, half = channel.split("<", 1)[0].rpartition(";")
    if not sep or half not in ("1", "2"):
        return None
    return name, half
