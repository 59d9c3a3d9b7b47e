from datetime import date, datetime, time, timedelta, timezone

import pytest

from services.matters.rules.deadlines import (
    SHANDONG_12345,
    DeadlineRuleError,
    WarningLevel,
    WorkOrderDeadline,
    WorkOrderPolicy,
    check_sendback,
    extend,
    open_work_order,
    sendback_deadline,
    warning_level,
)
from youmin.kit.calendar import LOCAL_TZ, default_calendar

CAL = default_calendar()
TICK = timedelta(microseconds=1)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def end(y: int, m: int, d: int) -> datetime:
    return datetime.combine(date(y, m, d), time.max, tzinfo=LOCAL_TZ)


def test_shandong_policy_is_5_days_one_extension_of_10_and_2_days_to_send_back():
    assert SHANDONG_12345 == WorkOrderPolicy(
        answer_workdays=5, max_extensions=1, max_extension_workdays=10, sendback_workdays=2
    )


def test_answer_is_due_five_working_days_after_dispatch():
    order = open_work_order(at(2026, 3, 2, 9), CAL)  # Monday
    assert order.due_at == end(2026, 3, 9)
    assert order.extensions_used == 0


def test_answer_deadline_skips_national_day():
    # Dispatched on 30 September: 8, 9, 10 (make-up Saturday), 12, 13 October.
    order = open_work_order(at(2026, 9, 30, 16), CAL)
    assert order.due_at == end(2026, 10, 13)


def test_answer_deadline_skips_spring_festival():
    # Dispatched Friday 13 February: 14 (make-up Saturday), 24, 25, 26, 27 February.
    assert open_work_order(at(2026, 2, 13, 10), CAL).due_at == end(2026, 2, 27)


def test_extension_moves_the_deadline_by_working_days():
    order = open_work_order(at(2026, 9, 30, 16), CAL)
    extended = extend(order, 10, at(2026, 10, 12, 9), CAL)
    assert extended.due_at == end(2026, 10, 27)
    assert (extended.extensions_used, extended.extended_workdays) == (1, 10)
    assert extended.dispatched_at == order.dispatched_at


def test_extension_of_fewer_days_is_allowed():
    order = open_work_order(at(2026, 3, 2, 9), CAL)
    assert extend(order, 3, at(2026, 3, 5), CAL).due_at == end(2026, 3, 12)


def test_extension_longer_than_ten_working_days_is_refused():
    order = open_work_order(at(2026, 3, 2, 9), CAL)
    with pytest.raises(DeadlineRuleError) as caught:
        extend(order, 11, at(2026, 3, 5), CAL)
    assert caught.value.rule == "workorder.extension_too_long"


def test_second_extension_is_refused():
    order = extend(open_work_order(at(2026, 3, 2, 9), CAL), 2, at(2026, 3, 5), CAL)
    with pytest.raises(DeadlineRuleError) as caught:
        extend(order, 1, at(2026, 3, 6), CAL)
    assert caught.value.rule == "workorder.extension_already_used"


@pytest.mark.parametrize("days", [0, -3, True])
def test_extension_of_no_working_days_is_refused(days):
    order = open_work_order(at(2026, 3, 2, 9), CAL)
    with pytest.raises(DeadlineRuleError) as caught:
        extend(order, days, at(2026, 3, 5), CAL)
    assert caught.value.rule == "workorder.extension_invalid"


def test_extension_asked_after_the_deadline_is_refused():
    order = open_work_order(at(2026, 3, 2, 9), CAL)
    assert extend(order, 1, order.due_at, CAL).due_at == end(2026, 3, 10)
    with pytest.raises(DeadlineRuleError) as caught:
        extend(order, 1, order.due_at + TICK, CAL)
    assert caught.value.rule == "workorder.extension_after_due"


def test_a_policy_with_two_extensions_allows_a_second():
    policy = WorkOrderPolicy(max_extensions=2)
    order = extend(open_work_order(at(2026, 3, 2, 9), CAL), 1, at(2026, 3, 3), CAL, policy)
    assert extend(order, 1, at(2026, 3, 3), CAL, policy).extensions_used == 2


def test_sendback_window_is_two_working_days_from_dispatch():
    assert sendback_deadline(at(2026, 3, 2, 9), CAL) == end(2026, 3, 4)
    check_sendback(at(2026, 3, 2, 9), end(2026, 3, 4), CAL)
    with pytest.raises(DeadlineRuleError) as caught:
        check_sendback(at(2026, 3, 2, 9), end(2026, 3, 4) + TICK, CAL)
    assert caught.value.rule == "workorder.sendback_window_closed"


