"""Numbers to customers in memory, compact enough for millions: what the live lookup reads.

A snapshot loaded in number order sits in sorted 64-bit arrays (16 bytes per phone, binary
search); later changes sit in small dictionaries beside it. A customer changed since the
snapshot has its current numbers in `_changed`, and the snapshot's entries for that customer
count only where they agree. The card (name, company, VIP, manager) is one UTF-8 bytes object
per customer in a list indexed by id.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from cti.customers.model import Candidate, Phone

_SEP = "\x1f"
#: ids above this live in a dictionary instead of the list (ids are dense in practice)
_LIST_SLACK = 1_000_000


def number_key(digits: str) -> int:
    """Digits as an int that sorts like the string (so the database's ORDER BY on the text
    column is already our order): right-padded to 15 digits, times 16, plus the length."""
    return int(digits.ljust(15, "0")) * 16 + len(digits)


def e164_key(e164: str) -> int:
    """`+79161234567` -> its key (E.164 has at most 15 digits: the key fits in 64 bits)."""
    return number_key(e164[1:])


def nsn_key(nsn: str) -> int:
    return number_key(nsn)


@dataclass(frozen=True, slots=True)
class Card:
    """What a screen-pop shows of a customer."""

    name: str
    company: str
    vip: bool = False
    manager_login: str | None = None

    def encode(self) -> bytes:
        parts = (self.name, self.company, self.manager_login or "", "1" if self.vip else "0")
        return _SEP.join(p.replace(_SEP, " ") for p in parts).encode()

    @staticmethod
    def decode(data: bytes) -> Card:
        name, company, manager, vip = data.decode().split(_SEP)
        return Card(name, company, vip == "1", manager or None)


class _SortedPairs:
    """key -> values in two parallel arrays, sorted by key; duplicates adjacent."""

    def __init__(self) -> None:
        self.keys = array("q")
        self.values = array("q")
        self._sorted = True

    def append(self, key: int, value: int) -> None:
        if self.keys and key < self.keys[-1]:
            self._sorted = False
        self.keys.append(key)
        self.values.append(value)

    def finish(self) -> None:
        if self._sorted:
            return
        order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
        self.keys = array("q", (self.keys[i] for i in order))
        self.values = array("q", (self.values[i] for i in order))
        self._sorted = True

    def get(self, key: int) -> list[int]:
        keys = self.keys
        i = bisect.bisect_left(keys, key)
        found = []
        while i < len(keys) and keys[i] == key:
            found.append(self.values[i])
            i += 1
        return found

    def __len__(self) -> int:
        return len(self.keys)


class PhoneIndex:
    """Which customers have a number, and their cards. Not thread-safe; one event loop."""

    def __init__(self) -> None:
        self._e164 = _SortedPairs()
        self._nsn = _SortedPairs()  # values: customer id * 2 + 1 when the stored number is loose
        self._cards: list[bytes | None] = []
        self._far_cards: dict[int, bytes] = {}
        self._activity = array("d")
        self._far_activity: dict[int, float] = {}
        # customers changed since the snapshot: their numbers now (e164 keys, nsn entries)
        self._changed: dict[int, tuple[frozenset[int], frozenset[tuple[int, int]]]] = {}
        self._added_e164: dict[int, set[int]] = {}
        self._added_nsn: dict[int, set[int]] = {}
        self.customers = 0

    # --- loading a snapshot (numbers in ascending key order, as the database sorts them) -------

    def load_card(self, customer_id: int, card: Card, activity: float = 0.0) -> None:
        if self._card_bytes(customer_id) is None:
            self.customers += 1
        self._set_card(customer_id, card.encode())
        self.touch(customer_id, activity)

    def load_e164(self, e164: str, customer_id: int) -> None:
        self._e164.append(e164_key(e164), customer_id)

    def load_nsn(self, nsn: str, customer_id: int, valid: bool) -> None:
        if nsn:
            self._nsn.append(nsn_key(nsn), customer_id * 2 + (0 if valid else 1))

    def finish_loading(self) -> None:
        self._e164.finish()
        self._nsn.finish()

    # --- changes -----------------------------------------------------------------------------

    def put(
        self, customer_id: int, card: Card, phones: Iterable[Phone], activity: float = 0.0
    ) -> None:
        """The customer as it is now (new or changed)."""
        phones = list(phones)
        self._forget_added(customer_id)
        e164s = frozenset(e164_key(p.e164) for p in phones)
        nsns = frozenset(
            (nsn_key(p.nsn), customer_id * 2 + (0 if p.valid else 1)) for p in phones if p.nsn
        )
        self._changed[customer_id] = (e164s, nsns)
        for key in e164s:
            self._added_e164.setdefault(key, set()).add(customer_id)
        for key, value in nsns:
            self._added_nsn.setdefault(key, set()).add(value)
        self.load_card(customer_id, card, activity)

    def remove(self, customer_id: int) -> None:
        self._forget_added(customer_id)
        self._changed[customer_id] = (frozenset(), frozenset())
        if self._card_bytes(customer_id) is not None:
            self.customers -= 1
            self._set_card(customer_id, None)

    def touch(self, customer_id: int, activity: float) -> None:
        """Note activity (a change, a call) at epoch `activity` if later than the last one."""
        if customer_id < len(self._activity):
            if activity > self._activity[customer_id]:
                self._activity[customer_id] = activity
        elif customer_id < len(self._activity) + _LIST_SLACK:
            self._activity.extend([0.0] * (customer_id + 1 - len(self._activity)))
            self._activity[customer_id] = activity
        else:
            self._far_activity[customer_id] = max(
                activity, self._far_activity.get(customer_id, 0.0)
            )

    @property
    def pending_changes(self) -> int:
        """Customers changed since the snapshot (a reload folds them in)."""
        return len(self._changed)

    @property
    def phones(self) -> int:
        return len(self._e164)

    # --- lookups -------------------------------------------------------------------------------

    def exact(self, e164: str) -> list[Candidate]:
        key = e164_key(e164)
        ids = [
            i for i in self._e164.get(key) if i not in self._changed or key in self._changed[i][0]
        ]
        ids.extend(i for i in self._added_e164.get(key, ()) if i not in ids)
        return [c for c in map(self.candidate, ids) if c is not None]

    def national(self, nsns: Iterable[str]) -> list[tuple[Candidate, bool]]:
        """Customers with one of these national significant numbers, and whether the stored
        number is valid."""
        found: dict[int, bool] = {}
        for nsn in nsns:
            key = nsn_key(nsn)
            values = [
                v
                for v in self._nsn.get(key)
                if v // 2 not in self._changed or (key, v) in self._changed[v // 2][1]
            ]
            values.extend(self._added_nsn.get(key, ()))
            for v in values:
                found[v // 2] = found.get(v // 2, True) and not v % 2
        out = []
        for customer_id, valid in found.items():
            candidate = self.candidate(customer_id)
            if candidate is not None:
                out.append((candidate, valid))
        return out

    def candidate(self, customer_id: int) -> Candidate | None:
        data = self._card_bytes(customer_id)
        if data is None:
            return None
        card = Card.decode(data)
        return Candidate(
            customer_id,
            card.name,
            card.company,
            card.vip,
            card.manager_login,
            self.activity(customer_id),
        )

    def activity(self, customer_id: int) -> float:
        if customer_id < len(self._activity):
            return self._activity[customer_id]
        return self._far_activity.get(customer_id, 0.0)

    # --- storage of cards ----------------------------------------------------------------------

    def _card_bytes(self, customer_id: int) -> bytes | None:
        if customer_id < len(self._cards):
            return self._cards[customer_id]
        return self._far_cards.get(customer_id)

    def _set_card(self, customer_id: int, data: bytes | None) -> None:
        if customer_id < len(self._cards):
            self._cards[customer_id] = data
        elif customer_id < len(self._cards) + _LIST_SLACK:
            self._cards.extend([None] * (customer_id + 1 - len(self._cards)))
            self._cards[customer_id] = data
        elif data is None:
            self._far_cards.pop(customer_id, None)
        else:
            self._far_cards[customer_id] = data

    def _forget_added(self, customer_id: int) -> None:
        previous = self._changed.get(customer_id)
        if previous is None:
            return
        for key in previous[0]:
            self._added_e164.get(key, set()).discard(customer_id)
        for key, value in previous[1]:
            self._added_nsn.get(key, set()).discard(value)


__all__ = ["Card", "PhoneIndex", "e164_key", "nsn_key"]
