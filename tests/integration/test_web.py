"""The web edge over real HTTP and websockets: auth, login, /ws feed, API, probes, schemas."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from cti.auth.memory import MemoryAuthStore
from cti.auth.passwords import fast_passwords
from cti.auth.principal import Role
from cti.auth.service import AuthService
from cti.auth.sessions import SessionPolicy
from cti.bus import InProcessBus
from cti.calls.model import CallRecord, Direction, MissedKind, Outcome
from cti.config import Settings
from web.app import create_app
from web.auth import SESSION_COOKIE
from web.ws import WS_CONNECTIONS, WsLimits, close_all

TOKEN = "tok-3b9f0e1c-test"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "ws"

LIVE_CALL: dict[str, Any] = {
    "linkedid": "1700000000.1",
    "direction": "inbound",
    "caller": "+79161234567",
    "caller_name": "Иван",
    "did": "74951230000",
    "state": "ringing",
    "agents_ringing": ["101", "102"],
    "answered_by": [],
    "started_at": "2024-05-01T09:00:00.000Z",
    "answered_at": None,
    "customer": {"name": "Иван Петров", "company": "ООО Ромашка"},
}


def finished_call(linkedid: str = "1700000000.9") -> dict[str, Any]:
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        caller="89161234567",
        caller_e164="+79161234567",
        caller_name="Иван",
        did="74951230000",
        agents_rung=("101",),
        answered_by=(),
        outcome=Outcome.MISSED,
        missed_kind=MissedKind.ABANDONED,
        short_abandon=True,
        started_at=1_714_554_000.0,
        answered_at=None,
        ended_at=1_714_554_003.5,
        wait_seconds=3.5,
        talk_seconds=0.0,
    ).to_json()


class Sources:
    """The callables create_app takes, with what they were asked."""

    def __init__(self) -> None:
        self.live: list[dict[str, Any]] = [LIVE_CALL]
        self.recent: list[dict[str, Any]] = [finished_call()]
        self.limits_asked: list[int] = []
        self.health_report: dict[str, Any] = {"status": "ok", "ami": "connected"}
        self.failure: Exception | None = None  # raised by recent_calls and health when set

    def live_calls(self) -> list[dict[str, Any]]:
        return list(self.live)

    async def recent_calls(
        self, limit: int, involving: frozenset[str] | None
    ) -> list[dict[str, Any]]:
        self.limits_asked.append(limit)
        if self.failure:
            raise self.failure
        return self.recent[:limit]

    def health(self) -> dict[str, Any]:
        if self.failure:
            raise self.failure
        return self.health_report

    def metrics(self) -> str:
        return "# TYPE cti_calls_live gauge\ncti_calls_live 1\n"


@pytest.fixture
def sources() -> Sources:
    return Sources()


@pytest.fixture
def bus() -> InProcessBus:
    return InProcessBus(queue_size=8)


def make_app(sources: Sources, bus: InProcessBus, **extra: Any) -> Any:
    return create_app(
        settings=Settings(api_tokens=(TOKEN, "another-token")),
        bus=bus,
        live_calls=sources.live_calls,
        recent_calls=sources.recent_calls,
        health=sources.health,
        metrics=sources.metrics,
        **extra,
    )


@pytest.fixture
async def client(aiohttp_client: Any, sources: Sources, bus: InProcessBus) -> Any:
    return await aiohttp_client(make_app(sources, bus))


def origin_of(client: Any) -> str:
    return f"http://{client.host}:{client.port}"


async def assert_problem(resp: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert resp.status == status
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body = await resp.json(content_type=None)
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    assert "Traceback" not in json.dumps(body)
    return body


async def sign_in(client: Any) -> None:
    resp = await client.get(f"/login?token={TOKEN}", allow_redirects=False)
    assert resp.status == 303


# --- authentication ---------------------------------------------------------------------------


async def test_signed_out_browser_is_sent_to_login(client: Any) -> None:
    resp = await client.get("/", headers={"Accept": "text/html"}, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/login"


@pytest.mark.parametrize("path", ["/api/calls", "/api/calls/live", "/static/live.js", "/ws"])
async def test_signed_out_api_gets_401_problem(client: Any, path: str) -> None:
    resp = await client.get(path)
    await assert_problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_wrong_bearer_token_is_refused(client: Any) -> None:
    resp = await client.get("/api/calls/live", headers={"Authorization": "Bearer nope"})
    await assert_problem(resp, 401)


async def test_bearer_token_reads_live_calls(client: Any) -> None:
    resp = await client.get("/api/calls/live", headers=BEARER)
    assert resp.status == 200
    assert await resp.json() == {"calls": [LIVE_CALL]}


async def test_login_link_sets_a_strict_httponly_session_cookie(client: Any) -> None:
    resp = await client.get(f"/login?token={TOKEN}", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/"
    cookie = resp.cookies[SESSION_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie.value != TOKEN and len(cookie.value) >= 32
    page = await client.get("/", headers={"Accept": "text/html"})
    assert page.status == 200
    assert 'id="live-body"' in await page.text()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    api = await client.get("/api/calls/live")
    assert api.status == 200


async def test_wrong_login_token_is_401_and_sets_no_cookie(client: Any) -> None:
    resp = await client.get(
        "/login?token=guess", headers={"Accept": "text/html"}, allow_redirects=False
    )
    assert resp.status == 401
    assert SESSION_COOKIE not in resp.cookies
    text = await resp.text()
    assert 'data-i18n="login.invalid_token"' in text and "guess" not in text
    await assert_problem(await client.get("/login?token=guess"), 401)
    await assert_problem(await client.get("/api/calls/live"), 401)


async def test_login_form_posts_login_and_password_and_rejects_foreign_origin(
    aiohttp_client: Any, sources: Sources, bus: InProcessBus
) -> None:
    store = MemoryAuthStore()
    auth = AuthService(store=store, passwords=fast_passwords())
    await auth.add_user("petrova", role=Role.SUPERVISOR, password="a long password")
    client = await aiohttp_client(make_app(sources, bus, auth=auth))
    form = await client.get("/login")
    text = await form.text()
    assert form.status == 200 and 'name="login"' in text and 'name="password"' in text
    good = {"login": "petrova", "password": "a long password"}
    foreign = await client.post("/login", data=good, headers={"Origin": "http://evil.example"})
    await assert_problem(foreign, 403)
    wrong = await client.post(
        "/login", data={**good, "password": "wrong password"}, headers={"Origin": origin_of(client)}
    )
    await assert_problem(wrong, 401)
    resp = await client.post(
        "/login", data=good, headers={"Origin": origin_of(client)}, allow_redirects=False
    )
    assert resp.status == 303 and SESSION_COOKIE in resp.cookies
    assert resp.headers["Location"] == "/"  # a supervisor lands on the live board
    assert (await client.get("/api/calls/live")).status == 200


async def test_an_agent_lands_on_their_console_after_signing_in(
    aiohttp_client: Any, sources: Sources, bus: InProcessBus
) -> None:
    auth = AuthService(store=MemoryAuthStore(), passwords=fast_passwords())
    await auth.add_user("ivanova", role=Role.AGENT, password="a long password")
    client = await aiohttp_client(make_app(sources, bus, auth=auth))
    form = {"login": "ivanova", "password": "a long password"}
    headers = {"Origin": origin_of(client)}
    resp = await client.post("/login", data=form, headers=headers, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console"
    again = await client.get("/login", allow_redirects=False)  # already signed in
    assert again.status == 303 and again.headers["Location"] == "/console"


async def test_logout_ends_the_session(client: Any) -> None:
    await sign_in(client)
    stolen = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    resp = await client.post("/logout", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    await assert_problem(await client.get("/api/calls/live"), 401)
    # the old id is dead on the server too, not only forgotten by this browser
    replay = await client.get("/api/calls/live", headers={"Cookie": f"{SESSION_COOKIE}={stolen}"})
    await assert_problem(replay, 401)


async def test_session_expires_after_its_ttl(
    aiohttp_client: Any, sources: Sources, bus: InProcessBus
) -> None:
    now = [1000.0]
    store = MemoryAuthStore()
    auth = AuthService(
        store=store,
        break_glass_tokens=(TOKEN,),
        clock=lambda: now[0],
        sessions=SessionPolicy(ttl=12 * 3600, cache_seconds=0),
    )
    client = await aiohttp_client(make_app(sources, bus, auth=auth))
    await sign_in(client)
    now[0] += 12 * 3600 - 1
    assert (await client.get("/api/calls/live")).status == 200
    async with client.ws_connect("/ws", headers={"Origin": origin_of(client)}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    now[0] += 2
    await assert_problem(await client.get("/api/calls/live"), 401)
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:  # an expired session's feed
        await client.ws_connect("/ws", headers={"Origin": origin_of(client)})
    assert caught.value.status == 401
    assert len(store) == 0


async def test_login_token_never_reaches_the_access_log(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await client.get(f"/login?token={TOKEN}", allow_redirects=False)
        await client.get("/login?token=wrong-guess-123", allow_redirects=False)
    assert "/login" in caplog.text
    assert TOKEN not in caplog.text and "wrong-guess-123" not in caplog.text


# --- websocket feed -----------------------------------------------------------------------------


async def test_ws_refuses_unauthenticated_handshake(client: Any) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", headers={"Origin": origin_of(client)})
    assert caught.value.status == 401


async def test_ws_refuses_foreign_origin_even_when_signed_in(client: Any) -> None:
    await sign_in(client)
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", headers={"Origin": "http://evil.example"})
    assert caught.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", headers={**BEARER, "Origin": "http://evil.example"})
    assert caught.value.status == 403


async def test_ws_cookie_needs_origin_but_bearer_may_omit_it(client: Any) -> None:
    await sign_in(client)
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws")  # cookie, no Origin: not a browser page of ours
    assert caught.value.status == 403
    async with client.ws_connect("/ws", headers={"Origin": origin_of(client)}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    client.session.cookie_jar.clear()
    async with client.ws_connect("/ws", headers=BEARER) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"


async def test_ws_sends_snapshot_then_numbered_call_events(client: Any, bus: InProcessBus) -> None:
    async with client.ws_connect("/ws", headers=BEARER) as ws:
        snapshot = await ws.receive_json(timeout=5)
        assert snapshot["type"] == "snapshot"
        assert snapshot["calls"] == [LIVE_CALL]
        assert snapshot["seq"] == 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", snapshot["server_time"])
        talking = {**LIVE_CALL, "state": "talking", "answered_by": ["101"]}
        bus.publish({"type": "call.live", "call": talking})
        bus.publish({"type": "agent.state", "agent": "101"})  # not for the board
        bus.publish({"type": "call.ended", "call": finished_call(LIVE_CALL["linkedid"])})
        first = await ws.receive_json(timeout=5)
        second = await ws.receive_json(timeout=5)
    assert first == {"type": "call.live", "call": talking, "seq": 1}
    assert second["type"] == "call.ended" and second["seq"] == 2
    assert second["call"]["outcome"] == "missed"


async def test_ws_client_that_falls_behind_gets_1013_then_resumes_without_gaps(
    aiohttp_client: Any, bus: InProcessBus, sources: Sources
) -> None:
    client = await aiohttp_client(make_app(sources, bus, ws_limits=WsLimits(queue_size=8)))
    async with client.ws_connect("/ws", headers=BEARER) as ws:
        snapshot = await ws.receive_json(timeout=5)
        for n in range(20):  # no await in between: far more than the queue of 8 holds
            bus.publish({"type": "call.live", "call": {**LIVE_CALL, "linkedid": f"x.{n}"}})
        got = []
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type is not WSMsgType.TEXT:
                break
            got.append(msg.json())
        assert msg.type is WSMsgType.CLOSE
        assert ws.close_code == 1013
        assert len(got) < 20
    last = got[-1]["seq"] if got else snapshot["seq"]
    resume = {"since": str(last), "stream": snapshot["stream"]}
    async with client.ws_connect("/ws", headers=BEARER, params=resume) as again:
        header = await again.receive_json(timeout=5)
        assert header["type"] == "resume" and header["seq"] == last
        rest = [await again.receive_json(timeout=5) for _ in range(header["replayed"])]
    seqs = [m["seq"] for m in got + rest]
    assert seqs == list(range(1, 21))  # every message once, in order
    assert [m["call"]["linkedid"] for m in got + rest] == [f"x.{n}" for n in range(20)]
    sources.live = [{**LIVE_CALL, "linkedid": "x.19"}]
    async with client.ws_connect("/ws", headers=BEARER) as fresh:  # no position: a snapshot
        first = await fresh.receive_json(timeout=5)
        assert first["type"] == "snapshot" and first["calls"][0]["linkedid"] == "x.19"
        assert first["seq"] == 20 and first["reason"] == "new"


async def test_a_stalled_client_is_cut_off_without_holding_up_the_others(
    aiohttp_client: Any, sources: Sources, bus: InProcessBus
) -> None:
    app = make_app(
        sources, bus, ws_limits=WsLimits(send_timeout=0.5, close_timeout=0.5, queue_size=4)
    )
    client = await aiohttp_client(app)
    stalled = await client.ws_connect("/ws", headers=BEARER, compress=0)  # never reads
    fast = await client.ws_connect("/ws", headers=BEARER)
    assert (await fast.receive_json(timeout=5))["type"] == "snapshot"
    connections = app[WS_CONNECTIONS]
    bulky = "я" * 100_000  # ~200 kB a message: the stalled socket's buffers fill quickly
    for n in range(1, 400):
        bus.publish({"type": "call.live", "call": {**LIVE_CALL, "caller_name": bulky}})
        msg = await fast.receive_json(timeout=5)  # the fast client never waits on the slow one
        assert msg["seq"] == n
        if len(connections) == 1:
            break
        await asyncio.sleep(0.01)  # time for the unanswered close handshake to give up (0.5 s)
    else:
        pytest.fail("the stalled client was never dropped")
    while (msg := await stalled.receive(timeout=10)).type is WSMsgType.TEXT:
        pass  # what was already in flight drains; then the socket is gone
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR)
    bus.publish({"type": "call.ended", "call": finished_call()})
    last = await fast.receive_json(timeout=5)
    assert last["type"] == "call.ended" and last["seq"] == n + 1
    await fast.close()


async def test_ws_closes_on_oversized_inbound_message(client: Any) -> None:
    async with client.ws_connect("/ws", headers=BEARER) as ws:
        await ws.receive_json(timeout=5)
        await ws.send_str("x" * 10_000)
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE
        assert ws.close_code == 1009


async def test_shutdown_tells_boards_the_server_is_going_away(client: Any) -> None:
    async with client.ws_connect("/ws", headers=BEARER) as ws:
        await ws.receive_json(timeout=5)
        closing = asyncio.create_task(close_all(client.server.app))
        msg = await ws.receive(timeout=5)
        await closing
        assert msg.type is WSMsgType.CLOSE and ws.close_code == 1001


# --- API, probes, errors ------------------------------------------------------------------------


async def test_recent_calls_default_and_explicit_limit(client: Any, sources: Sources) -> None:
    resp = await client.get("/api/calls", headers=BEARER)
    assert resp.status == 200 and await resp.json() == {"calls": sources.recent}
    assert (await client.get("/api/calls?limit=1000", headers=BEARER)).status == 200
    assert sources.limits_asked == [50, 1000]


@pytest.mark.parametrize("bad", ["0", "1001", "abc", "-1", "1_000", "+5", "", "2.5", "١٢"])
async def test_recent_calls_limit_is_validated(client: Any, sources: Sources, bad: str) -> None:
    resp = await client.get("/api/calls", params={"limit": bad}, headers=BEARER)
    body = await assert_problem(resp, 400)
    assert "1 to 1000" in body["detail"]
    assert sources.limits_asked == []


async def test_health_and_metrics_need_no_login(client: Any, sources: Sources) -> None:
    live = await client.get("/health/live")
    assert live.status == 200 and await live.json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status == 200 and (await ready.json())["ami"] == "connected"
    sources.health_report = {"status": "degraded", "ami": "disconnected"}
    not_ready = await client.get("/health/ready")
    assert not_ready.status == 503 and (await not_ready.json())["ami"] == "disconnected"
    metrics = await client.get("/metrics")
    assert metrics.status == 200
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "cti_calls_live 1" in await metrics.text()


async def test_failing_health_check_is_503_not_a_crash(client: Any, sources: Sources) -> None:
    sources.failure = RuntimeError("db exploded")
    resp = await client.get("/health/ready")
    assert resp.status == 503 and (await resp.json())["status"] == "error"


async def test_unknown_path_and_server_error_are_problems_without_internals(
    client: Any, sources: Sources, caplog: pytest.LogCaptureFixture
) -> None:
    await assert_problem(await client.get("/api/nope", headers=BEARER), 404)
    sources.failure = RuntimeError("secret internal detail")
    with caplog.at_level(logging.ERROR):
        resp = await client.get("/api/calls", headers=BEARER)
    body = await assert_problem(resp, 500)
    assert "secret internal detail" not in json.dumps(body)
    assert "secret internal detail" in caplog.text  # the operator still sees it


# --- message schemas ----------------------------------------------------------------------------


_KINDS: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}


def validate(value: Any, schema: dict[str, Any], at: str = "$") -> list[str]:
    """The subset of JSON Schema 2020-12 our ws schemas use (jsonschema is not a dependency)."""
    kinds = schema.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if kinds and not any(
        isinstance(value, _KINDS[k]) and not (isinstance(value, bool) and k != "boolean")
        for k in kinds
    ):
        return [f"{at}: {value!r} is not {kinds}"]
    errors = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{at}: not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: {value!r} not in {schema['enum']}")
    if "oneOf" in schema and sum(not validate(value, s, at) for s in schema["oneOf"]) != 1:
        errors.append(f"{at}: must match exactly one of oneOf")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{at}: too short")
        if schema.get("format") == "date-time" and not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value
        ):
            errors.append(f"{at}: {value!r} is not an RFC 3339 date-time")
    if isinstance(value, int | float) and value < schema.get("minimum", value):
        errors.append(f"{at}: below {schema['minimum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{at}: missing {k}" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{at}: unexpected {k}" for k in value if k not in props]
        for key in props.keys() & value.keys():
            errors += validate(value[key], props[key], f"{at}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += validate(item, schema["items"], f"{at}[{i}]")
    return errors


def load_schema(name: str) -> dict[str, Any]:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return schema


async def test_messages_on_the_wire_match_the_ws_schemas(client: Any, bus: InProcessBus) -> None:
    held = {**LIVE_CALL, "state": "on_hold", "answered_at": "2024-05-01T09:00:07.000Z"}
    anonymous = {**LIVE_CALL, "direction": None, "customer": None, "caller": ""}
    async with client.ws_connect("/ws", headers=BEARER) as ws:
        await ws.receive_json(timeout=5)
        bus.publish({"type": "call.live", "call": held})
        bus.publish({"type": "call.live", "call": anonymous})
        bus.publish({"type": "call.ended", "call": finished_call()})
        messages = [await ws.receive_json(timeout=5) for _ in range(3)]
    live_schema, ended_schema = load_schema("call.live"), load_schema("call.ended")
    assert validate(messages[0], live_schema) == []
    assert validate(messages[1], live_schema) == []
    assert validate(messages[2], ended_schema) == []


def test_schemas_reject_what_the_board_cannot_show() -> None:
    live_schema, ended_schema = load_schema("call.live"), load_schema("call.ended")
    assert validate(
        {"type": "call.live", "seq": 1, "call": {**LIVE_CALL, "state": "gone"}}, live_schema
    )
    assert validate({"type": "call.live", "call": LIVE_CALL}, live_schema)  # no seq
    late = {**LIVE_CALL, "started_at": "yesterday"}
    assert validate({"type": "call.live", "seq": 1, "call": late}, live_schema)
    record = finished_call()
    assert validate({"type": "call.ended", "seq": 1, "call": {**record, "extra": 1}}, ended_schema)
    del record["outcome"]
    assert validate({"type": "call.ended", "seq": 2, "call": record}, ended_schema)