def test_sendback_window_stretches_over_a_holiday():
    dispatched = at(2026, 9, 30, 16)
    assert sendback_deadline(dispatched, CAL) == end(2026, 10, 9)
    check_sendback(dispatched, at(2026, 10, 7, 12), CAL)
    with pytest.raises(DeadlineRuleError, match="workorder.sendback_window_closed"):
        check_sendback(dispatched, at(2026, 10, 10, 8), CAL)


def test_deadline_rule_error_carries_rule_and_detail():
    error = DeadlineRuleError("workorder.extension_too_long", "at most 10")
    assert (error.rule, error.detail, str(error)) == (
        "workorder.extension_too_long",
        "at most 10",
        "workorder.extension_too_long: at most 10",
    )


DUE_TUESDAY = end(2026, 3, 10)


@pytest.mark.parametrize(
    ("now", "level"),
    [
        (at(2026, 3, 6, 12), "none"),  # Friday before
        (at(2026, 3, 9) - TICK, "none"),  # the last moment of Sunday
        (at(2026, 3, 9), "yellow"),  # Monday starts: one working day before the deadline day
        (at(2026, 3, 10, 12), "yellow"),  # the deadline day itself
        (DUE_TUESDAY, "yellow"),  # the deadline's last microsecond is still on time
        (DUE_TUESDAY + TICK, "red"),
        (at(2026, 3, 20), "red"),
    ],
)
def test_warning_level_around_an_ordinary_deadline(now, level):
    assert warning_level(DUE_TUESDAY, now, CAL) == level


def test_yellow_warning_for_a_monday_deadline_starts_on_friday():
    due = end(2026, 3, 16)
    assert warning_level(due, at(2026, 3, 13) - TICK, CAL) is WarningLevel.NONE
    assert warning_level(due, at(2026, 3, 13), CAL) is WarningLevel.YELLOW
    assert warning_level(due, at(2026, 3, 14, 12), CAL) is WarningLevel.YELLOW


def test_yellow_warning_before_a_holiday_starts_on_the_last_day_before_it():
    due = end(2026, 10, 8)
    assert warning_level(due, at(2026, 9, 29, 23, 59), CAL) == "none"
    assert warning_level(due, at(2026, 9, 30), CAL) == "yellow"
    assert warning_level(due, at(2026, 10, 4), CAL) == "yellow"


def test_task_deadline_during_the_day_turns_red_right_after_it():
    due = at(2026, 3, 10, 15)
    assert warning_level(due, due, CAL) == "yellow"
    assert warning_level(due, due + TICK, CAL) == "red"
    assert warning_level(due, at(2026, 3, 8, 23, 59), CAL) == "none"


def test_warning_level_compares_moments_across_time_zones():
    # 16:00 UTC on Sunday 8 March is 00:00 on Monday 9 March in Shanghai.
    assert warning_level(DUE_TUESDAY, datetime(2026, 3, 8, 16, 0, tzinfo=timezone.utc), CAL) == "yellow"
    assert warning_level(DUE_TUESDAY, datetime(2026, 3, 8, 15, 59, tzinfo=timezone.utc), CAL) == "none"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        warning_level(datetime(2026, 3, 10, 23, 59), at(2026, 3, 9), CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        open_work_order(datetime(2026, 3, 2, 9), CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        check_sendback(at(2026, 3, 2, 9), datetime(2026, 3, 3), CAL)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"answer_workdays": 0},
        {"max_extensions": -1},
        {"max_extension_workdays": 0},
        {"sendback_workdays": 1.5},
    ],
)
def test_policy_refuses_impossible_limits(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        WorkOrderPolicy(**kwargs)


def test_work_order_deadline_is_plain_immutable_data():
    order = open_work_order(at(2026, 3, 2, 9), CAL)
    assert order == WorkOrderDeadline(at(2026, 3, 2, 9), end(2026, 3, 9))
    with pytest.raises(AttributeError):
        order.due_at = end(2026, 3, 20)  # type: ignore[misc]


@pytest.mark.parametrize("content", ['{"holidays": ["2027-01-01", "2027-01-01"], "extra_workdays": []}',
                                     '{"holidays": ["2027-13-01"]}', "not json", None])
def test_a_working_day_calendar_the_service_cannot_use_stops_its_start(tmp_path, content):
    from pydantic import ValidationError

    from services.matters.settings import Settings

    path = tmp_path / "calendar.json"
    if content is not None:  # None: no such file
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError, match="calendar_path"):
        Settings(calendar_path=str(path))
    good = tmp_path / "good.json"
    good.write_text('{"holidays": ["2027-01-01"], "extra_workdays": []}', encoding="utf-8")
    assert Settings(calendar_path=str(good)).calendar_path == str(good)
