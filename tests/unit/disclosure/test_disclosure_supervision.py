"""Residents' supervision: the 5-day objection window and the 5-day answer deadline."""

from datetime import datetime, timedelta, timezone

import pytest

from services.disclosure.rules.cadence import SHANGHAI
from services.disclosure.rules.supervision import (
    answer_due_at,
    is_answer_overdue,
    objection_window_closes_at,
    objection_window_open,
)

TICK = timedelta(microseconds=1)


def bj(*args: int) -> datetime:
    """Returns a Beijing-time datetime."""
    return datetime(*args, tzinfo=SHANGHAI)


POSTED = bj(2024, 3, 1, 14)


def test_objection_window_closes_at_midnight_after_the_fifth_day():
    assert objection_window_closes_at(POSTED) == bj(2024, 3, 7)


def test_objection_window_is_open_at_posting():
    assert objection_window_open(POSTED, POSTED)


def test_objection_window_is_open_at_the_last_moment_of_the_fifth_day():
    assert objection_window_open(POSTED, bj(2024, 3, 7) - TICK)


def test_objection_window_is_closed_at_midnight_after_the_fifth_day():
    assert not objection_window_open(POSTED, bj(2024, 3, 7))


def test_objection_window_is_closed_before_posting():
    assert not objection_window_open(POSTED, POSTED - TICK)


def test_objection_window_follows_beijing_days_for_utc_input():
    # 2024-03-01 17:00 UTC is 2 March 01:00 in Beijing, so the window runs through 7 March.
    posted = datetime(2024, 3, 1, 17, tzinfo=timezone.utc)
    assert objection_window_open(posted, bj(2024, 3, 7, 23, 59))
    assert not objection_window_open(posted, bj(2024, 3, 8))


def test_objection_window_length_is_configurable():
    assert objection_window_open(POSTED, bj(2024, 3, 8, 12), days=7)
    assert not objection_window_open(POSTED, bj(2024, 3, 8, 12))


def test_objection_window_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        objection_window_open(datetime(2024, 3, 1, 14), POSTED)
    with pytest.raises(ValueError):
        objection_window_open(POSTED, datetime(2024, 3, 2))


ASKED = bj(2024, 3, 10, 9, 30)


def test_answer_is_due_at_midnight_after_the_fifth_day():
    assert answer_due_at(ASKED) == bj(2024, 3, 16)


def test_answer_due_crosses_a_month_end():
    assert answer_due_at(bj(2024, 2, 27, 8)) == bj(2024, 3, 4)


def test_answer_before_the_due_instant_is_on_time():
    assert not is_answer_overdue(ASKED, bj(2024, 3, 16) - TICK, bj(2024, 4, 1))


def test_answer_at_the_due_instant_is_late():
    assert is_answer_overdue(ASKED, bj(2024, 3, 16), bj(2024, 4, 1))


def test_unanswered_question_is_not_overdue_before_the_due_instant():
    assert not is_answer_overdue(ASKED, None, bj(2024, 3, 16) - TICK)


def test_unanswered_question_is_overdue_from_the_due_instant():
    assert is_answer_overdue(ASKED, None, bj(2024, 3, 16))


def test_on_time_answer_stays_on_time_later():
    assert not is_answer_overdue(ASKED, bj(2024, 3, 11), bj(2025, 1, 1))


def test_answer_days_are_configurable():
    assert answer_due_at(ASKED, days=3) == bj(2024, 3, 14)


def test_answer_check_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        is_answer_overdue(ASKED, datetime(2024, 3, 12), bj(2024, 3, 20))
    with pytest.raises(ValueError):
        is_answer_overdue(ASKED, None, datetime(2024, 3, 20))
