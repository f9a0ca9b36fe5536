"""The pure bookkeeping of screen-pops: one pop per agent per call, closed on a colleague's
answer, moved by transfers, ended with the call (no mocks: effects in, messages out)."""

from __future__ import annotations

from cti.calls.machine import Answered, Changed, Finished, OfferEnded, Ringing
from cti.calls.model import CallRecord, Direction, OfferStatus, Outcome
from cti.pops.pops import (
    AgentRef,
    AnsweredBy,
    Book,
    CallFacts,
    Ended,
    Output,
    Show,
    TransferredAway,
    apply,
    open_pops,
)

AGENTS = {
    "101": AgentRef("ivanov", "Ivanov", "101"),
    "ivanov": AgentRef("ivanov", "Ivanov", "101"),  # the device endpoint names them too
    "102": AgentRef("petrova", "Petrova", "102"),
    "103": AgentRef("sidorov", "Sidorov", "103"),
}
L = "1700000000.1"


def facts(*, answered: bool = False, transferred: bool = False) -> CallFacts:
    return CallFacts(L, "inbound", "+79161234567", "", "74950000000", 1.0, answered, transferred)


def record() -> CallRecord:
    return CallRecord(
        linkedid=L,
        direction=Direction.INBOUND,
        caller="+79161234567",
        caller_e164="+79161234567",
        caller_name="",
        did="",
        agents_rung=("101",),
        answered_by=("101",),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=1.0,
        answered_at=2.0,
        ended_at=3.0,
        wait_seconds=1.0,
        talk_seconds=1.0,
    )


def run(steps: list[tuple[object, CallFacts | None]]) -> tuple[Book, list[Output]]:
    book: Book = {}
    out: list[Output] = []
    for n, (effect, call) in enumerate(steps):
        book, more = apply(book, effect, agents=AGENTS, call=call, now=float(n))  # type: ignore[arg-type]
        out += more
    return book, out


def told(outputs: list[Output]) -> list[tuple[str, str]]:
    return [
        (type(o).__name__, getattr(o, "pop", None) and o.pop.agent.login or o.to.login)  # type: ignore[union-attr]
        for o in outputs
    ]


def test_a_ring_opens_one_pop_however_many_legs_ring_the_agent() -> None:
    book, out = run(
        [
            (Ringing(L, "101", "a"), facts()),
            (Ringing(L, "ivanov", "b"), facts()),  # the same person by their endpoint name
            (OfferEnded(L, "101", OfferStatus.NO_ANSWER), facts()),
            (Ringing(L, "101", "c"), facts()),  # the queue rings them again
            (Changed(L), facts()),
        ]
    )
    assert told(out) == [("Show", "ivanov")]
    assert [lid for lid, _ in open_pops(book, "ivanov")] == [L]


def test_unknown_phones_and_outside_numbers_pop_nothing() -> None:
    book, out = run([(Ringing(L, "79161234567", "m"), facts()), (Ringing(L, "555", "x"), facts())])
    assert out == [] and book == {}


def test_ring_all_closes_the_others_when_one_answers() -> None:
    book, out = run(
        [
            (Ringing(L, "101", "a"), facts()),
            (Ringing(L, "102", "b"), facts()),
            (Ringing(L, "103", "c"), facts()),
            (Answered(L, "102"), facts(answered=True)),
            (Finished(record()), None),
        ]
    )
    answered = [o for o in out if isinstance(o, AnsweredBy)]
    assert {(o.to.login, o.closes) for o in answered} == {
        ("ivanov", True),
        ("petrova", False),
        ("sidorov", True),
    }
    assert all(o.by.login == "petrova" for o in answered)
    assert [o.to.login for o in out if isinstance(o, Ended)] == ["petrova"]
    assert book == {}


def test_a_closed_pop_never_opens_again_for_the_same_call_without_a_transfer() -> None:
    _, out = run(
        [
            (Ringing(L, "101", "a"), facts()),
            (Ringing(L, "102", "b"), facts()),
            (Answered(L, "102"), facts(answered=True)),
            (
                Ringing(L, "101", "c"),
                facts(answered=True),
            ),  # a late leg, a replay after a reconnect
        ]
    )
    assert [o.pop.agent.login for o in out if isinstance(o, Show)] == ["ivanov", "petrova"]


def test_a_blind_transfer_closes_the_transferers_pop_and_opens_the_targets_with_context() -> None:
    book, out = run(
        [
            (Ringing(L, "101", "a"), facts()),
            (Answered(L, "101"), facts(answered=True)),
            (Changed(L), facts(answered=True, transferred=True)),
            (Ringing(L, "102", "b"), facts(answered=True, transferred=True)),
            (Answered(L, "102"), facts(answered=True, transferred=True)),
        ]
    )
    away = [o for o in out if isinstance(o, TransferredAway)]
    assert [(o.to.login, o.target.login) for o in away] == [("ivanov", "petrova")]
    show = [o for o in out if isinstance(o, Show)][-1]
    assert show.pop.agent.login == "petrova"
    assert [a.login for a in show.pop.transferred_from] == ["ivanov"]
    assert [lid for lid, _ in open_pops(book, "ivanov")] == []
    assert [p.state.value for _, p in open_pops(book, "petrova")] == ["talking"]


def test_an_attended_transfer_target_bridged_in_takes_the_pop_over() -> None:
    # Asterisk bridges the target with the caller before it reports the AttendedTransfer
    book, out = run(
        [
            (Ringing(L, "101", "a"), facts()),
            (Answered(L, "101"), facts(answered=True)),
            (Answered(L, "102"), facts(answered=True)),
        ]
    )
    assert told(out)[-3:] == [
        ("TransferredAway", "ivanov"),
        ("Show", "petrova"),
        ("AnsweredBy", "petrova"),
    ]
    assert not open_pops(book, "ivanov")


def test_a_pickup_by_a_colleague_pops_for_them_and_closes_the_ringing_one() -> None:
    _, out = run(
        [
            (Ringing(L, "101", "a"), facts()),
            (Answered(L, "103"), facts(answered=True)),
        ]
    )
    assert told(out)[1:] == [
        ("Show", "sidorov"),
        ("AnsweredBy", "ivanov"),
        ("AnsweredBy", "sidorov"),
    ]
    shown = [o for o in out if isinstance(o, Show)][-1]
    assert shown.pop.transferred_from == ()  # nobody was talking: not a transfer


def test_an_answer_by_an_outside_number_closes_every_pop() -> None:
    _, out = run(
        [
            (Ringing(L, "101", "a"), facts()),
            (Answered(L, "79161112233"), facts(answered=True)),  # the manager's mobile (follow-me)
        ]
    )
    (answered,) = [o for o in out if isinstance(o, AnsweredBy)]
    assert answered.closes and answered.by.login == "" and answered.by.name == "79161112233"
