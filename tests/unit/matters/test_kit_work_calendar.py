from datetime import date, datetime, time, timedelta, timezone

import pytest

from youmin.kit.calendar import LOCAL_TZ, WorkCalendar, default_calendar, local_date

CAL = default_calendar()


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def end(y: int, m: int, d: int) -> datetime:
    return datetime.combine(date(y, m, d), time.max, tzinfo=LOCAL_TZ)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


HOLIDAYS_2026 = [
    *days(date(2026, 1, 1), date(2026, 1, 3)),
    *days(date(2026, 2, 15), date(2026, 2, 23)),
    *days(date(2026, 4, 4), date(2026, 4, 6)),
    *days(date(2026, 5, 1), date(2026, 5, 5)),
    *days(date(2026, 6, 19), date(2026, 6, 21)),
    *days(date(2026, 9, 25), date(2026, 9, 27)),
    *days(date(2026, 10, 1), date(2026, 10, 7)),
]
MAKEUP_WORKDAYS_2026 = [
    date(2026, 1, 4),
    date(2026, 2, 14),
    date(2026, 2, 28),
    date(2026, 5, 9),
    date(2026, 9, 20),
    date(2026, 10, 10),
]


@pytest.mark.parametrize("day", HOLIDAYS_2026, ids=str)
def test_2026_public_holiday_is_not_a_workday(day):
    assert not CAL.is_workday(day)


@pytest.mark.parametrize("day", MAKEUP_WORKDAYS_2026, ids=str)
def test_2026_makeup_weekend_day_is_a_workday(day):
    assert day.weekday() >= 5
    assert CAL.is_workday(day)


def test_shipped_calendar_holds_exactly_the_2026_notice():
    assert CAL.holidays == frozenset(HOLIDAYS_2026)
    assert CAL.extra_workdays == frozenset(MAKEUP_WORKDAYS_2026)


def test_ordinary_weekend_is_off_and_weekday_is_on():
    assert not CAL.is_workday(date(2026, 3, 7))  # Saturday
    assert not CAL.is_workday(date(2026, 3, 8))  # Sunday
    assert CAL.is_workday(date(2026, 3, 9))  # Monday


def test_empty_calendar_knows_only_weekends():
    cal = WorkCalendar()
    assert cal.is_workday(date(2026, 10, 1))
    assert not cal.is_workday(date(2026, 10, 10))


def test_deadline_is_end_of_fifth_working_day_across_national_day():
    assert CAL.add_workdays(at(2026, 9, 30, 10), 5) == end(2026, 10, 13)


def test_deadline_is_tz_aware_last_microsecond_of_the_day_in_shanghai():
    due = CAL.add_workdays(at(2026, 3, 2, 9), 1)
    assert due.tzinfo is not None
    assert due.utcoffset() == timedelta(hours=8)
    assert (due.hour, due.minute, due.second, due.microsecond) == (23, 59, 59, 999999)
    assert due.date() == date(2026, 3, 3)


def test_counting_starts_from_the_shanghai_day_of_a_utc_start():
    # 17:00 UTC on Monday 2 March is 01:00 on Tuesday 3 March in Shanghai.
    start = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)
    assert local_date(start) == date(2026, 3, 3)
    assert CAL.add_workdays(start, 1) == end(2026, 3, 4)


def test_counting_from_a_holiday_starts_with_the_next_working_day():
    assert CAL.add_workdays(at(2026, 10, 3, 12), 1) == end(2026, 10, 8)


def test_makeup_saturday_counts_as_a_working_day():
    assert CAL.add_workdays(at(2026, 10, 9, 9), 1) == end(2026, 10, 10)
    assert CAL.add_workdays(at(2026, 2, 13, 9), 1) == end(2026, 2, 14)
    assert CAL.add_workdays(at(2026, 2, 13, 9), 2) == end(2026, 2, 24)


def test_friday_dispatch_skips_the_weekend():
    assert CAL.add_workdays(at(2026, 3, 6, 18), 1) == end(2026, 3, 9)


def test_add_workdays_rejects_naive_start():
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add_workdays(datetime(2026, 3, 2, 9), 1)


@pytest.mark.parametrize("n", [0, -1, True, 1.5])
def test_add_workdays_rejects_n_that_is_not_a_positive_whole_number(n):
    with pytest.raises(ValueError, match="n must be"):
        CAL.add_workdays(at(2026, 3, 2), n)


