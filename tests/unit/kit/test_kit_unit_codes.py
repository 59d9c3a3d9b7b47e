"""Unit codes: the shapes the public API takes, none of which a phone number or an ID number can have."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st

from youmin.kit.pii import ID_NUMBER_PATTERN, PHONE_PATTERN
from youmin.kit.replica import UNIT_CODE_PATTERN

CODE = re.compile(UNIT_CODE_PATTERN)


def test_every_level_of_the_district_scheme_is_a_unit_code_and_nothing_between() -> None:
    digits = "370705001001001001010001" + "00000"  # a household code, and more digits than any level has
    for length in range(1, len(digits) + 1):
        assert bool(CODE.match(digits[:length])) == (length in (6, 9, 12, 15, 18, 20, 24)), length
    assert not CODE.match("070705001")  # no county code starts with 0


@given(st.from_regex(UNIT_CODE_PATTERN, fullmatch=True))
def test_no_unit_code_reads_as_a_phone_number(code: str) -> None:
    assert PHONE_PATTERN.search(code) is None


def test_the_phone_and_id_patterns_do_find_what_they_look_for() -> None:
    # The property above means something only if the patterns find numbers at all.
    assert PHONE_PATTERN.search("13712345678") and PHONE_PATTERN.search("0536-8881234")
    assert ID_NUMBER_PATTERN.search("11010519491231002X")
