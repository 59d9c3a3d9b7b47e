"""The latest birth date of someone who is 18 on a day."""

from __future__ import annotations

from datetime import date

import pytest

from services.registry.scheduler import eighteen_years_before
from youmin.kit.pii import is_adult


@pytest.mark.parametrize("today", [date(2026, 3, 15), date(2026, 2, 28), date(2026, 3, 1), date(2028, 2, 29),
                                   date(2027, 1, 1)])
def test_the_cutoff_agrees_with_is_adult(today):
    cutoff = eighteen_years_before(today)
    assert is_adult(cutoff, today)
    assert not is_adult(date.fromordinal(cutoff.toordinal() + 1), today)


def test_born_on_29_february_is_18_on_28_february_of_a_common_year():
    assert eighteen_years_before(date(2026, 2, 27)) < date(2008, 2, 29) <= eighteen_years_before(date(2026, 2, 28))
