"""The built-in PBX simulator: a TCP server speaking Asterisk AMI that plays simulated calls."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from cti.ami import scenarios as catalog
from cti.ami.scenarios_kit import Call, Params
from cti.ami.sim_clock import Scheduler, SimClock
from cti.ami.sim_dialplan import Dialplan
from cti.ami.sim_pbx import AGENT_NAMES, STATE_DESC, Fields, Pbx
from cti.ami.sim_session import AmiSession

log = logging.getLogger(__name__)

Mix = Mapping[str, float] | Sequence[str] | str | None


@dataclass(frozen=True, slots=True)
class LiveChannel:
    """A channel that exists right now on the simulated PBX."""

    name: str
    uniqueid: str
    linkedid: str
    state: str
    caller_id_num: str
    application: str
    bridge_id: str


class PbxSimulator:
    """An Asterisk 22 look-alike on a TCP port: AMI login, actions and events of simulated calls."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "cti",
        secret: str = "ctisecret",
        speed: float = 1.0,
        seed: int | None = None,
        record_path: str | None = None,
    ) -> None:
        self.host = host
        self.username = username
        self.secret = secret
        self.speed = speed
        self.auth_failure_delay = 1.0 / max(speed, 1.0)  #: Asterisk closes 1 s after a failed login
        self._port = port
        base = random.Random(seed)
        self._traffic_rng = random.Random(base.getrandbits(64))
        self._clock = SimClock(speed=speed, rng=random.Random(base.getrandbits(64)))
        self._pbx = Pbx(
            clock=self._clock, send=self._broadcast, rng=random.Random(base.getrandbits(64))
        )
        self._dialplan = Dialplan(self._pbx)
        self._scheduler = Scheduler(self._clock, after_step=self._flush)
        self._pending: list[bytes] = []  #: events of the step being played, sent in one write
        self._sessions: set[AmiSession] = set()
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self._calls: set[asyncio.Task[dict[str, Any]]] = set()
        self._session_seq = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._recorder = _Recorder(record_path) if record_path else None
        self._listener = asyncio.Event()

    # ----- lifecycle ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        self._scheduler.start()
        self._server = await asyncio.start_server(self._on_client, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_clients()
        await self._scheduler.stop()
        for task in list(self._calls):
            task.cancel()
        await asyncio.gather(*self._calls, *self._session_tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._recorder is not None:
            self._recorder.close()

    async def __aenter__(self) -> PbxSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- calls --------------------------------------------------------------------------------

    async def play(self, name: str, **params: Any) -> dict[str, Any]:
        """Play one scenario to its end; returns the record it intends, with its `linkedid`."""
        _, _, task = self.start_scenario(name, **params)
        return await task

    def start_scenario(
        self, name: str, **params: Any
    ) -> tuple[str, dict[str, Any], asyncio.Task[dict[str, Any]]]:
        """Start a scenario now, to overlap with others: (linkedid, expected record, task)."""
        return self._launch(name, catalog.params_for(name, **params))

    async def random_traffic(
        self,
        rate_per_second: float,
        duration: float | None = None,
        mix: Mix = None,
        *,
        on_call_done: Callable[[dict[str, Any]], None] | None = None,
    ) -> int:
        """Poisson arrivals of randomized scenarios (rate and duration in simulated time), calls
        overlapping; with a `duration`, waits for the last calls to end. Returns how many started."""
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        weights = catalog.normalize_mix(mix)
        names, cumulative = list(weights), list(itertools.accumulate(weights.values()))
        in_flight: set[asyncio.Task[dict[str, Any]]] = set()
        started = 0
        next_at = self._clock.sim_time()
        end = None if duration is None else next_at + duration
        while True:
            next_at += self._traffic_rng.expovariate(rate_per_second)
            if end is not None and next_at > end:
                break
            await asyncio.sleep(max(0.0, self._clock.real_delay(next_at)))
            name = self._traffic_rng.choices(names, cum_weights=cumulative)[0]
            _, _, task = self._launch(name, catalog.params_for(name, self._traffic_rng))
            started += 1
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            if on_call_done is not None:
                task.add_done_callback(_reporter(on_call_done))
        await asyncio.gather(*in_flight, return_exceptions=True)
        return started

    async def wait_for_listener(self) -> None:
        """Until some client has logged in with events on (so that a played call is seen)."""
        await self._listener.wait()

    def drop_clients(self) -> int:
        """Abruptly close every client connection (to test reconnects); returns how many."""
        sessions = list(self._sessions)
        for session in sessions:
            session.abort()
        return len(sessions)

    def live_channels(self) -> list[LiveChannel]:
        return [
            LiveChannel(
                name=ch.name,
                uniqueid=ch.uniqueid,
                linkedid=ch.linkedid,
                state=STATE_DESC[ch.state],
                caller_id_num=ch.cid_num,
                application=ch.application,
                bridge_id=ch.bridge.uniqueid if ch.bridge else "",
            )
            for ch in self._pbx.channels.values()
        ]

    @property
    def calls_in_progress(self) -> int:
        return len(self._calls)

    def _launch(
        self, name: str, params: Params
    ) -> tuple[str, dict[str, Any], asyncio.Task[dict[str, Any]]]:
        scenario = catalog.get(name)
        at = self._clock.sim_time()
        linkedid = self._pbx.next_uniqueid(at)
        expected = {"linkedid": linkedid, "scenario": name} | scenario.expect(params)
        call = Call(dp=self._dialplan, p=params, uniqueid=linkedid, expected=expected)
        done = self._scheduler.spawn(scenario.body(call), at)
        task = asyncio.create_task(_finished(done, expected), name=f"sim-call-{linkedid}")
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)
        task.add_done_callback(_retrieve)
        return linkedid, expected, task

    # ----- what sessions need -------------------------------------------------------------------

    def check_login(self, username: str, secret: str) -> bool:
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        return hmac.compare_digest(secret.encode(), self.secret.encode()) and user_ok

    def timestamp(self) -> str:
        return self._clock.peek()

    def session_logged_in(self, session: AmiSession) -> None:
        if session.events_on:
            self._listener.set()
            if self._recorder is not None:
                self._recorder.adopt(session)

    def session_sent(self, session: AmiSession, data: bytes) -> None:
        if self._recorder is not None:
            self._recorder.write(session, data)

    def session_closed(self, session: AmiSession) -> None:
        self._sessions.discard(session)
        if self._recorder is not None:
            self._recorder.release(session)

    def device_states(self) -> list[tuple[str, str]]:
        """The agents' phones: in use while one of their channels exists, else not in use."""
        busy = {ch.name.rsplit("-", 1)[0] for ch in self._pbx.channels.values()}
        return [
            (f"PJSIP/{name}", "INUSE" if f"PJSIP/{name}" in busy else "NOT_INUSE")
            for name in sorted(AGENT_NAMES)
        ]

    def core_show_channels(self) -> list[Fields]:
        now = self._clock.sim_time()
        return [
            ch.snapshot()
            + [
                ("Application", ch.application),
                ("ApplicationData", ch.app_data),
                ("Duration", _hhmmss(now - ch.created_at)),
                ("BridgeId", ch.bridge.uniqueid if ch.bridge else ""),
            ]
            for ch in self._pbx.channels.values()
        ]

    def channel_status(self, variables: list[str]) -> list[Fields]:
        """The `Status` reply: each channel with the variables asked for, CDR(start,u) and
        CDR(answer,u) among them, as Asterisk answers them."""
        now = self._clock.sim_time()
        items = []
        for ch in self._pbx.channels.values():
            cdr = {"CDR(start,u)": f"{ch.created_at:.6f}"}
            cdr["CDR(answer,u)"] = f"{ch.answered_at:.6f}" if ch.answered_at is not None else ""
            values = [("Variable", f"{v}={cdr.get(v, ch.variables.get(v, ''))}") for v in variables]
            items.append(
                ch.snapshot()
                + [
                    ("Type", ch.name.split("/", 1)[0]),
                    ("DNID", ""),
                    ("BridgeID", ch.bridge.uniqueid if ch.bridge else ""),
                    ("Application", ch.application),
                    ("Seconds", str(int(now - ch.created_at))),
                    *values,
                ]
            )
        return items

    def originate(self, *, agent: str, number: str, action_id: str | None) -> None:
        self.start_scenario("click_to_call", agent=agent, number=number, action_id=action_id)

    # ----- plumbing -----------------------------------------------------------------------------

    def _broadcast(self, frame: bytes) -> None:
        self._pending.append(frame)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        for session in tuple(self._sessions):
            if session.wants_events:
                session.send(data)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._session_tasks.add(task)
        session = AmiSession(
            host=self, reader=reader, writer=writer, number=next(self._session_seq)
        )
        self._sessions.add(session)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)
            if task is not None:
                self._session_tasks.discard(task)


