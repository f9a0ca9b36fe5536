"""Caller to customer: the matching rules (cti.customers.matching) over the in-memory index."""

from __future__ import annotations

import pytest

from cti.customers.index import Card, PhoneIndex
from cti.customers.matching import MAX_CANDIDATES, decide
from cti.customers.model import Candidate, MatchedBy, Phone
from cti.customers.numbers import read_caller


def phone(e164: str, nsn: str, valid: bool = True) -> Phone:
    return Phone(e164, e164, nsn, valid)


def directory(*customers: tuple[int, str, list[Phone], float]) -> PhoneIndex:
    """A snapshot as the database loads it (numbers in key order)."""
    index = PhoneIndex()
    for customer_id, name, _, activity in customers:
        index.load_card(customer_id, Card(name, f"{name} LLC"), activity)
    rows = [(p, customer_id) for customer_id, _, phones, _ in customers for p in phones]
    for p, customer_id in sorted(rows, key=lambda r: r[0].e164):
        index.load_e164(p.e164, customer_id)
    for p, customer_id in sorted(rows, key=lambda r: r[0].nsn):
        index.load_nsn(p.nsn, customer_id, p.valid)
    index.finish_loading()
    return index


def match(index: PhoneIndex, raw: str, extensions: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    agents = extensions or {}
    number = read_caller(raw, "RU", extensions=agents)
    exact = index.exact(number.e164) if number.e164 else []
    national = [] if exact else index.national(number.national)
    return decide(number, exact=exact, national=national, agent=agents.get(raw))


IVAN = (
    1,
    "Ivan",
    [phone("+79161234567", "9161234567"), phone("+74951234567", "4951234567")],
    100.0,
)
ANNA = (2, "Anna", [phone("+79031112233", "9031112233")], 50.0)
US = (3, "Joe", [phone("+19162345678", "9162345678")], 10.0)  # see the +1 test


@pytest.mark.parametrize(
    "raw",
    [
        "8 (916) 123-45-67",
        "+7 916 123 45 67",
        "79161234567",
        "9161234567",
        "0079161234567",
        "8 495 123-45-67",
    ],
)
def test_exact_match_in_any_format(raw: str) -> None:
    found = match(directory(IVAN, ANNA, US), raw)
    assert found.customer is not None and found.customer.customer_id == 1
    assert found.via is MatchedBy.E164 and not found.ambiguous and not found.internal


def test_unknown_number_matches_nobody_but_is_normalized() -> None:
    found = match(directory(IVAN), "+7 903 000-00-00")
    assert found.customer is None and found.normalized == "+79030000000"
    assert found.to_json()["customer_id"] is None and found.card() is None


def test_a_valid_number_of_another_country_is_not_matched_by_its_national_digits() -> None:
    # +1 916 234 5678 (Sacramento) is not +7 916 234 56 78 (Moscow), though the digits agree
    moscow = (8, "Moscow", [phone("+79162345678", "9162345678")], 1.0)
    assert match(directory(moscow), "+1 916 234 5678").customer is None
    found = match(directory(moscow, US), "+1 916 234 5678")
    assert found.customer is not None and found.customer.customer_id == 3 and not found.ambiguous


def test_fallback_on_the_national_number_for_numbers_phonenumbers_rejects() -> None:
    # a trunk that sends national numbers behind a "+": +8 916 ... has no country code 8
    found = match(directory(IVAN, ANNA), "+89161234567")
    assert found.customer is not None and found.customer.customer_id == 1
    assert found.via is MatchedBy.NATIONAL_NUMBER
    assert found.to_json()["matched_by"] == "national_number"


def test_fallback_reaches_a_stored_number_phonenumbers_rejects() -> None:
    odd = (7, "Odd", [phone("+89161230000", "9161230000", valid=False)], 1.0)
    found = match(directory(odd), "8 916 123-00-00")  # valid caller, loose stored number
    assert found.customer is not None and found.customer.customer_id == 7


def test_a_number_on_two_customers_picks_the_most_recent_activity_and_reports_the_other() -> None:
    shared = phone("+74951112233", "4951112233")
    index = directory((1, "Old", [shared], 100.0), (2, "Recent", [shared], 200.0))
    found = match(index, "8 495 111-22-33")
    assert found.customer is not None and found.customer.name == "Recent"
    assert found.ambiguous and [c.customer_id for c in found.others] == [1]
    data = found.to_json()
    assert data["ambiguous"] is True and data["candidates"][0]["name"] == "Old"
    index.touch(1, 300.0)  # Old called: now the most recent
    again = match(index, "+74951112233")
    assert again.customer is not None and again.customer.name == "Old"


def test_ties_go_to_the_newest_customer_every_time() -> None:
    shared = phone("+74951112233", "4951112233")
    index = directory(
        (5, "Five", [shared], 100.0), (9, "Nine", [shared], 100.0), (7, "Seven", [shared], 100.0)
    )
    picks = {match(index, "+74951112233").customer.customer_id for _ in range(5)}  # type: ignore[union-attr]
    assert picks == {9}
    assert [c.customer_id for c in match(index, "+74951112233").others] == [7, 5]


def test_candidates_are_capped() -> None:
    shared = phone("+74951112233", "4951112233")
    index = directory(*[(n, f"C{n}", [shared], float(n)) for n in range(1, 30)])
    found = match(index, "+74951112233")
    assert found.customer is not None and found.customer.customer_id == 29
    assert len(found.others) == MAX_CANDIDATES


@pytest.mark.parametrize("raw", ["", "<unknown>", "anonymous", "garbage", "112"])
def test_no_number_no_customer(raw: str) -> None:
    found = match(directory(IVAN), raw)
    assert found.customer is None and not found.internal and found.normalized is None


def test_extension_is_internal_with_its_agent() -> None:
    found = match(directory(IVAN), "101", {"101": "ivanova"})
    assert found.internal and found.agent == "ivanova" and found.customer is None
    assert found.to_json()["internal"] is True


def test_changes_after_the_snapshot() -> None:
    index = directory(IVAN, ANNA)
    # Ivan changes his mobile; Anna takes Ivan's old landline; a new customer appears
    index.put(1, Card("Ivan", "Ivan LLC"), [phone("+79160000000", "9160000000")], 100.0)
    index.put(2, Card("Anna B.", "Anna LLC"), [phone("+74951234567", "4951234567")], 60.0)
    index.put(4, Card("New", ""), [phone("+79031112233", "9031112233")], 70.0)
    assert match(index, "+79161234567").customer is None
    assert match(index, "+79160000000").customer.customer_id == 1  # type: ignore[union-attr]
    landline = match(index, "+74951234567")
    assert (
        landline.customer is not None
        and landline.customer.name == "Anna B."
        and not landline.ambiguous
    )
    assert match(index, "+79031112233").customer.customer_id == 4  # type: ignore[union-attr]
    index.remove(4)
    assert match(index, "+79031112233").customer is None
    assert index.customers == 2 and index.pending_changes == 3
    # changed twice: only the latest numbers count
    index.put(1, Card("Ivan", ""), [phone("+79161234567", "9161234567")], 100.0)
    assert match(index, "+79160000000").customer is None
    assert match(index, "+79161234567").customer.customer_id == 1  # type: ignore[union-attr]


def test_loading_out_of_order_still_finds_every_number() -> None:
    index = PhoneIndex()
    index.load_card(1, Card("A", ""))
    index.load_card(2, Card("B", ""))
    index.load_e164("+79161234567", 1)
    index.load_e164("+12025550100", 2)  # smaller key after a larger one: sorted at the end
    index.finish_loading()
    assert [c.customer_id for c in index.exact("+12025550100")] == [2]
    assert [c.customer_id for c in index.exact("+79161234567")] == [1]


def test_card_survives_separators_and_scripts() -> None:
    card = Card("Пётр\x1fАлексеевич 🏠", "ООО «Ветер»", True, "ivanova")
    back = Card.decode(card.encode())
    assert back == Card("Пётр Алексеевич 🏠", "ООО «Ветер»", True, "ivanova")


def test_candidate_json_for_the_live_board() -> None:
    assert Candidate(1, "Ivan", "ACME", True, "101").to_json() == {
        "customer_id": 1,
        "name": "Ivan",
        "company": "ACME",
        "vip": True,
        "manager_login": "101",
    }
