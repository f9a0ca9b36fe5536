"""The pure parts of webhooks: signatures, the retry schedule, event ids and payloads, links."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from cti.calls.model import CallRecord, Direction, Outcome
from cti.pops.cards import call_item
from cti.webhooks import model
from cti.webhooks.links import Links, fill
from cti.webhooks.retry import RetryPolicy
from cti.webhooks.signing import BadSignature, signature_header, verify
from tests.webhooks_world import payload_errors, verify_cti_signature

SECRET = "whsec-0123456789abcdef"
BODY = b'{"id":"x","type":"call.ended"}'


def test_a_signature_verifies_with_the_module_and_with_the_documented_snippet() -> None:
    now = int(time.time())
    header = signature_header(SECRET, now, BODY)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, header, BODY, now=now) == now
    assert verify_cti_signature(SECRET, header, BODY)


@pytest.mark.parametrize(
    ("secret", "body", "shift", "why"),
    [
        ("another-secret-entirely", BODY, 0, "no v1"),
        (SECRET, BODY + b" ", 0, "no v1"),
        (SECRET, BODY, 301, "more than 300"),
        (SECRET, BODY, -301, "more than 300"),
    ],
)
def test_a_wrong_secret_a_changed_body_or_an_old_timestamp_is_refused(
    secret: str, body: bytes, shift: int, why: str
) -> None:
    now = int(time.time())
    header = signature_header(SECRET, now, BODY)
    with pytest.raises(BadSignature, match=why):
        verify(secret, header, body, now=now + shift)
    assert not verify_cti_signature(secret, header, body) or shift != 0


def test_a_malformed_header_is_refused() -> None:
    for header in ("", "v1=abc", "t=abc,v1=def", "t=1"):
        with pytest.raises(BadSignature):
            verify(SECRET, header, BODY, now=1)


def test_the_backoff_doubles_up_to_the_cap_and_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(first=10, factor=2, cap=3600, jitter=0.2)
    assert policy.schedule(10) == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert policy.delay(1, rand=lambda: 0.5) == 10
    assert policy.delay(3, rand=lambda: 0.0) == pytest.approx(32)
    assert policy.delay(3, rand=lambda: 1.0) == pytest.approx(48)
    assert policy.delay(50, rand=lambda: 0.5) == 3600


def test_retries_stop_after_the_window_and_the_last_lands_at_its_end() -> None:
    policy = RetryPolicy(first=10, factor=2, cap=3600, jitter=0.0, give_up_after=86400)
    event = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    at, attempts = event, 0
    while True:
        attempts += 1
        following = policy.next_attempt(attempt=attempts, event_at=event, now=at, rand=lambda: 0.5)
        if following is None:
            break
        assert following > at
        at = following
    assert at == event + timedelta(days=1) and 25 < attempts < 40  # retried for the whole day


def record(linkedid: str = "1.1", recording: str | None = None) -> CallRecord:
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        caller="101",
        caller_e164=None,
        caller_name="",
        did="74952220101",
        agents_rung=("101",),
        answered_by=("101",),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=1_795_000_000.0,
        answered_at=1_795_000_005.0,
        ended_at=1_795_000_065.0,
        wait_seconds=5.0,
        talk_seconds=60.0,
        recording=recording,
    )


def test_event_ids_are_stable_per_fact_and_payloads_match_their_schemas() -> None:
    at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    first = model.call_ended(record(), at=at, recording_url=None)
    again = model.call_ended(record(), at=at + timedelta(hours=1), recording_url=None)
    assert first.id == again.id and first.key == "call:1.1"
    assert model.call_ended(record("1.2"), at=at, recording_url=None).id != first.id
    assert payload_errors(first.payload()) == []
    live = model.call_live(
        model.EventType.CALL_RINGING,
        linkedid="1.1",
        agent="101",
        call={"direction": "inbound", "caller": "+7916", "started_at": "2026-11-25T09:00:00.000Z"},
        at=at,
        key="101:x",
    )
    assert live.key == first.key and payload_errors(live.payload()) == []


def test_event_lists_are_checked() -> None:
    assert model.parse_events("call.missed, call.answered") == ("call.answered", "call.missed")
    assert model.parse_events("all") == model.EVENT_TYPES
    for bad in ("", "call.nope", ["call.missed", "x"]):
        with pytest.raises(ValueError):
            model.parse_events(bad)


def test_crm_and_recording_links_come_from_the_templates() -> None:
    links = Links(
        crm_url_template="https://crm.example/customers/{external_id}",
        recording_url_template="https://pbx.example/rec/{file}?call={linkedid}",
    )
    assert (
        links.crm_url({"id": 5, "external_id": "A 1/2", "crm_url": None})
        == "https://crm.example/customers/A%201%2F2"
    )
    assert (
        links.crm_url({"id": 5, "external_id": "A1", "crm_url": "https://own.example/5"})
        == "https://own.example/5"
    )
    assert links.crm_url({"id": 5, "external_id": None}) is None  # no half-filled link
    assert (
        links.recording_url("/var/spool/asterisk/monitor/2026/in-1.1.wav", "1.1")
        == "https://pbx.example/rec/in-1.1.wav?call=1.1"
    )
    assert links.recording_url(None) is None and Links().recording_url("x.wav") is None
    assert (
        fill("https://pbx.example/{path}", {"path": "2026/11/x y.wav"}, paths=frozenset({"path"}))
        == "https://pbx.example/2026/11/x%20y.wav"
    )
    item = call_item(record(recording="in-1.1.wav"), links)
    assert item["recording_url"] == "https://pbx.example/rec/in-1.1.wav?call=1.1"
    assert "recording_url" not in call_item(record(), links)


def test_the_documented_snippet_is_the_one_the_tests_verify_with() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "webhooks.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\nimport hashlib, hmac, time\n\n(.*?)```", doc, re.S)
    assert snippet is not None
    assert snippet.group(1).strip() in (root / "tests" / "webhooks_world.py").read_text(
        encoding="utf-8"
    )


async def test_the_pop_links_to_the_crm_from_the_template_unless_the_customer_has_a_link() -> None:
    from types import SimpleNamespace
    from typing import Any

    from cti.pops.cards import CardSource

    views = {
        1: {"id": 1, "external_id": "ext-1", "name": "A", "crm_url": None, "phones": []},
        2: {
            "id": 2,
            "external_id": "ext-2",
            "name": "B",
            "crm_url": "https://own.example/2",
            "phones": [],
        },
        3: {"id": 3, "external_id": None, "name": "C", "crm_url": None, "phones": []},
    }

    class Customers:
        async def get(self, customer_id: int) -> dict[str, Any]:
            return views[customer_id]

    async def match(raw: str) -> Any:
        found = SimpleNamespace(customer_id=int(raw), manager_login=None)
        return SimpleNamespace(normalized=None, kind="mobile", customer=found, internal=False)

    cards = CardSource(
        match=match,
        customers=Customers(),
        links=Links(crm_url_template="https://crm.example/c/{external_id}"),
    )
    shown = {n: (await cards.card(str(n))).customer["crm_url"] for n in (1, 2, 3)}  # type: ignore[index]
    assert shown == {1: "https://crm.example/c/ext-1", 2: "https://own.example/2", 3: None}
