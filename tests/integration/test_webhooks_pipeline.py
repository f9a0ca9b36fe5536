"""Every message the server emits validates against schemas/: calls from the PBX simulator through
the whole `cti serve` (AMI, tracking, pops, the callback book, the outbox, the sender) to websocket
clients (schemas/ws, checked by tests.pops_world) and to a real webhook receiver
(schemas/webhooks); each call's webhooks arrive in order: ringing, answered, ended, missed."""

from __future__ import annotations

from pathlib import Path

from cti.webhooks.model import EVENT_TYPES
from scripts.openapi_webhooks import OPENAPI, webhook_part
from tests.pops_world import KNOWN, running, until
from tests.webhooks_world import receiver

SECRET = "pipeline-webhook-secret-0123"


def _linkedid(payload: dict) -> str | None:  # type: ignore[type-arg]
    data = payload["data"]
    if "linkedid" in data:
        return data["linkedid"]
    if "call" in data:
        return data["call"]["linkedid"]
    return data.get("callback", {}).get("resolving_linkedid")


async def test_calls_through_the_server_emit_only_valid_messages_in_order(tmp_path: Path) -> None:
    async with (
        receiver(SECRET) as hook,
        running(tmp_path, recording_url_template="https://pbx.example/rec/{file}") as world,
    ):
        assert world.c.webhooks is not None
        await world.c.webhooks.service.add(hook.url, "all", secret=SECRET)
        boss = await world.feed("boss")
        agent = await world.feed("101")
        played = []
        for name, params in [
            ("answered", {"agent": "101", "caller": KNOWN, "ring": 2.0, "talk": 1.0}),
            ("abandoned", {"agent": "101", "caller": KNOWN}),
            ("no_answer_then_duty", {"agent": "101", "duty": "199", "caller": KNOWN}),
        ]:
            linkedid, _, task = world.sim.start_scenario(name, **params)
            await task
            await world.settle()
            played.append(linkedid)
        answered, missed, duty = played
        # answered: ringing, answered, ended; missed: ringing, ended, missed; duty: ringing x2,
        # answered, ended, and the callback the miss opened is resolved by this answered call
        await until(lambda: len(hook.accepted()) >= 11, timeout=30)
        await until(
            lambda: bool(boss.of("call.ended", duty)) and bool(agent.of("call.answered", duty))
        )
    assert hook.invalid == [] and hook.bad_signatures == 0
    by_call: dict[str, list[str]] = {}
    for hit in hook.accepted():
        by_call.setdefault(_linkedid(hit.payload) or "", []).append(hit.kind)
    assert by_call[answered] == ["call.ringing", "call.answered", "call.ended"]
    assert by_call[missed] == ["call.ringing", "call.ended", "call.missed"]
    assert by_call[duty] == [
        "call.ringing",
        "call.ringing",
        "call.answered",
        "call.ended",
        "callback.resolved",
    ]
    assert len({h.event_id for h in hook.accepted()}) == len(hook.accepted())
    assert {h.kind for h in hook.accepted()} <= set(EVENT_TYPES)
    kinds = {m["type"] for m in boss.messages} | {m["type"] for m in agent.messages}
    assert {"call.live", "call.ended", "call.ringing", "call.answered", "call.missed"} <= kinds


def test_the_openapi_description_carries_the_webhook_schemas_as_generated() -> None:
    import json

    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    paths, components, webhooks = webhook_part()
    assert {k: document["paths"].get(k) for k in paths} == paths
    assert {k: document["components"]["schemas"].get(k) for k in components} == components
    assert document["webhooks"] == webhooks, "run scripts/openapi_webhooks.py"
