"""Screen-pops over real websockets, from the PBX simulator's AMI through the whole server: the
right agent and no other, one pop per agent per call, closed when a colleague answers, moved by
transfers, resumed after a reconnect without gaps or repeats; every message matches its schema."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.pops_world import KNOWN, KNOWN_NAME, World, running, schema_errors, until


@pytest.fixture
async def world(tmp_path: Path) -> World:  # type: ignore[misc]
    async with running(tmp_path) as w:
        yield w


async def test_the_agent_whose_phone_rings_gets_the_pop_and_nobody_else(world: World) -> None:
    mine = await world.feed("101")
    colleague = await world.feed("102")
    boss = await world.feed("boss")
    linkedid, _, task = world.sim.start_scenario(
        "answered", agent="101", caller="8 916 123-45-67", ring=20.0, talk=1.0
    )
    await until(lambda: bool(mine.of("call.ringing", linkedid)))
    (ringing,) = mine.of("call.ringing", linkedid)
    assert ringing["agent"] == "101" and ringing["pop"]["agent"]["login"] == "101"
    # at once from memory: who it is; then the database's part (orders, zone, CRM) as an update
    assert ringing["pop"]["customer"]["name"] == KNOWN_NAME
    await until(lambda: mine.complete_pop(linkedid))
    pop = mine.pop(linkedid)
    assert pop is not None
    assert pop["customer"]["name"] == KNOWN_NAME
    assert pop["customer"]["vip"] is True
    assert pop["customer"]["manager"]["login"] == "101"
    assert pop["customer"]["timezone"] == "Europe/Moscow"
    assert pop["customer"]["crm_url"].startswith("https://crm.example.com/")
    assert pop["caller"]["e164"] == KNOWN and pop["new_customer"] is None
    await task
    await world.settle()
    await until(lambda: mine.pop_ended(linkedid))
    assert [m["closes"] for m in mine.of("call.answered", linkedid)] == [False]
    assert [m["agent"] for m in mine.of("call.ended", linkedid) if "agent" in m] == ["101"]
    # nobody else got a pop; the supervisor sees the call on the board, not the agent's pop
    await until(lambda: bool(boss.of("call.ended", linkedid)))
    for other in (colleague, boss):
        assert not [m for m in other.messages if "agent" in m]
    assert boss.of("call.live", linkedid) and boss.of("call.ended", linkedid)
    assert not colleague.of("call.live", linkedid)


async def test_an_unknown_caller_pops_the_number_for_a_new_card(world: World) -> None:
    feed = await world.feed("103")
    linkedid, _, task = world.sim.start_scenario(
        "answered", agent="103", caller="+74951112233", ring=20.0, talk=1.0
    )
    await until(lambda: feed.complete_pop(linkedid))
    pop = feed.pop(linkedid)
    assert pop is not None and pop["customer"] is None
    assert pop["new_customer"] == {"phone": "+74951112233"}
    await task


async def test_queue_ring_all_pops_each_rung_agent_once_and_closes_them_on_answer(
    world: World,
) -> None:
    feeds = {login: await world.feed(login) for login in ("101", "102", "103", "199")}
    linkedid, _, task = world.sim.start_scenario(
        "queue_answered", members=("101", "102", "103"), other="102", caller=KNOWN
    )
    await task
    await world.settle()
    await until(lambda: feeds["102"].pop_ended(linkedid))
    for login in ("101", "102", "103"):
        assert len(feeds[login].of("call.ringing", linkedid)) == 1, login
        (answered,) = feeds[login].of("call.answered", linkedid)
        assert answered["by"]["login"] == "102"
        assert answered["closes"] is (login != "102")
    # the pop closed by a colleague's answer gets nothing more about the call
    assert [m for m in feeds["101"].of("call.ended", linkedid) if "agent" in m] == []
    assert [m["agent"] for m in feeds["102"].of("call.ended", linkedid) if "agent" in m] == ["102"]
    assert not [m for m in feeds["199"].messages if m.get("agent")]


async def test_a_fallback_rings_the_duty_operator_and_keeps_one_pop_each(world: World) -> None:
    first, duty = await world.feed("101"), await world.feed("199")
    linkedid, _, task = world.sim.start_scenario("no_answer_then_duty", agent="101", duty="199")
    await task
    await world.settle()
    await until(lambda: duty.pop_ended(linkedid))
    assert len(first.of("call.ringing", linkedid)) == 1
    assert len(duty.of("call.ringing", linkedid)) == 1
    assert first.of("call.answered", linkedid)[0] | {"seq": 0} == {
        "type": "call.answered",
        "seq": 0,
        "agent": "101",
        "linkedid": linkedid,
        "by": {"login": "199", "name": "Duty Operator", "extension": "199"},
        "closes": True,
    }


async def test_a_blind_transfer_moves_the_pop_with_its_context(world: World) -> None:
    source, target = await world.feed("101"), await world.feed("102")
    linkedid, _, task = world.sim.start_scenario(
        "blind_transfer", agent="101", other="102", caller=KNOWN
    )
    await task
    await world.settle()
    await until(lambda: target.pop_ended(linkedid))
    (away,) = source.of("call.transferred", linkedid)
    assert away["direction"] == "away" and away["other"][0]["login"] == "102"
    assert "pop" not in away
    (handed,) = target.of("call.transferred", linkedid)
    assert handed["direction"] == "to_you"
    assert handed["other"][0]["login"] == "101"
    assert handed["pop"]["customer"]["name"] == KNOWN_NAME
    assert handed["pop"]["transferred_from"][0]["login"] == "101"
    assert handed["pop"]["complete"]  # the card was read at the first ring of the call
    assert [m["closes"] for m in target.of("call.answered", linkedid)] == [False]
    assert not target.of("call.ringing", linkedid)  # the transfer is the pop, not a second one


async def test_an_attended_transfer_moves_the_pop_too(world: World) -> None:
    source, target = await world.feed("101"), await world.feed("102")
    linkedid, expected, task = world.sim.start_scenario(
        "attended_transfer", agent="101", other="102", caller=KNOWN
    )
    await task
    await world.settle()
    await until(lambda: target.pop_ended(linkedid))
    assert [m["direction"] for m in source.of("call.transferred", linkedid)] == ["away"]
    (handed,) = target.of("call.transferred", linkedid)
    assert handed["direction"] == "to_you" and handed["pop"]["customer"]["name"] == KNOWN_NAME
    # the consultation call from 101 popped at 102 as a colleague's internal call
    consult = expected["related_calls"][0]["linkedid"]
    (internal,) = target.of("call.ringing", consult)
    assert internal["pop"]["colleague"]["login"] == "101"
    assert internal["pop"]["new_customer"] is None


async def test_a_reconnect_resumes_without_gaps_or_repeats(world: World) -> None:
    feed = await world.feed("101")
    snapshot = feed.messages[0]
    assert snapshot["type"] == "snapshot" and snapshot["reason"] == "new"
    first, _, task = world.sim.start_scenario("answered", agent="101", caller=KNOWN)
    await task
    await world.settle()
    await until(lambda: feed.pop_ended(first))
    await feed.ws.close()
    seen = feed.messages[1:]
    # calls while the agent is away: their pops wait in the journal
    started = [world.sim.start_scenario("answered", agent="101", caller=KNOWN) for _ in range(3)]
    for _, _, task in started:
        await task
    await world.settle()
    again = await world.feed("101", since=seen[-1]["seq"], stream=snapshot["stream"])
    await until(lambda: all(again.pop_ended(lid) for lid, _, _ in started))
    header = again.messages[0]
    assert header["type"] == "resume" and header["seq"] == seen[-1]["seq"]
    seqs = [m["seq"] for m in seen + again.messages[1:]]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no repeat
    for linkedid, _, _ in started:
        assert len(again.of("call.ringing", linkedid)) == 1
    # a stream that is not the server's (a restart) gets a fresh snapshot, not a wrong replay
    other = await world.feed("101", since=2, stream="not-this-one")
    assert other.messages[0]["type"] == "snapshot"
    assert other.messages[0]["reason"] == "other_stream"
    assert other.messages[0]["seq"] == seqs[-1]


async def test_a_pop_open_at_reconnect_is_in_the_snapshot(world: World) -> None:
    feed = await world.feed("101")
    linkedid, _, task = world.sim.start_scenario("answered", agent="101", ring=30.0, caller=KNOWN)
    await until(lambda: feed.complete_pop(linkedid))
    fresh = await world.feed("101")
    (pop,) = fresh.messages[0]["pops"]
    assert pop["linkedid"] == linkedid and pop["customer"]["name"] == KNOWN_NAME
    assert pop == feed.pop(linkedid)  # the snapshot has the pop as last sent
    assert [c["linkedid"] for c in fresh.messages[0]["calls"]] == [linkedid]
    task.cancel()


async def test_forged_and_revoked_tokens_and_foreign_origins_are_refused(world: World) -> None:
    url = f"{world.url}/ws"
    for headers in (
        {"Authorization": "Bearer cti_forged_token_that_was_never_issued"},
        {"Authorization": "Bearer " + world.tokens["101"][:-2] + "xx"},
        {**world.bearer("101"), "Origin": "https://evil.example"},
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await world.session.ws_connect(url, headers=headers)
        assert caught.value.status in (401, 403), headers
    assert world.c.auth is not None
    for token in await world.c.auth.store.tokens("102"):
        await world.c.auth.revoke_token(token.id)
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await world.session.ws_connect(url, headers=world.bearer("102"))
    assert caught.value.status == 401


async def test_click_to_call_rings_my_phone_once_per_key(world: World) -> None:
    sent: list[dict[str, str]] = []
    real = world.sim.originate

    def counting(*, agent: str, number: str, action_id: str | None) -> None:
        sent.append({"agent": agent, "number": number})
        real(agent=agent, number=number, action_id=action_id)

    world.sim.originate = counting  # type: ignore[method-assign]
    feed = await world.feed("102")
    url = f"{world.url}/api/originate"
    headers = {**world.bearer("102"), "Idempotency-Key": "click-0001-abcdef"}
    # the device comes from the directory: a device in the body is not even accepted
    sneaky = await world.session.post(
        url, json={"number": "89161234567", "device": "PJSIP/101"}, headers=headers
    )
    assert sneaky.status == 422
    first = await world.session.post(url, json={"number": "8 916 123-45-67"}, headers=headers)
    again = await world.session.post(url, json={"number": "8 916 123-45-67"}, headers=headers)
    assert first.status == again.status == 202
    body, repeated = await first.json(), await again.json()
    assert body["device"] == "PJSIP/102" and body["number"] == "89161234567"
    assert repeated["replayed"] is True and repeated["action_id"] == body["action_id"]
    no_key = await world.session.post(
        url, json={"number": "89161234567"}, headers=world.bearer("102")
    )
    assert no_key.status == 428
    await until(lambda: len(sent) == 1)
    await until(lambda: bool(feed.of("call.live")))
    assert sent == [{"agent": "102", "number": "89161234567"}]
    # the agent placed it: a live call of theirs, but no pop of their own phone ringing
    assert not feed.of("call.ringing")


def test_the_schemas_refuse_what_a_console_could_not_show() -> None:
    good = {
        "type": "call.answered",
        "seq": 3,
        "agent": "101",
        "linkedid": "L",
        "by": {"login": "102", "name": "Maria", "extension": "102"},
        "closes": True,
    }
    assert schema_errors(good) == []
    assert schema_errors({**good, "seq": 0})  # numbers start at 1
    assert schema_errors({**good, "closes": "yes"})
    assert schema_errors({key: v for key, v in good.items() if key != "agent"})  # a pop's owner
    assert schema_errors(
        {
            "type": "call.ringing",
            "seq": 1,
            "agent": "101",
            "linkedid": "L",
            "pop": {"linkedid": "L"},
        }
    )
    assert schema_errors({"type": "pop.shown", "seq": 1})  # no such message