class _Recorder:
    """Writes exactly the bytes one client received, from its banner: the first client to log in
    with events on. The file is then a capture that `cti replay` reads like the real ones."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._file: IO[bytes] | None = None
        self._session: AmiSession | None = None
        self._finished = False

    def adopt(self, session: AmiSession) -> None:
        if self._session is not None or self._finished or session.prelogin is None:
            return
        self._file = open(self._path, "wb")  # noqa: SIM115 - kept open for the session's life
        self._session = session
        self._file.write(bytes(session.prelogin))

    def write(self, session: AmiSession, data: bytes) -> None:
        if session is self._session and self._file is not None:
            self._file.write(data)

    def release(self, session: AmiSession) -> None:
        if session is self._session:
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._finished = True
        self._session = None


async def _finished(done: asyncio.Future[None], expected: dict[str, Any]) -> dict[str, Any]:
    await done
    return expected


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a failed call's exception as seen: the scheduler has logged it already."""
    if not task.cancelled():
        task.exception()


def _reporter(
    callback: Callable[[dict[str, Any]], None],
) -> Callable[[asyncio.Task[dict[str, Any]]], None]:
    def report(task: asyncio.Task[dict[str, Any]]) -> None:
        if not task.cancelled() and task.exception() is None:
            callback(task.result())

    return report


def _hhmmss(seconds: float) -> str:
    total = max(0, int(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


async def run_simulator_cli(
    *,
    host: str,
    port: int,
    username: str,
    secret: str,
    rate: float,
    duration: float | None,
    scenarios: Mix,
    speed: float,
    seed: int | None,
    record: str | None,
) -> None:
    """`cti simulate`: serve AMI until cancelled. With `rate` > 0, random traffic (calls per
    simulated second, for `duration` simulated seconds or forever) drawn from `scenarios` (default:
    the realistic mix); with `rate` 0, the named `scenarios` are played once each, in order, as soon
    as a client has logged in."""
    names = list(catalog.normalize_mix(scenarios)) if scenarios else []
    simulator = PbxSimulator(
        host=host,
        port=port,
        username=username,
        secret=secret,
        speed=speed,
        seed=seed,
        record_path=record,
    )
    await simulator.start()
    try:
        print(f"AMI simulator listening on {host}:{simulator.port}", flush=True)
        if rate > 0:
            await simulator.random_traffic(rate, duration, mix=scenarios or None)
        elif names:
            await simulator.wait_for_listener()
            for name in names:
                await simulator.play(name)
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await simulator.stop()
