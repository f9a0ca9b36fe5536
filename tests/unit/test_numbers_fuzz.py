"""Property-based tests of caller-ID normalization: anyone can set a caller ID, so whatever the
PBX presents, normalize() never raises and gives None or a valid E.164, and is idempotent."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.customers.numbers import normalize

E164 = re.compile(r"\+[1-9][0-9]{6,14}")

phoneish = st.text(alphabet="0123456789+-() .#*\u00a0", max_size=25)
unicode_digits = st.text(alphabet="٠١٢٣٤٥٦٧٨٩０１２３４５６７８９²³¹⁰", min_size=1, max_size=16)
anything = st.text(max_size=60)
prefixed = st.builds(
    lambda p, d: p + d,
    st.sampled_from(["", "+", "00", "8", "+7", "7", "+0", "+00", "0"]),
    st.text(alphabet="0123456789", max_size=18),
)
raw_numbers = st.one_of(
    phoneish,
    unicode_digits,
    anything,
    prefixed,
    st.sampled_from(["anonymous", "<unknown>", '"Restricted"', "", " ", "\x00", "+", "00"]),
)
regions = st.sampled_from(["RU", "US", "GB", "DE", "KZ", "ZZ", "001", "xx", ""])


@settings(max_examples=1500, deadline=None)
@given(raw_numbers, regions)
def test_normalize_never_raises_and_gives_none_or_e164(raw: str, region: str) -> None:
    number = normalize(raw, region)
    assert number.e164 is None or E164.fullmatch(number.e164), (raw, region, number.e164)


@settings(max_examples=1500, deadline=None)
@given(raw_numbers, regions)
def test_normalize_is_idempotent_on_its_own_output(raw: str, region: str) -> None:
    first = normalize(raw, region).e164
    if first is not None:
        assert normalize(first, region).e164 == first
        assert normalize(first, "RU").e164 == first  # E.164 does not depend on the region


def test_known_forms() -> None:
    for raw in (
        "8 (916) 123-45-67",
        "+7 916 123 45 67",
        "79161234567",
        "9161234567",
        "0079161234567",
    ):
        assert normalize(raw, "RU").e164 == "+79161234567", raw
    assert normalize("anonymous", "RU").e164 is None
    assert normalize("101", "RU").e164 is None