def test_workdays_between_counts_after_a_through_b():
    assert CAL.workdays_between(date(2026, 9, 30), date(2026, 10, 13)) == 5
    assert CAL.workdays_between(date(2026, 10, 13), date(2026, 9, 30)) == -5
    assert CAL.workdays_between(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert CAL.workdays_between(date(2026, 10, 1), date(2026, 10, 7)) == 0


def test_workdays_between_reads_datetimes_as_local_dates():
    assert CAL.workdays_between(at(2026, 9, 30, 10), end(2026, 10, 13)) == 5


def test_workdays_between_undoes_add_workdays_for_every_day_of_2026():
    for start in days(date(2026, 1, 1), date(2026, 12, 31)):
        for n in (1, 5, 10):
            due = CAL.add_workdays(datetime.combine(start, time(12), tzinfo=LOCAL_TZ), n)
            assert CAL.workdays_between(start, due.date()) == n, (start, n)
            assert CAL.is_workday(due.date())


def test_previous_workday_skips_holidays_and_weekends():
    assert CAL.previous_workday(date(2026, 10, 8)) == date(2026, 9, 30)
    assert CAL.previous_workday(date(2026, 3, 9)) == date(2026, 3, 6)
    assert CAL.previous_workday(date(2026, 10, 12)) == date(2026, 10, 10)
    assert CAL.previous_workday(date(2026, 3, 4)) == date(2026, 3, 3)


def test_next_workday_skips_holidays_and_weekends():
    assert CAL.next_workday(date(2026, 9, 30)) == date(2026, 10, 8)
    assert CAL.next_workday(date(2026, 10, 9)) == date(2026, 10, 10)


def test_from_mapping_reads_iso_dates_and_ignores_underscore_notes():
    cal = WorkCalendar.from_mapping(
        {"_source": "note", "holidays": ["2026-10-01"], "extra_workdays": ["2026-10-10"]}
    )
    assert cal == WorkCalendar({date(2026, 10, 1)}, {date(2026, 10, 10)})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"extra_workdays": []}, "holidays: required"),
        ({"holidays": []}, "extra_workdays: required"),
        ({"holidays": "2026-10-01", "extra_workdays": []}, "holidays: must be a list"),
        ({"holidays": ["2026-13-01"], "extra_workdays": []}, r"holidays\[0\]: '2026-13-01' is not an ISO date"),
        ({"holidays": ["20261001"], "extra_workdays": []}, r"holidays\[0\]: '20261001' is not an ISO date"),
        ({"holidays": [20261001], "extra_workdays": []}, r"holidays\[0\]: expected an ISO date string"),
        ({"holidays": [], "extra_workdays": ["2026-10-10", "2026-10-10"]}, r"extra_workdays\[1\]: .* twice"),
        ({"holidays": [], "extra_workdays": [], "holiday": []}, "holiday: unknown calendar field"),
        ({"holidays": ["2026-10-10"], "extra_workdays": ["2026-10-10"]}, "also listed as a holiday"),
        ({"holidays": [], "extra_workdays": ["2026-10-09"]}, "2026-10-09 is a weekday already"),
        (["2026-10-01"], "must be a mapping"),
    ],
)
def test_from_mapping_names_the_bad_field(data, message):
    with pytest.raises(ValueError, match=message):
        WorkCalendar.from_mapping(data)


def test_calendar_is_immutable_and_hashable():
    cal = WorkCalendar({date(2026, 10, 1)})
    with pytest.raises(AttributeError):
        cal.holidays = frozenset()  # type: ignore[misc]
    assert hash(cal) == hash(WorkCalendar([date(2026, 10, 1)]))


def test_default_calendar_is_loaded_once():
    assert default_calendar() is default_calendar()


def test_calendar_knows_which_years_it_lists_and_names_the_missing_ones():
    cal = WorkCalendar(holidays=[date(2026, 1, 1), date(2028, 1, 1)])
    assert cal.years == {2026, 2028}
    assert cal.missing_years(date(2026, 11, 29), date(2026, 12, 31)) == []
    assert cal.missing_years(date(2026, 12, 1), date(2028, 1, 15)) == [2027]
    assert cal.missing_years(at(2029, 1, 1, 8), at(2029, 1, 2)) == [2029]
    assert default_calendar().years >= {2026}


def test_sweeper_reports_a_missing_year_from_45_days_ahead_once(monkeypatch):
    from prometheus_client import REGISTRY

    from services.matters import scheduler

    warnings: list[tuple[str, dict]] = []

    class Recorder:
        def warning(self, event: str, **fields) -> None:
            warnings.append((event, fields))

    monkeypatch.setattr(scheduler, "log", Recorder())
    cal = WorkCalendar(holidays=[date(2026, 1, 1)])
    reported: set[int] = set()
    assert scheduler.check_calendar(cal, at(2026, 11, 16, 12), reported) == []
    assert REGISTRY.get_sample_value("youmin_matters_calendar_missing_years") == 0
    assert scheduler.check_calendar(cal, at(2026, 11, 17, 12), reported) == [2027]
    assert REGISTRY.get_sample_value("youmin_matters_calendar_missing_years") == 1
    assert scheduler.check_calendar(cal, at(2026, 12, 20), reported) == [2027]
    assert [(event, fields["year"]) for event, fields in warnings] == [("matters.calendar_year_missing", 2027)]
    # Once the year is added (a new calendar file, a restart), the gauge goes back to 0.
    assert scheduler.check_calendar(WorkCalendar(holidays=[date(2026, 1, 1), date(2027, 1, 1)]), at(2026, 12, 20),
                                    set()) == []
    assert REGISTRY.get_sample_value("youmin_matters_calendar_missing_years") == 0
