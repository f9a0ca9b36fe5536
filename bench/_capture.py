"""A large AMI stream built from the real captures in tests/captures.

Each shared call capture (one call per file) is turned into a template: the session frames
(banner + login response, action responses, Goodbye, FullyBooted, SuccessfulAuth) are dropped,
and every value that identifies a call or a moment is replaced by a placeholder:

- `Timestamp:` values, shifted so that time only moves forward across the whole stream;
- Uniqueid/Linkedid values wherever they appear (Uniqueid, Linkedid, DestUniqueid,
  DestLinkedid, the Cdr UniqueID, and any other header that repeats one of them), renamed
  `<shifted epoch>.<global sequence>` as Asterisk would number them;
- channel name suffixes (`PJSIP/101-0000001a`), renumbered from a global counter;
- BridgeUniqueid UUIDs, given a fresh last group.

Copies of the templates are laid end to end (01, 02, 03, ... 18, then again), one call after
another, so every call in the stream is distinct and finishes before the next starts. The
stream starts mid-session (no banner), as a long-lived AMI connection would look.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench._common import REPO

CAPTURES = REPO / "tests" / "captures"
#: the shared call captures: one finished call each
CALL_FILES = ("01", "02", "03", "05", "06", "07", "12", "13", "18")
#: seconds of silence between one call and the next
GAP = 1.0

_DELIM = b"\r\n\r\n"
_SESSION_EVENTS = (b"Event: FullyBooted\r\n", b"Event: SuccessfulAuth\r\n")
_ID_HEADER = re.compile(rb"\r\n[A-Za-z]*(?:Uniqueid|Linkedid|UniqueID): (\d+\.\d+)(?=\r\n)")
_TOKEN = re.compile(
    rb"(?P<ts>(?<=\r\nTimestamp: )\d+\.\d+)"
    rb"|(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    rb"|(?P<num>(?<![\d.])\d{9,11}\.\d+(?![\d.]))"
    rb"|(?P<chan>(?<=-)[0-9a-f]{8}(?![0-9A-Za-z]))"
)


def capture_paths() -> list[Path]:
    paths = []
    for prefix in CALL_FILES:
        found = sorted(CAPTURES.glob(f"{prefix}_*.ami"))
        if len(found) != 1:
            raise SystemExit(f"expected one capture {prefix}_*.ami in {CAPTURES}, found {found}")
        paths.append(found[0])
    return paths


@dataclass
class Template:
    name: str
    fmt: bytes  #: the frames with %(key)b placeholders
    events: int  #: frames starting with "Event:"
    first_ts: float
    last_ts: float
    stamps: list[tuple[bytes, float]]  #: (key, original Timestamp)
    ids: list[tuple[bytes, int]]  #: (key, original epoch part)
    chans: list[bytes]
    bridges: list[tuple[bytes, bytes]]  #: (key, first 24 characters of the UUID)

    @property
    def duration(self) -> float:
        return self.last_ts - self.first_ts


def load_template(path: Path) -> Template:
    raw = path.read_bytes()
    frames = [
        f
        for f in raw.split(_DELIM)
        if f.startswith(b"Event: ") and not f.startswith(_SESSION_EVENTS)
    ]
    body = _DELIM.join(frames) + _DELIM
    ids = set(_ID_HEADER.findall(b"\r\n" + body))
    keys: dict[tuple[str, bytes], bytes] = {}
    stamps: list[tuple[bytes, float]] = []
    id_keys: list[tuple[bytes, int]] = []
    chans: list[bytes] = []
    bridges: list[tuple[bytes, bytes]] = []

    def key_for(kind: str, value: bytes) -> bytes | None:
        if kind == "num" and value not in ids:
            return None  # a number that is not a channel id (Uptime, a phone number...)
        k = keys.get((kind, value))
        if k is None:
            k = f"{kind[0]}{len(keys)}".encode()
            keys[(kind, value)] = k
            if kind == "ts":
                stamps.append((k, float(value)))
            elif kind == "num":
                id_keys.append((k, int(value.split(b".")[0])))
            elif kind == "chan":
                chans.append(k)
            else:
                bridges.append((k, value[:24]))
        return k

    out: list[bytes] = []
    pos = 0
    for m in _TOKEN.finditer(body):
        kind = m.lastgroup
        assert kind is not None
        k = key_for(kind, m.group())
        if k is None:
            continue
        out.append(body[pos : m.start()].replace(b"%", b"%%"))
        out.append(b"%(" + k + b")b")
        pos = m.end()
    out.append(body[pos:].replace(b"%", b"%%"))
    if len({v for (kind, v) in keys if kind == "num"}) != len(ids):
        missing = ids - {v for (kind, v) in keys if kind == "num"}
        raise SystemExit(f"{path.name}: ids never matched as tokens: {missing}")
    times = [t for _, t in stamps]
    return Template(
        name=path.name,
        fmt=b"".join(out),
        events=len(frames),
        first_ts=min(times),
        last_ts=max(times),
        stamps=stamps,
        ids=id_keys,
        chans=chans,
        bridges=bridges,
    )


class StreamBuilder:
    """Renders copies of the templates with fresh ids and forward-moving time."""

    def __init__(self, start: float | None = None) -> None:
        self.templates = [load_template(p) for p in capture_paths()]
        self.clock = start if start is not None else self.templates[0].first_ts
        self.seq = 0
        self.chan = 0
        self.bridge = 0
        self.copies = 0

    @property
    def events_per_copy(self) -> int:
        return sum(t.events for t in self.templates)

    @property
    def calls_per_copy(self) -> int:
        return len(self.templates)

    def render(self, t: Template) -> bytes:
        shift = self.clock - t.first_ts
        values: dict[bytes, bytes] = {}
        for k, ts in t.stamps:
            values[k] = b"%.6f" % (ts + shift)
        ishift = int(shift)
        for k, epoch in t.ids:
            values[k] = b"%d.%d" % (epoch + ishift, self.seq)
            self.seq += 1
        for k in t.chans:
            values[k] = b"%08x" % (self.chan & 0xFFFFFFFF)
            self.chan += 1
        for k, head in t.bridges:
            values[k] = head + b"%012x" % self.bridge
            self.bridge += 1
        self.clock += t.duration + GAP
        return t.fmt % values

    def copy(self) -> bytes:
        """One copy of every template: `calls_per_copy` calls, `events_per_copy` events."""
        self.copies += 1
        return b"".join(self.render(t) for t in self.templates)

    def copies_for(self, *, events: int = 0, calls: int = 0) -> int:
        return max(
            1,
            math.ceil(events / self.events_per_copy) if events else 0,
            math.ceil(calls / self.calls_per_copy) if calls else 0,
        )

    def iter_copies(self, copies: int) -> Iterator[bytes]:
        for _ in range(copies):
            yield self.copy()


@dataclass
class BigCapture:
    data: bytes
    events: int
    calls: int
    copies: int

    def chunks(self, size: int) -> Iterator[bytes]:
        data = self.data
        for start in range(0, len(data), size):
            yield data[start : start + size]


def build(*, events: int = 0, calls: int = 0, on_progress=None) -> BigCapture:
    """At least `events` events and `calls` calls, in memory."""
    builder = StreamBuilder()
    copies = builder.copies_for(events=events, calls=calls)
    parts = []
    for i, part in enumerate(builder.iter_copies(copies), 1):
        parts.append(part)
        if on_progress and i % 500 == 0:
            on_progress(i, copies)
    data = b"".join(parts)
    return BigCapture(
        data=data,
        events=copies * builder.events_per_copy,
        calls=copies * builder.calls_per_copy,
        copies=copies,
    )
