"""Who may see and change which customer (cti.customers.access), a shared number's remembered
pick (cti.customers.matching.prefer) and a lead card's name: pure rules, no I/O."""

from __future__ import annotations

import dataclasses

import pytest

from cti.auth.principal import Principal, Role, Via
from cti.customers import fields as f
from cti.customers.access import FIELDS, CustomerPolicy, CustomerScope, Visibility
from cti.customers.duplicates import merged_customer
from cti.customers.matching import decide, prefer
from cti.customers.model import Candidate, Customer, Phone
from cti.customers.numbers import read_caller
from cti.customers.service import lead_name

IVANOVA = Principal(
    login="ivanova", role=Role.AGENT, via=Via.SESSION, extensions=frozenset({"101"})
)
BOSS = Principal(login="boss", role=Role.SUPERVISOR, via=Via.SESSION)
HERS = Customer(
    id=1, name="Иван", phones=(Phone("+79161234567"),), vip=True, manager_login="ivanova"
)
HIS = Customer(id=2, name="Пётр", manager_login="petrov")
IMPORTED = Customer(id=3, name="Из CRM")
LEAD = Customer(id=4, name="+74951112233", source="auto", created_by="~auto")


def test_agents_change_the_agent_fields_of_their_own_customers_only() -> None:
    policy = CustomerPolicy()
    assert policy.editable(IVANOVA, HERS) == {"name", "company", "phones", "notes"}
    assert policy.editable(IVANOVA, HIS) == frozenset()
    assert policy.editable(IVANOVA, IMPORTED) == frozenset()
    assert policy.editable(IVANOVA, LEAD) == {"name", "company", "phones", "notes"}
    assert policy.editable(IVANOVA, Customer(id=5, name="x", created_by="ivanova")) == {
        "name",
        "company",
        "phones",
        "notes",
    }
    assert policy.editable(BOSS, HIS) == set(FIELDS)


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"name": "Иван К."}, []),
        ({"notes": "перезвонить"}, []),
        ({"vip": False}, ["vip"]),
        ({"manager_login": "petrov"}, ["manager_login"]),
        ({"crm_url": "https://crm.example/1", "timezone": "Asia/Omsk"}, ["timezone", "crm_url"]),
        ({"vip": True}, []),  # the same value is no change
    ],
)
def test_each_changed_field_is_judged_alone(change: dict, refused: list) -> None:
    new = dataclasses.replace(HERS, **change)
    errors = CustomerPolicy().refused(IVANOVA, HERS, new)
    assert [e.field for e in errors] == refused


def test_a_new_card_may_name_its_creator_its_manager_and_nobody_else() -> None:
    policy = CustomerPolicy()
    assert policy.refused(IVANOVA, None, Customer(id=None, name="A", manager_login="ivanova")) == []
    errors = policy.refused(IVANOVA, None, Customer(id=None, name="A", manager_login="petrov"))
    assert [e.field for e in errors] == ["manager_login"]
    assert "supervisors" in errors[0].reason
    assert [
        e.field
        for e in policy.refused(IVANOVA, None, Customer(id=None, name="A"), orders_given=True)
    ] == ["orders"]


def test_a_colleagues_customer_is_refused_saying_whose_it_is() -> None:
    errors = CustomerPolicy().refused(
        IVANOVA, HIS, Customer(id=2, name="x", manager_login="petrov")
    )
    assert [e.field for e in errors] == ["name"] and "managed by petrov" in errors[0].reason


def test_the_fields_agents_may_change_are_configurable_and_checked() -> None:
    policy = CustomerPolicy.from_settings(agents_see="own", agent_fields=["notes"])
    assert policy.editable(IVANOVA, HERS) == {"notes"} and policy.agents_see is Visibility.OWN
    with pytest.raises(ValueError, match="agents_see"):
        CustomerPolicy.from_settings(agents_see="some", agent_fields=[])
    with pytest.raises(ValueError, match="colour"):
        CustomerPolicy.from_settings(agents_see="all", agent_fields=["colour"])


