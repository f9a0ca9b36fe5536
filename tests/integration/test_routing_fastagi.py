"""The dialplan's questions over real TCP: FastAGI as Asterisk speaks it, and the CURL() variant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import pytest

from cti.bus import InProcessBus
from cti.calls.model import CallRecord, Direction, Outcome
from cti.config import Settings
from cti.routing.agi_peer import channel_env, parse_args, run_agi
from cti.routing.dialplan import agi_route
from cti.routing.fastagi import FastAgiServer
from cti.routing.model import AgentState
from cti.routing.service import RoutingService
from tests.routing_world import office
from web.app import create_app

TOKEN = "route-token"


@pytest.fixture
async def routing() -> RoutingService:
    service = office()
    await service.load()
    return service


@pytest.fixture
async def agi(routing: RoutingService) -> AsyncIterator[FastAgiServer]:
    server = FastAgiServer(routes={"route": agi_route(routing.decide)}, port=0, timeout=2.0)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def inbound(**kwargs: Any) -> list[tuple[str, str]]:
    defaults: dict[str, Any] = dict(
        callerid="+79161234567",
        calleridname="Ivan",
        extension="74951112233",
        uniqueid="1795512600.17",
    )
    return channel_env(**{**defaults, **kwargs})


async def test_asterisk_gets_the_chain_as_channel_variables(agi: FastAgiServer) -> None:
    session = await run_agi("127.0.0.1", agi.port, inbound())
    v = session.variables
    assert v["CTI_TARGET_COUNT"] == "4"
    assert [v[f"CTI_TARGET_{n}"] for n in range(1, 5)] == [
        "PJSIP/101",
        "Local/79167654321@cti-followme",
        "PJSIP/150",
        "100@default",
    ]
    assert [v[f"CTI_TIMEOUT_{n}"] for n in range(1, 5)] == ["20", "25", "30", "0"]
    assert v["CTI_REASON_1"] == 'account manager of ООО "Уютный дом"'
    assert v["CTI_REASON_3"] == "duty operator Smirnova"
    assert [v[f"CTI_KIND_{n}"] for n in range(1, 5)] == [
        "manager",
        "manager_mobile",
        "duty",
        "voicemail",
    ]
    assert (v["CTI_CUSTOMER_ID"], v["CTI_CUSTOMER_NAME"]) == ("42", "Иван Сергеевич")
    # the count comes last: a dialplan that sees it has every target
    assert session.commands[-1] == 'SET VARIABLE CTI_TARGET_COUNT "4"'
    assert all(c.startswith("SET VARIABLE ") for c in session.commands)


async def test_the_wire_as_res_agi_writes_and_reads_it(agi: FastAgiServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
    env = inbound(args=["89161234567", "74951112233", "1795512600.5"])
    # Asterisk writes the whole environment block, then waits for commands
    writer.write("".join(f"{k}: {v}\n" for k, v in env).encode() + b"\n")
    first = await reader.readline()
    assert first == b'SET VARIABLE CTI_TARGET_1 "PJSIP/101"\n'
    writer.write(b"200 result=1\n")
    lines = [first]
    while True:
        line = await reader.readline()
        if not line:
            break
        lines.append(line)
        writer.write(b"200 result=1\n")
    writer.close()
    assert lines[-1] == b'SET VARIABLE CTI_TARGET_COUNT "4"\n'
    reason = next(line for line in lines if line.startswith(b"SET VARIABLE CTI_REASON_1 "))
    assert (
        reason == 'SET VARIABLE CTI_REASON_1 "account manager of ООО \\"Уютный дом\\""\n'.encode()
    )
    assert parse_args(reason.decode().strip())[3] == 'account manager of ООО "Уютный дом"'


async def test_arguments_win_over_the_environment_and_key_the_decision(
    agi: FastAgiServer, routing: RoutingService
) -> None:
    env = inbound(
        callerid="unknown", extension="s", args=["8 916 123-45-67", "74951112233", "1795512600.1"]
    )
    session = await run_agi("127.0.0.1", agi.port, env)
    assert session.variables["CTI_CUSTOMER_ID"] == "42"
    decision = routing.decision_for("1795512600.1")  # the Linkedid the dialplan passed
    assert decision is not None and decision.did == "74951112233"
    assert routing.decision_for("1795512600.17") is None
    session = await run_agi("127.0.0.1", agi.port, inbound(callerid="+79990001122"))
    assert session.variables["CTI_CUSTOMER_ID"] == ""
    assert session.variables["CTI_KIND_1"] == "distribution"
    assert routing.decision_for("1795512600.17") is not None  # no argument: the Uniqueid


async def test_a_caller_hanging_up_mid_session_still_gets_every_variable(
    agi: FastAgiServer,
) -> None:
    session = await run_agi("127.0.0.1", agi.port, inbound(), hangup_after=2)
    assert session.variables["CTI_TARGET_COUNT"] == "4"


async def test_broken_peers_never_hang_the_server(agi: FastAgiServer) -> None:
    # closes before the blank line that ends the environment (panoramisk would spin forever)
    reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
    writer.write(b"agi_network: yes\nagi_network_script: route\n")
    writer.close()
    # says nothing at all: the session times out
    silent_reader, silent = await asyncio.open_connection("127.0.0.1", agi.port)
    # an unknown script: closed without a command
    unknown = await run_agi("127.0.0.1", agi.port, channel_env(script="nowhere"))
    assert unknown.commands == []
    # Asterisk refusing a command ends the session at once
    refused = await run_agi(
        "127.0.0.1", agi.port, inbound(), reply="510 Invalid or unknown command"
    )
    assert len(refused.commands) == 1
    assert await asyncio.wait_for(silent_reader.read(), 5.0) == b""  # closed by the timeout
    silent.close()
    assert agi.stats.unknown_routes == 1 and agi.stats.errors >= 4


async def test_a_query_string_in_the_agi_url_routes_too(agi: FastAgiServer) -> None:
    env = dict(inbound(callerid="unknown", extension="s"))
    env["agi_network_script"] = "route?caller=%2B79161234567&did=74951112233"
    session = await run_agi("127.0.0.1", agi.port, env)
    assert session.variables["CTI_CUSTOMER_ID"] == "42"


async def test_many_calls_at_once(agi: FastAgiServer) -> None:
    sessions = await asyncio.gather(
        *(run_agi("127.0.0.1", agi.port, inbound(uniqueid=f"1795512600.{n}")) for n in range(50))
    )
    assert {s.variables["CTI_TARGET_COUNT"] for s in sessions} == {"4"}


async def test_the_decision_reaches_the_stored_call(
    agi: FastAgiServer, routing: RoutingService
) -> None:
    env = inbound(args=["+79161234567", "74951112233", "1795512600.99"])
    await routing.set_state("ivanova", AgentState.PAUSED, "lunch")
    await run_agi("127.0.0.1", agi.port, env)
    record = CallRecord(
        linkedid="1795512600.99",
        direction=Direction.INBOUND,
        caller="+79161234567",
        caller_e164="+79161234567",
        caller_name="",
        did="74951112233",
        agents_rung=("150",),
        answered_by=("150",),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=1.0,
        answered_at=5.0,
        ended_at=60.0,
        wait_seconds=4.0,
        talk_seconds=55.0,
    )
    stored = routing.annotate(record)
    assert (stored.route_kind, stored.fallback) == ("duty", True)
    assert stored.route_reason == "duty operator Smirnova: account manager Ivanova is away (lunch)"


# --- the HTTP variant: GET /api/route for dialplans that use CURL() ------------------------------


@pytest.fixture
async def http(aiohttp_client: Any, routing: RoutingService) -> Any:
    async def recent(limit: int) -> list[dict[str, Any]]:
        return []

    app = create_app(
        settings=Settings(api_tokens=(TOKEN,)),
        bus=InProcessBus(),
        live_calls=list,
        recent_calls=recent,
        health=lambda: {"status": "ok"},
        metrics=lambda: "",
        routing=routing,
    )
    return await aiohttp_client(app)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_curl_gets_a_hash_compatible_answer(http: Any, routing: RoutingService) -> None:
    resp = await http.get(
        "/api/route",
        params={
            "caller": "89161234567",
            "did": "74951112233",
            "linkedid": "1795512600.7",
            "format": "hash",
        },
        headers=AUTH,
    )
    assert resp.status == 200 and resp.content_type == "text/plain"
    pairs = [p.split("=", 1) for p in (await resp.text()).split("&")]
    got = {unquote(k): unquote(v) for k, v in pairs}  # as CURLOPT(hashcompat)=yes decodes
    assert got["CTI_TARGET_1"] == "PJSIP/101" and got["CTI_TARGET_COUNT"] == "4"
    assert got["CTI_REASON_1"] == 'account manager of ООО "Уютный дом"'
    assert got["CTI_CUSTOMER_NAME"] == "Иван Сергеевич"
    assert list(got)[-1] == "CTI_TARGET_COUNT"
    assert routing.decision_for("1795512600.7") is not None


async def test_json_answer_and_what_if_without_side_effects(
    http: Any, routing: RoutingService
) -> None:
    resp = await http.get(
        "/api/route",
        params=[
            ("caller", "+79161234567"),
            ("did", "74951112233"),
            ("linkedid", "x1"),
            ("state", "ivanova=paused:lunch"),
        ],
        headers=AUTH,
    )
    body = await resp.json()
    assert resp.status == 200
    assert [t["kind"] for t in body["targets"]] == ["duty", "voicemail"]
    assert body["reasons"][0] == {
        "step": "manager",
        "code": "paused",
        "text": "account manager Ivanova is away (lunch)",
        "agent": "ivanova",
        "detail": "lunch",
    }
    assert body["variables"]["CTI_TARGET_1"] == "PJSIP/150"
    assert routing.decision_for("x1") is None and routing.last_offered == {}


async def test_the_route_api_needs_a_token_and_sane_input(http: Any) -> None:
    resp = await http.get("/api/route", params={"caller": "1", "did": "2"})
    assert resp.status == 401
    resp = await http.get("/api/route", params={"caller": "1" * 65}, headers=AUTH)
    assert resp.status == 400 and resp.content_type == "application/problem+json"
    resp = await http.get("/api/route", params={"format": "xml"}, headers=AUTH)
    assert resp.status == 400
    resp = await http.get("/api/route", params={"state": "ghost=offline"}, headers=AUTH)
    assert resp.status == 400 and "ghost" in (await resp.json())["detail"]
