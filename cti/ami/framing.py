"""Bytes from the AMI socket to whole frames: UTF-8 safe across any chunking, bounded in size."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

DELIMITER = b"\r\n\r\n"
BANNER_PREFIX = b"Asterisk Call Manager/"


@dataclass
class FramingStats:
    """What the framer saw and set aside; exported as metrics."""

    frames: int = 0
    bytes: int = 0
    oversized: int = 0  #: frames larger than the limit, dropped
    undecodable: int = 0  #: frames with bytes that are not UTF-8 (decoded with replacement)
    malformed: int = 0  #: frames with no header at all, or too many headers
    banners: int = 0
    skipped: int = 0  #: events dropped early because nobody consumes them


class Frame(dict[str, str]):
    """One AMI message: headers in arrival order; a repeated header keeps its first value."""

    __slots__ = ("extra",)

    def __init__(self) -> None:
        super().__init__()
        self.extra: list[tuple[str, str]] = []  #: repeated headers (Variable: ... on actions, etc.)


class Banner(str):
    """The `Asterisk Call Manager/x.y.z` line that starts every AMI session."""


def parse_frame(text: str, max_headers: int) -> Frame | None:
    """Headers of one frame; None when the frame has no `Key: Value` line at all."""
    frame = Frame()
    count = 0
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            if line.endswith(":"):
                key, value = line[:-1], ""
            else:
                continue  # a stray line (output of a Command, garbage): ignore it, keep the rest
        count += 1
        if count > max_headers:
            return None
        if key in frame:
            frame.extra.append((key, value))
        else:
            frame[key] = value
    return frame if frame else None


class Framer:
    """Splits the AMI byte stream into frames.

    Asterisk separates frames with an empty line (CRLF CRLF); each session starts with a banner
    line. Frames are decoded as whole units, so a multi-byte character split across two reads
    is never cut (panoramisk decodes each read on its own with errors='ignore').

    `wanted` filters events before they are decoded: an event whose name is not in it is counted
    and dropped, unless `keep_if` says one of its bytes matters (VarSet of a DID variable, say).
    """

    def __init__(
        self,
        *,
        on_frame: Callable[[Frame], None],
        on_banner: Callable[[Banner], None],
        wanted: frozenset[str] | None = None,
        keep_if: Callable[[bytes, bytes], bool] | None = None,
        max_frame_bytes: int = 1_048_576,
        max_headers: int = 4096,
    ) -> None:
        self._on_frame = on_frame
        self._on_banner = on_banner
        self._wanted = {name.encode() for name in wanted} if wanted is not None else None
        self._keep_if = keep_if
        self._max = max_frame_bytes
        self._max_headers = max_headers
        self._buffer = b""
        self._discarding = False
        self.stats = FramingStats()

    def feed(self, data: bytes) -> None:
        """Take the next bytes from the socket; emit every frame they complete."""
        self.stats.bytes += len(data)
        if self._buffer:
            # resume the search where the last read stopped: no rescans when a frame trickles in
            scan = max(0, len(self._buffer) - 3)
            buffer = self._buffer + data
        else:
            scan, buffer = 0, data
        start = 0
        find = buffer.find
        while True:
            end = find(DELIMITER, max(start, scan))
            if end < 0:
                break
            if self._discarding:
                self._discarding = False
            else:
                self._frame(buffer[start:end])
            start = end + 4
        rest = buffer[start:] if start else buffer
        if len(rest) > self._max:
            if not self._discarding:
                self.stats.oversized += 1
                log.warning(
                    "AMI frame over %d bytes with no end: dropped until the next frame boundary",
                    self._max,
                )
            self._discarding = True
            # keep the last 3 bytes: the delimiter may straddle this read and the next
            rest = rest[-3:]
        self._buffer = rest

    def feed_all(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self.feed(chunk)

    def _frame(self, raw: bytes) -> None:
        if raw.startswith(BANNER_PREFIX):
            line, _, raw = raw.partition(b"\r\n")
            self.stats.banners += 1
            self._on_banner(Banner(line.decode("utf-8", "replace").strip()))
            if not raw:
                return
        elif raw.startswith(b"\r\n"):
            # a stray empty line between frames (some proxies add one)
            raw = raw.lstrip(b"\r\n")
            if not raw:
                return
        if len(raw) > self._max:
            self.stats.oversized += 1
            log.warning(
                "AMI frame of %d bytes is over the %d-byte limit: dropped", len(raw), self._max
            )
            return
        if self._wanted is not None and raw.startswith(b"Event: "):
            eol = raw.find(b"\r\n")
            name = raw[7:eol] if eol >= 0 else raw[7:]
            if name not in self._wanted and not (self._keep_if and self._keep_if(name, raw)):
                self.stats.skipped += 1
                return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.stats.undecodable += 1
            text = raw.decode("utf-8", "replace")
        frame = parse_frame(text, self._max_headers)
        if frame is None:
            self.stats.malformed += 1
            log.warning("AMI frame with no headers or over %d headers: dropped", self._max_headers)
            return
        self.stats.frames += 1
        self._on_frame(frame)

    def reset(self) -> None:
        """Forget a partial frame: called when the connection is replaced."""
        self._buffer = b""
        self._discarding = False
