"""The routing chain, table-driven: who rings, in what order, and the reason people read."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cti.routing.model import (
    AgentProfile,
    AgentState,
    CustomerInfo,
    DeviceState,
    Presence,
)
from cti.routing.policy import RoutingOptions, Situation, route_call
from cti.routing.rules import parse_rules
from cti.routing.schedules import make_shift

MSK = ZoneInfo("Europe/Moscow")
TUESDAY_LUNCH = datetime(2026, 11, 24, 12, 30, tzinfo=MSK)
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=MSK)
TUESDAY_NIGHT = datetime(2026, 11, 24, 23, 30, tzinfo=MSK)
WEDNESDAY_SMALL_HOURS = datetime(2026, 11, 25, 3, 0, tzinfo=MSK)

AGENTS = {
    a.login: a
    for a in (
        AgentProfile("ivanova", "Ivanova", "101", "PJSIP/101", "", frozenset({"sales"}), 2),
        AgentProfile("sidorova", "Sidorova", "102", "PJSIP/102", "", frozenset({"sales"}), 5),
        AgentProfile("kozlov", "Kozlov", "103", "PJSIP/103", "", frozenset({"sales"}), 0),
        AgentProfile("orlov", "Orlov", "104", "PJSIP/104", "", frozenset({"support"}), 4),
        AgentProfile("belova", "Belova", "105", "PJSIP/105", "", frozenset({"support"}), 0),
        AgentProfile("smirnova", "Smirnova", "150", "PJSIP/150", "", frozenset({"duty"}), 1),
        AgentProfile("petrov", "Petrov", "199", "PJSIP/199", "", frozenset({"duty"}), 1),
    )
}
ROTA = (
    make_shift("smirnova", "mon-fri", "12:00", "14:00"),  # covers lunch
    make_shift("petrov", "daily", "20:00", "08:00"),  # nights
)
RULES = parse_rules(["+7 495 111-22-33=sales", "8 800 555-35-35=support"], default_team="sales")
SALES_DID = "74951112233"
SUPPORT_DID = "88005553535"
OPTIONS = RoutingOptions(voicemail="100@default", max_agents=3)

UYUT = CustomerInfo("1", "Иван Сергеевич", "Уютный дом", vip=False, manager_login="ivanova")
VIP_NO_MANAGER = CustomerInfo("2", "Анна Белова", "СтройМаркет", vip=True, manager_login=None)
ORPHAN = CustomerInfo("3", "Пётр Волков", "", vip=False, manager_login=None)

AWAY = {
    login: Presence(AgentState.OFFLINE)
    for login in ("ivanova", "sidorova", "kozlov", "orlov", "belova", "smirnova", "petrov")
}


def decide(
    *,
    customer: CustomerInfo | None = UYUT,
    at: datetime = TUESDAY_MORNING,
    did: str = SALES_DID,
    presence: dict[str, Presence] | None = None,
    devices: dict[str, DeviceState] | None = None,
    calls: dict[str, int] | None = None,
    agents: dict[str, AgentProfile] | None = None,
    offered: dict[str, float] | None = None,
    options: RoutingOptions = OPTIONS,
):
    situation = Situation(
        agents=agents or AGENTS,
        presence=presence or {},
        devices=devices or {},
        calls=calls or {},
        rota=ROTA,
        last_offered=offered or {},
    )
    return route_call(
        caller="+79161234567",
        did=did,
        customer=customer,
        situation=situation,
        rules=RULES,
        options=options,
        now=at,
    )


def chain(decision) -> list[tuple[str, str | None]]:
    return [(t.kind.value, t.agent) for t in decision.targets]


LUNCH = Presence(AgentState.PAUSED, "lunch")
MOBILE = {**AGENTS, "ivanova": replace(AGENTS["ivanova"], mobile="+79167654321")}

CASES = [
    pytest.param(
        dict(),
        [("manager", "ivanova"), ("voicemail", None)],
        "account manager of Уютный дом",
        id="manager-available",
    ),
    pytest.param(
        dict(at=TUESDAY_LUNCH, presence={"ivanova": LUNCH}),
        [("duty", "smirnova"), ("voicemail", None)],
        "duty operator Smirnova: account manager Ivanova is away (lunch)",
        id="manager-at-lunch-duty-covers",
    ),
    pytest.param(
        dict(calls={"ivanova": 1}),
        [("voicemail", None)],
        "voicemail: nobody is available",
        id="manager-busy-at-limit-nobody-on-duty",
    ),
    pytest.param(
        dict(at=TUESDAY_LUNCH, calls={"ivanova": 1}),
        [("duty", "smirnova"), ("voicemail", None)],
        "duty operator Smirnova: account manager Ivanova is busy (1 of 1 calls)",
        id="manager-busy-at-limit",
    ),
    pytest.param(
        dict(at=TUESDAY_LUNCH, devices={"ivanova": DeviceState.INUSE}),
        [("duty", "smirnova"), ("voicemail", None)],
        "duty operator Smirnova: account manager Ivanova is busy (1 of 1 calls)",
        id="manager-phone-in-use-counts-as-a-call",
    ),
    pytest.param(
        dict(at=TUESDAY_LUNCH, presence={"ivanova": Presence(AgentState.OFFLINE)}),
        [("duty", "smirnova"), ("voicemail", None)],
        "duty operator Smirnova: account manager Ivanova is offline",
        id="manager-offline",
    ),
    pytest.param(
        dict(at=TUESDAY_LUNCH, presence={"ivanova": Presence(AgentState.DND)}),
        [("duty", "smirnova"), ("voicemail", None)],
        "duty operator Smirnova: account manager Ivanova has do-not-disturb on",
        id="manager-dnd",
    ),
    pytest.param(
        dict(agents=MOBILE),
        [("manager", "ivanova"), ("manager_mobile", "ivanova"), ("voicemail", None)],
        "account manager of Уютный дом",
        id="manager-with-mobile",
    ),
    pytest.param(
        dict(agents=MOBILE, at=TUESDAY_LUNCH, devices={"ivanova": DeviceState.UNAVAILABLE}),
        [("manager_mobile", "ivanova"), ("duty", "smirnova"), ("voicemail", None)],
        "mobile of Ivanova, account manager of Уютный дом",
        id="desk-phone-unreachable-mobile-rings",
    ),
    pytest.param(
        dict(agents=MOBILE, at=TUESDAY_LUNCH, presence={"ivanova": LUNCH}),
        [("duty", "smirnova"), ("voicemail", None)],
        "duty operator Smirnova: account manager Ivanova is away (lunch)",
        id="no-follow-me-while-at-lunch",
    ),
    pytest.param(
        dict(devices={"ivanova": DeviceState.UNKNOWN}),
        [("manager", "ivanova"), ("voicemail", None)],
        "account manager of Уютный дом",
        id="unknown-phone-state-is-tried",
    ),
    pytest.param(
        dict(customer=VIP_NO_MANAGER),
        [("vip_senior", "sidorova"), ("vip_senior", "ivanova"), ("voicemail", None)],
        "senior agent for VIP customer СтройМаркет",
        id="vip-without-manager-goes-to-seniors",
    ),
    pytest.param(
        dict(
            customer=replace(VIP_NO_MANAGER, manager_login="ivanova"), presence={"ivanova": LUNCH}
        ),
        [("vip_senior", "sidorova"), ("voicemail", None)],
        "senior agent for VIP customer СтройМаркет",
        id="vip-manager-at-lunch-goes-to-seniors",
    ),
    pytest.param(
        dict(customer=None),
        [
            ("distribution", "ivanova"),
            ("distribution", "kozlov"),
            ("distribution", "sidorova"),
            ("voicemail", None),
        ],
        "next available agent of team sales (least recently offered)",
        id="unknown-caller-distributed",
    ),
    pytest.param(
        dict(customer=ORPHAN, offered={"ivanova": 5.0, "kozlov": 1.0}),
        [
            ("distribution", "sidorova"),
            ("distribution", "kozlov"),
            ("distribution", "ivanova"),
            ("voicemail", None),
        ],
        "next available agent of team sales (least recently offered)",
        id="known-customer-without-manager-distributed-least-recent-first",
    ),
    pytest.param(
        dict(customer=None, did=SUPPORT_DID),
        [("distribution", "belova"), ("distribution", "orlov"), ("voicemail", None)],
        "next available agent of team support (least recently offered)",
        id="did-with-its-own-team",
    ),
    pytest.param(
        dict(
            customer=None,
            at=TUESDAY_LUNCH,
            presence={**AWAY, "smirnova": Presence(AgentState.AVAILABLE)},
        ),
        [("duty", "smirnova"), ("voicemail", None)],
        "duty operator Smirnova: nobody in team sales is available",
        id="nobody-available-but-the-duty-operator",
    ),
    pytest.param(
        dict(customer=None, at=TUESDAY_LUNCH, presence=AWAY),
        [("voicemail", None)],
        "voicemail: nobody is available",
        id="nobody-at-all",
    ),
    pytest.param(
        dict(at=TUESDAY_NIGHT, presence={**AWAY, "petrov": Presence(AgentState.AVAILABLE)}),
        [("duty", "petrov"), ("voicemail", None)],
        "duty operator Petrov: account manager Ivanova is offline",
        id="night-duty-operator",
    ),
    pytest.param(
        dict(at=WEDNESDAY_SMALL_HOURS, presence={**AWAY, "petrov": Presence(AgentState.AVAILABLE)}),
        [("duty", "petrov"), ("voicemail", None)],
        "duty operator Petrov: account manager Ivanova is offline",
        id="night-shift-runs-past-midnight",
    ),
    pytest.param(
        dict(at=TUESDAY_NIGHT, presence={**AWAY, "petrov": LUNCH}),
        [("voicemail", None)],
        "voicemail: nobody is available",
        id="night-duty-operator-away",
    ),
]


@pytest.mark.parametrize(("given", "expected", "first_reason"), CASES)
def test_the_chain(given: dict, expected: list, first_reason: str) -> None:
    decision = decide(**given)
    assert chain(decision) == expected
    assert decision.targets[0].reason == first_reason


def test_targets_carry_dial_strings_and_ring_timeouts() -> None:
    decision = decide(agents=MOBILE, at=TUESDAY_LUNCH)
    assert [(t.dial, t.timeout) for t in decision.targets] == [
        ("PJSIP/101", 20),
        ("Local/79167654321@cti-followme", 25),
        ("PJSIP/150", 30),
        ("100@default", 0),
    ]
    assert decision.customer == UYUT and decision.team == "sales"
    assert decision.rule == "+7 495 111-22-33=sales"


def test_reasons_explain_every_skipped_step_with_stable_codes() -> None:
    decision = decide(at=TUESDAY_LUNCH, presence={"ivanova": LUNCH})
    codes = [(r.step.value, r.code, r.agent, r.detail) for r in decision.reasons]
    assert codes == [
        ("manager", "paused", "ivanova", "lunch"),
        ("duty", "chosen", "smirnova", ""),
        ("voicemail", "chosen", None, ""),
    ]
    assert decision.to_json()["reasons"][0]["text"] == "account manager Ivanova is away (lunch)"


def test_unknown_callers_spread_evenly_over_100_calls_least_recently_offered_first() -> None:
    offered: dict[str, float] = {}
    first: Counter[str] = Counter()
    for n in range(100):
        decision = decide(customer=None, offered=offered, at=TUESDAY_MORNING + timedelta(minutes=n))
        agent = decision.targets[0].agent
        assert agent is not None
        first[agent] += 1
        offered[agent] = float(n)  # the service remembers each offer
    assert first == {"ivanova": 34, "kozlov": 33, "sidorova": 33}


def test_distribution_respects_each_agents_limit() -> None:
    agents = {**AGENTS, "kozlov": replace(AGENTS["kozlov"], max_calls=2)}
    decision = decide(customer=None, agents=agents, calls={"ivanova": 1, "kozlov": 1})
    assert chain(decision) == [
        ("distribution", "kozlov"),
        ("distribution", "sidorova"),
        ("voicemail", None),
    ]
    decision = decide(customer=None, agents=agents, calls={"ivanova": 1, "kozlov": 2})
    assert chain(decision) == [("distribution", "sidorova"), ("voicemail", None)]


def test_an_agent_is_offered_once_even_if_also_on_duty() -> None:
    rota_manager_on_duty = {**AGENTS}
    decision = route_call(
        caller="+79161234567",
        did=SALES_DID,
        customer=replace(UYUT, manager_login="smirnova"),
        situation=Situation(agents=rota_manager_on_duty, rota=ROTA),
        rules=RULES,
        options=OPTIONS,
        now=TUESDAY_LUNCH,
    )
    assert chain(decision) == [("manager", "smirnova"), ("voicemail", None)]


def test_a_manager_who_is_not_an_agent_is_explained() -> None:
    decision = decide(customer=replace(UYUT, manager_login="ghost"), at=TUESDAY_LUNCH)
    assert chain(decision)[0] == ("distribution", "ivanova")
    assert decision.reasons[0].code == "unknown_agent"


def test_without_voicemail_the_chain_ends_with_the_last_person() -> None:
    decision = decide(options=replace(OPTIONS, voicemail=""))
    assert chain(decision) == [("manager", "ivanova")]


def test_which_step_a_finished_call_reached() -> None:
    from cti.routing.outcome import route_outcome

    normal = decide(agents=MOBILE, at=TUESDAY_LUNCH)  # manager, mobile, duty, voicemail
    answered = route_outcome(normal, answered_by=["101"], agents_rung=["101"], agents=MOBILE)
    assert answered is not None and (answered.kind, answered.fallback) == ("manager", False)
    duty = route_outcome(normal, answered_by=["150"], agents_rung=["101", "150"], agents=MOBILE)
    assert duty is not None and (duty.kind, duty.fallback) == ("duty", True)
    mobile = route_outcome(normal, answered_by=["+79167654321"], agents_rung=["101"], agents=MOBILE)
    assert mobile is not None and (mobile.kind, mobile.fallback) == ("manager_mobile", True)
    rang_out = route_outcome(normal, answered_by=[], agents_rung=["101", "150"], agents=MOBILE)
    assert rang_out is not None and rang_out.kind == "duty"
    lunch = decide(at=TUESDAY_LUNCH, presence={"ivanova": LUNCH})  # duty first: manager away
    covered = route_outcome(lunch, answered_by=["150"], agents_rung=["150"], agents=AGENTS)
    assert covered is not None and (covered.kind, covered.fallback) == ("duty", True)
    unknown = decide(customer=None)
    first = route_outcome(unknown, answered_by=["101"], agents_rung=["101"], agents=AGENTS)
    assert first is not None and (first.kind, first.fallback) == ("distribution", False)


#: a supervisor with no desk phone (and no extension): a person of the directory, not a phone
BOSS = AgentProfile("boss", "Начальник", "", "", "", frozenset({"sales", "duty"}), 9)


def _texts(decision) -> str:
    return " ".join(r.text for r in decision.reasons) + " ".join(t.reason for t in decision.targets)


@pytest.mark.parametrize(
    "customer", [UYUT, replace(UYUT, manager_login="boss"), VIP_NO_MANAGER, None]
)
def test_a_person_without_a_phone_is_never_offered_a_call_nor_named(customer) -> None:
    rota = (*ROTA, make_shift("boss", "daily", "00:00", "23:59"))
    decision = route_call(
        caller="+79161234567",
        did=SALES_DID,
        customer=customer,
        situation=Situation(agents={"boss": BOSS, **AGENTS}, rota=rota),
        rules=RULES,
        options=OPTIONS,
        now=TUESDAY_LUNCH,
    )
    assert "boss" not in {t.agent for t in decision.targets}
    assert all(t.dial for t in decision.targets)
    assert "boss" not in {r.agent for r in decision.reasons}
    assert "boss" not in _texts(decision) and "Начальник" not in _texts(decision)
    assert decision.targets[0].agent is not None  # somebody with a phone rings instead


def test_a_customer_managed_by_a_person_without_a_phone_is_distributed() -> None:
    decision = decide(customer=replace(UYUT, manager_login="boss"), agents={"boss": BOSS, **AGENTS})
    assert chain(decision)[0] == ("distribution", "ivanova")
