"""Unit codes: the shapes the public API takes, none of which a phone number or an ID number can have."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st

from youmin.kit.pii import ID_NUMBER_PATTERN, PHONE_PATTERN
from youmin.kit.replica import UNIT_CODE_PATTERN

CODE = re.compile(UNIT_CODE_PATTERN)


def test_every_level_of_the_district_scheme_is_a_unit_code_and_nothing_between() -> None:
    # Below a community the grid serial's width is the district's choice (1 to 6 digits): a grid, building, unit or
    # household code has 13 to 27 digits; above it, a district, street or community code 6, 9 or 12.
    digits = "370705001001" + "001001001010001" + "00000"  # more digits than any level has
    for length in range(1, len(digits) + 1):
        assert bool(CODE.match(digits[:length])) == (length in (6, 9, 12) or 13 <= length <= 27), length
    assert not CODE.match("070705001")  # no county code starts with 0


@given(st.from_regex(UNIT_CODE_PATTERN, fullmatch=True))
def test_no_unit_code_reads_as_a_phone_number(code: str) -> None:
    assert PHONE_PATTERN.search(code) is None


def test_the_phone_and_id_patterns_do_find_what_they_look_for() -> None:
    # The property above means something only if the patterns find numbers at all.
    assert PHONE_PATTERN.search("13712345678") and PHONE_PATTERN.search("0536-8881234")
    assert ID_NUMBER_PATTERN.search("11010519491231002X")
