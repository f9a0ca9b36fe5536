"""Caller IDs and customers' phones as the directory reads them (cti.customers.numbers)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.customers.index import e164_key, nsn_key
from cti.customers.numbers import (
    InvalidNumber,
    NumberKind,
    normalize,
    parse_phone,
    read_caller,
    timezone_from_numbers,
)

MOSCOW_MOBILE = "+79161234567"


@pytest.mark.parametrize(
    "raw",
    [
        "8 (916) 123-45-67",  # the trunk prefix 8 of Russian national format
        "89161234567",
        "+7 916 123 45 67",
        "+7(916)123-45-67",
        "79161234567",  # international without +
        "9161234567",  # ten digits: the national significant number alone
        "007 916 123 45 67",  # 00 international prefix
        "0079161234567",
        "81079161234567",  # 810, Russia's own international prefix
        '"+79161234567"',  # quoted, as some PBXs present it
        "+7\u00a0916\u00a0123\u00a045\u00a067",  # no-break spaces from a spreadsheet
    ],
)
def test_every_way_of_writing_a_russian_mobile_is_one_number(raw: str) -> None:
    assert normalize(raw, "RU").e164 == MOSCOW_MOBILE
    number = read_caller(raw, "RU")
    assert (number.kind, number.e164, number.valid) == (NumberKind.EXTERNAL, MOSCOW_MOBILE, True)
    assert parse_phone(raw, "RU").e164 == MOSCOW_MOBILE


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+44 20 7123 4567", "+442071234567"),
        ("00442071234567", "+442071234567"),
        ("442071234567", "+442071234567"),  # a foreign number without + still reads
        ("+1 650 253 0000", "+16502530000"),
        ("+49 30 123456", "+4930123456"),
        ("+39 06 1234 5678", "+390612345678"),  # Italy keeps the leading 0
        ("8 800 200-06-00", "+78002000600"),  # toll-free
        ("+7 701 123 4567", "+77011234567"),  # Kazakhstan shares +7
    ],
)
def test_other_countries(raw: str, e164: str) -> None:
    assert read_caller(raw, "RU").e164 == e164
    assert parse_phone(raw, "RU").e164 == e164


def test_the_default_region_decides_national_formats() -> None:
    assert read_caller("020 7123 4567", "GB").e164 == "+442071234567"
    assert read_caller("020 7123 4567", "RU").e164 is None


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "<unknown>", "anonymous", "Anonymous", "unknown", "restricted", "private", '""'],
)
def test_withheld_numbers(raw: str) -> None:
    number = read_caller(raw, "RU")
    assert (number.kind, number.e164, number.internal, number.national) == (
        NumberKind.WITHHELD,
        None,
        False,
        (),
    )


@pytest.mark.parametrize("raw", ["101", "199", "2001", "5", "0911"])
def test_extensions_are_internal(raw: str) -> None:
    number = read_caller(raw, "RU", extensions={"101", "199", "2001"})
    assert number.kind is NumberKind.INTERNAL and number.internal and number.e164 is None


@pytest.mark.parametrize("raw", ["112", "01", "103"])
def test_short_service_numbers_are_not_internal(raw: str) -> None:
    number = read_caller(raw, "RU", extensions={"101"})
    assert number.kind is NumberKind.SERVICE and not number.internal and number.e164 is None


def test_an_agents_extension_wins_over_a_service_number() -> None:
    # 101 is Russia's fire service, and a very common first extension
    assert read_caller("101", "RU").kind is NumberKind.SERVICE
    assert read_caller("101", "RU", extensions={"101"}).kind is NumberKind.INTERNAL


@pytest.mark.parametrize(
    "raw", ["garbage", "ABC-DEF", "+7abc", "*72", "sip:101@pbx", "8916123456x", "#", "+"]
)
def test_letters_and_garbage_are_invalid(raw: str) -> None:
    number = read_caller(raw, "RU")
    assert number.kind is NumberKind.INVALID and number.e164 is None and not number.internal


def test_digits_phonenumbers_does_not_know_keep_a_national_reading_for_the_fallback() -> None:
    # a trunk that put + in front of a national number: no country code 8 exists
    odd = read_caller("+89161234567", "RU")
    assert (odd.kind, odd.e164, odd.valid) == (NumberKind.EXTERNAL, "+89161234567", False)
    assert "9161234567" in odd.national
    # a valid number's own national significant number
    assert read_caller("+79161234567", "RU").national == ("9161234567",)
    # nine digits, no country: invalid, readings kept for the fallback
    nine = read_caller("123456789", "RU")
    assert nine.kind is NumberKind.INVALID and nine.e164 is None and nine.national


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("12", "too short"),
        ("101", "too short"),
        ("garbage", "not a phone number"),
        ("anonymous", "not a phone number"),
        ("020 7123 4567", "with the country code"),  # British national format in region RU
        ("+0123456789", "with the country code"),
    ],
)
def test_phones_that_cannot_be_stored_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber, match=reason):
        parse_phone(raw, "RU")


def test_a_stored_phone_carries_its_national_number() -> None:
    phone = parse_phone("+39 06 1234 5678", "RU")
    assert (phone.e164, phone.nsn, phone.valid) == ("+390612345678", "0612345678", True)
    loose = parse_phone("+8 916 123 45 67", "RU")  # kept as written, read nationally
    assert (loose.e164, loose.nsn, loose.valid) == ("+89161234567", "9161234567", False)


def test_time_zone_from_numbers_only_when_unambiguous() -> None:
    zones = {"Europe/Moscow", "Asia/Yekaterinburg", "Europe/London"}
    assert timezone_from_numbers(["+74951234567"], zones) == "Europe/Moscow"  # Moscow landline
    assert timezone_from_numbers(["+73432123456"], zones) == "Asia/Yekaterinburg"
    assert timezone_from_numbers(["+79161234567"], zones) is None  # a mobile: 11 zones
    assert timezone_from_numbers(["+74951234567", "+73432123456"], zones) is None  # disagree
    assert timezone_from_numbers(["+442071234567"], {"Europe/Moscow"}) is None  # zone unknown here
    assert timezone_from_numbers([], zones) is None


def test_normalize_keeps_its_contract_for_the_call_tracker() -> None:
    assert normalize("101", "RU").internal
    assert normalize("anonymous", "RU").e164 is None
    assert normalize("+89161234567", "RU").e164 == "+89161234567"  # kept in E.164 shape
    assert normalize("123456789", "RU").e164 is None


# --- whatever a PBX or a spreadsheet holds ------------------------------------------------------

_any_number = st.one_of(
    st.text(alphabet="0123456789+-() .#*\u00a0", max_size=25),
    st.text(alphabet="٠١٢٣٤٥٦٧٨٩０１２３４５６７８９²³", min_size=1, max_size=16),
    st.text(max_size=40),
    st.builds(
        lambda p, d: p + d,
        st.sampled_from(["", "+", "00", "8", "+7", "+8", "+0", "810"]),
        st.text(alphabet="0123456789", max_size=18),
    ),
)
_regions = st.sampled_from(["RU", "US", "GB", "KZ", "DE"])


@settings(max_examples=800, deadline=None)
@given(_any_number, _regions)
def test_reading_a_caller_never_raises_and_gives_index_keys(raw: str, region: str) -> None:
    number = read_caller(raw, region, extensions={"101"})
    if number.e164 is not None:
        assert e164_key(number.e164) >= 0 and number.e164.startswith("+")
    for nsn in number.national:
        assert nsn.isascii() and nsn.isdigit() and nsn_key(nsn) >= 0
    assert number.internal == (number.kind is NumberKind.INTERNAL)


@settings(max_examples=800, deadline=None)
@given(_any_number, _regions)
def test_a_stored_phone_is_e164_or_refused_with_a_reason(raw: str, region: str) -> None:
    try:
        phone = parse_phone(raw, region)
    except InvalidNumber as exc:
        assert str(exc)
        return
    assert phone.e164.startswith("+") and phone.e164[1:].isdigit() and len(phone.e164) <= 16
    assert e164_key(phone.e164) < 2**63 and nsn_key(phone.nsn or "0") < 2**63
    assert read_caller(phone.e164, region).e164 == phone.e164  # stored numbers are found again
