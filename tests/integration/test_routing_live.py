"""The server as `cti serve` builds it: the dialplan asks over FastAGI, the call happens (real
Asterisk captures through the live ingestion), and the stored call says which step took it."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp import web

from cti.ami.ingest import EventStream
from cti.app import build, create_server_app
from cti.config import Settings
from cti.db.migrate import upgrade
from cti.db.models import Agent, Customer, CustomerPhone
from cti.db.routing import RoutingRepository
from cti.db.session import create_engine, session_factory
from cti.health import samples
from cti.metrics import render
from cti.routing.agi_peer import channel_env, run_agi
from cti.routing.schedules import make_shift

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
ANSWERED_BY_MANAGER = "01_inbound_answered_by_101_caller_hangs_up.ami"  # linkedid 1795546744.0
DUTY_TOOK_IT = "02_inbound_101_no_answer_then_duty_199_answers.ami"  # linkedid 1795546762.4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed(url: str) -> None:
    await upgrade(url)
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        async with sessions() as s, s.begin():
            s.add_all(
                [
                    Agent(
                        login="ivanova",
                        name="Ivanova",
                        extension="101",
                        device="PJSIP/101",
                        teams=["sales"],
                    ),
                    Agent(
                        login="petrov",
                        name="Petrov",
                        extension="199",
                        device="PJSIP/199",
                        teams=["duty"],
                    ),
                ]
            )
            customer = Customer(
                name="Иван Сергеевич", company="Уютный дом", manager_login="ivanova"
            )
            customer.phones = [CustomerPhone(e164="+79161234567", raw="8 916 123-45-67")]
            s.add(customer)
        await RoutingRepository(session_factory=sessions).replace_shifts(
            [make_shift("petrov", "daily", "00:00", "24:00")]
        )
    finally:
        await engine.dispose()


async def test_the_dialplan_asks_the_call_happens_the_record_says_why(database_url: str) -> None:
    await seed(database_url)
    settings = Settings(
        database_url=database_url,
        ami_port=free_port(),
        agi_port=free_port(),
        ami_reconnect_min=0.5,
        ami_reconnect_max=1.0,
        api_tokens=("t",),
    )
    components = build(settings)
    runner = web.AppRunner(create_server_app(components))
    await runner.setup()  # starts the tasks: routing loaded, FastAGI listening
    try:
        assert components.agi is not None and components.agi.listening
        asked = {}
        for linkedid, caller in (("1795546744.0", "+79161234567"), ("1795546762.4", "89161234567")):
            env = channel_env(
                callerid=caller,
                extension="74952220101",
                uniqueid=linkedid,
                args=[caller, "74952220101", linkedid],
            )
            asked[linkedid] = (await run_agi("127.0.0.1", settings.agi_port, env)).variables
        assert [asked["1795546744.0"][f"CTI_TARGET_{n}"] for n in (1, 2, 3)] == [
            "PJSIP/101",
            "PJSIP/199",
            "100@default",
        ]
        assert asked["1795546744.0"]["CTI_CUSTOMER_NAME"] == "Иван Сергеевич"

        stream = EventStream(on_event=components.service.submit)
        for name in (ANSWERED_BY_MANAGER, DUTY_TOOK_IT):
            stream.feed((CAPTURES / name).read_bytes(), 0.0)
        deadline = asyncio.get_running_loop().time() + 20
        while await components.repository.count() < 2:
            assert asyncio.get_running_loop().time() < deadline, "calls not stored in time"
            await asyncio.sleep(0.05)
        stored = {r.linkedid: r for r in await components.repository.list_calls()}
        manager, duty = stored["1795546744.0"], stored["1795546762.4"]
        assert (manager.route_kind, manager.fallback) == ("manager", False)
        assert manager.route_reason == "account manager of Уютный дом"
        assert (duty.route_kind, duty.fallback) == ("duty", True)
        assert duty.route_reason == "duty operator Petrov"
        health = components.agi.health()
        assert health["listening"] is True and components.agi.stats.errors == 0
        exposed = render(samples(components))
        assert "cti_routing_decisions_total 2.0\n" in exposed
        assert "cti_routing_annotated_total 2.0\n" in exposed
        assert (
            "cti_fastagi_sessions_total 2.0\n" in exposed
            and "cti_fastagi_listening 1.0\n" in exposed
        )
    finally:
        await runner.cleanup()
