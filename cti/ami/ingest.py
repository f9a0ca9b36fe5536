"""The one ingestion path, live and replay alike: bytes -> frames -> typed events, in order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cti.ami.events import TRACKED_EVENTS, AmiEvent, SessionStarted, to_event
from cti.ami.framing import Banner, Frame, Framer

log = logging.getLogger(__name__)


@dataclass
class StreamClock:
    """Time of events that carry no `Timestamp:` (list replies, or a PBX without
    timestampevents): the receipt time, anchored to the last stamped event so that both
    kinds of time stay on one scale."""

    anchor_event: float | None = None
    anchor_received: float = 0.0

    def receipt(self, received: float) -> float:
        if self.anchor_event is None:
            return received
        return self.anchor_event + (received - self.anchor_received)

    def stamped(self, event_ts: float, received: float) -> None:
        self.anchor_event, self.anchor_received = event_ts, received


class EventStream:
    """Feeds AMI bytes through the framer and hands each typed event to `on_event`.

    Frames that are not events we track (responses, list replies) go to `on_response`, which
    the live connection uses to resolve its pending actions.
    """

    def __init__(
        self,
        *,
        on_event: Callable[[AmiEvent], None],
        on_response: Callable[[Frame], None] | None = None,
        variables: Iterable[str] = (),
        max_frame_bytes: int = 1_048_576,
    ) -> None:
        self._on_event = on_event
        self._on_response = on_response
        self._needles = tuple(f"\r\nVariable: {name}\r\n".encode() for name in variables)
        self.clock = StreamClock()
        self.banner = ""  #: the last session's `Asterisk Call Manager/x.y.z`
        self._received = 0.0
        self.unknown_events = 0
        self.framer = Framer(
            on_frame=self._frame,
            on_banner=self._banner,
            wanted=TRACKED_EVENTS,
            keep_if=self._keep,
            max_frame_bytes=max_frame_bytes,
        )

    @property
    def stats(self):
        return self.framer.stats

    def feed(self, data: bytes, received: float) -> None:
        self._received = received
        self.framer.feed(data)

    def reset(self) -> None:
        self.framer.reset()

    def _keep(self, name: bytes, raw: bytes) -> bool:
        if name == b"VarSet":
            return any(needle in raw for needle in self._needles)
        # list replies to our own actions must reach the action's waiter
        return self._on_response is not None and b"\r\nActionID: " in raw

    def _banner(self, banner: Banner) -> None:
        self.banner = str(banner)
        self._on_event(SessionStarted(self.clock.receipt(self._received), str(banner)))

    def _frame(self, frame: Frame) -> None:
        received = self._received
        if "Event" not in frame:
            if self._on_response is not None:
                self._on_response(frame)
            return
        event = to_event(frame, self.clock.receipt(received))
        if "ActionID" in frame and self._on_response is not None:
            self._on_response(frame)
        if event is None:
            self.unknown_events += 1
            return
        if "Timestamp" in frame and event.ts != received:
            self.clock.stamped(event.ts, received)
        self._on_event(event)
