"""Simulated time for the PBX simulator: the `Timestamp:` clock and the scheduler of scenario steps."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Steps of a scenario: each `yield` is a pause in simulated seconds before the next step.
Steps = Iterator[float]


class SimClock:
    """Maps wall time to simulated time (`speed` simulated seconds per real second)."""

    def __init__(self, *, speed: float, rng: random.Random, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._rng = rng
        self._sim0 = time.time() if start is None else start
        self._real0 = time.monotonic()
        self.now = self._sim0  #: simulated time of the step being played
        self._last_stamp = 0.0

    def sim_time(self) -> float:
        """Where simulated time stands now, by the wall clock."""
        return self._sim0 + (time.monotonic() - self._real0) * self.speed

    def real_delay(self, sim_at: float) -> float:
        """Real seconds from now until simulated time `sim_at`."""
        return (sim_at - self._sim0) / self.speed - (time.monotonic() - self._real0)

    def stamp(self) -> str:
        """The next event's `Timestamp:`: never earlier than the last, a few microseconds later."""
        self._last_stamp = max(self.now, self._last_stamp) + self._rng.uniform(1e-6, 1.5e-5)
        return f"{self._last_stamp:.6f}"

    def peek(self) -> str:
        """A `Timestamp:` for a response outside any scenario step; it does not move the clock."""
        return f"{max(self.sim_time(), self._last_stamp):.6f}"


@dataclass(eq=False)
class _Run:
    steps: Steps
    done: asyncio.Future[None]


class Scheduler:
    """Plays scenario steps one at a time in simulated-time order, so that every event of every
    overlapping call is stamped and sent in order, and durations are exact whatever the speed."""

    def __init__(self, clock: SimClock, *, after_step: Callable[[], None] | None = None) -> None:
        self._clock = clock
        self._after_step = after_step
        self._heap: list[tuple[float, int, _Run]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="pbx-simulator-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for _, _, run in self._heap:
            run.done.cancel()
        self._heap.clear()

    def spawn(self, steps: Steps, at: float) -> asyncio.Future[None]:
        """Play `steps` from simulated time `at`; the future resolves when the last step is played."""
        run = _Run(steps, asyncio.get_running_loop().create_future())
        self._push(at, run)
        return run.done

    @property
    def pending(self) -> int:
        return len(self._heap)

    def _push(self, at: float, run: _Run) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), run))
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._clock.real_delay(self._heap[0][0])
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            at, _, run = heapq.heappop(self._heap)
            self._step(at, run)
            if self._after_step is not None:
                self._after_step()
            await asyncio.sleep(0)  # let clients read and write between steps

    def _step(self, at: float, run: _Run) -> None:
        self._clock.now = max(self._clock.now, at)
        if run.done.cancelled():
            return
        try:
            pause = next(run.steps)
        except StopIteration:
            run.done.set_result(None)
            return
        except Exception as exc:  # a broken scenario must not stop the others
            log.exception("scenario step failed")
            run.done.set_exception(exc)
            return
        self._push(at + max(0.0, float(pause)), run)