def test_what_an_agent_sees() -> None:
    assert CustomerPolicy().scope(IVANOVA) is None
    assert CustomerPolicy(agents_see=Visibility.OWN).scope(BOSS) is None
    assert CustomerPolicy(agents_see=Visibility.OWN).scope(IVANOVA, ["petrov"]) == CustomerScope(
        "ivanova", frozenset({"ivanova"}), frozenset({"101"})
    )
    team = CustomerPolicy(agents_see=Visibility.TEAM).scope(IVANOVA, ["petrov", "ivanova"])
    assert team is not None and team.managers == {"ivanova", "petrov"}


def _shared(*ids: int):  # type: ignore[no-untyped-def]
    number = read_caller("+7 495 111-22-00", "RU", extensions={})
    return decide(number, exact=[Candidate(i, f"C{i}", "", activity=float(i)) for i in ids])


def test_a_remembered_pick_is_the_match_until_it_no_longer_has_the_number() -> None:
    found = _shared(1, 2, 3)
    assert found.customer.customer_id == 3 and found.ambiguous  # type: ignore[union-attr]
    picked = prefer(found, 1)
    assert picked.customer.customer_id == 1 and picked.chosen  # type: ignore[union-attr]
    assert [c.customer_id for c in picked.others] == [3, 2]
    assert prefer(found, 99) == found  # no longer one of them: the usual rule
    assert prefer(found, None) == found
    assert prefer(_shared(5), 5) == _shared(5)  # not shared: nothing to pick


def test_a_lead_cards_name_and_a_merge() -> None:
    assert lead_name("Ольга  Лидова", "+74957770022") == "Ольга Лидова"
    for nothing in ("", "+74957770022", "<unknown>", "Anonymous", "8 495 777-00-22"):
        assert lead_name(nothing, "+74957770022") == "+74957770022"
    target = Customer(id=1, name="A", phones=(Phone("+1"), Phone("+2")), notes="n1")
    source = Customer(
        id=2,
        name="B",
        company="Co",
        phones=(Phone("+2"), Phone("+3")),
        vip=True,
        notes="n2",
        manager_login="petrov",
        external_id="crm-2",
    )
    merged = merged_customer(target, source)
    assert [p.e164 for p in merged.phones] == ["+1", "+2", "+3"]
    assert (merged.name, merged.company, merged.vip, merged.manager_login) == (
        "A",
        "Co",
        True,
        "petrov",
    )
    assert merged.notes == "n1\n\nn2" and merged.external_id == "crm-2"


def test_supervisors_and_administrators_may_have_no_extension_agents_may_not() -> None:
    assert f.extension("", role=Role.SUPERVISOR) == "" and f.device("", "") == ""
    with pytest.raises(f.FieldError):
        f.extension("", role=Role.AGENT)


def test_which_numbers_a_card_takes_and_which_an_agent_may_never_take() -> None:
    from cti.customers import duplicates as dup

    mine = Customer(id=9, name="Моя", phones=(Phone("+71"), Phone("+72"), Phone("+73")))
    gained = dup.gained_numbers(Customer(id=9, name="Моя", phones=(Phone("+71"),)), mine)
    assert gained == [(1, "+72"), (2, "+73")]
    owners = {"+72": [HIS, mine], "+73": [IMPORTED]}
    taken = dup.taken_numbers(gained, owners, own_id=9)
    assert taken == {(1, "+72"): [HIS], (2, "+73"): [IMPORTED]}
    refused = dup.captures(IVANOVA, taken)
    assert [(e.field, "petrov" in e.reason) for e in refused] == [("phones[1]", True)]
    assert dup.captures(BOSS, taken) == [] and dup.captures(None, taken) == []
    assert [e.field for e in dup.conflicts(taken)] == ["phones[1]", "phones[2]"]
