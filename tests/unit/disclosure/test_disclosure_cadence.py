"""三务公开 cadence: periods, overdue kinds, minimum display and major items."""

from datetime import date, datetime, timedelta, timezone

import pytest

from services.disclosure.rules.cadence import (
    SHANGHAI,
    CadencePolicy,
    DisclosureKind,
    Period,
    can_withdraw,
    compliance_report,
    earliest_withdrawal,
    end_of_days,
    is_major_item_late,
    is_overdue,
    local_date,
    major_event_at,
    major_item_due_at,
    overdue_kinds,
    period_start,
    previous_period_start,
    start_of_day,
)

PARTY, RESIDENTS, FINANCE = DisclosureKind.PARTY, DisclosureKind.RESIDENTS, DisclosureKind.FINANCE


def bj(*args: int) -> datetime:
    """Returns a Beijing-time datetime."""
    return datetime(*args, tzinfo=SHANGHAI)


def test_kind_values():
    assert [k.value for k in DisclosureKind] == ["party", "residents", "finance"]


def test_default_periods_are_quarterly_and_monthly_for_finance():
    periods = CadencePolicy().periods
    assert periods == {PARTY: Period.QUARTER, RESIDENTS: Period.QUARTER, FINANCE: Period.MONTH}


# --- calendar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "quarter_start"),
    [
        (date(2024, 1, 1), date(2024, 1, 1)),
        (date(2024, 3, 31), date(2024, 1, 1)),
        (date(2024, 4, 1), date(2024, 4, 1)),
        (date(2024, 8, 15), date(2024, 7, 1)),
        (date(2024, 12, 31), date(2024, 10, 1)),
    ],
)
def test_quarter_start(day, quarter_start):
    assert period_start(day, Period.QUARTER) == quarter_start


def test_month_start():
    assert period_start(date(2024, 2, 29), Period.MONTH) == date(2024, 2, 1)


@pytest.mark.parametrize(
    ("day", "period", "previous"),
    [
        (date(2024, 2, 10), Period.QUARTER, date(2023, 10, 1)),
        (date(2024, 5, 10), Period.QUARTER, date(2024, 1, 1)),
        (date(2024, 1, 1), Period.MONTH, date(2023, 12, 1)),
        (date(2024, 3, 31), Period.MONTH, date(2024, 2, 1)),
    ],
)
def test_previous_period_start(day, period, previous):
    assert previous_period_start(day, period) == previous


def test_local_date_uses_beijing_time():
    assert local_date(datetime(2024, 3, 31, 16, 30, tzinfo=timezone.utc)) == date(2024, 4, 1)


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        local_date(datetime(2024, 1, 1, 12))


def test_start_of_day_is_midnight_in_beijing():
    assert start_of_day(date(2024, 3, 7)) == datetime(2024, 3, 6, 16, tzinfo=timezone.utc)


def test_period_of_days_excludes_the_first_day():
    assert end_of_days(bj(2024, 3, 1, 14), 5) == bj(2024, 3, 7)


# --- overdue ----------------------------------------------------------------------------------


def test_quarterly_kind_is_not_overdue_on_the_last_day_of_the_quarter_after_its_post():
    assert not is_overdue(PARTY, date(2024, 1, 5), date(2024, 6, 30))


def test_quarterly_kind_is_overdue_the_day_after_an_empty_quarter():
    assert is_overdue(PARTY, date(2024, 1, 5), date(2024, 7, 1))


def test_post_on_the_first_day_of_the_previous_quarter_counts():
    assert not is_overdue(RESIDENTS, date(2024, 4, 1), date(2024, 9, 30))


def test_post_on_the_day_before_the_previous_quarter_does_not_count():
    assert is_overdue(RESIDENTS, date(2024, 3, 31), date(2024, 7, 1))


def test_late_post_in_the_current_quarter_clears_the_overdue_kind():
    assert not is_overdue(PARTY, date(2024, 7, 20), date(2024, 7, 21))


def test_quarter_boundary_across_the_year():
    assert not is_overdue(PARTY, date(2023, 10, 1), date(2024, 3, 31))
    assert is_overdue(PARTY, date(2023, 12, 31), date(2024, 4, 1))


def test_monthly_finance_is_overdue_after_an_empty_month():
    assert not is_overdue(FINANCE, date(2024, 3, 15), date(2024, 4, 30))
    assert is_overdue(FINANCE, date(2024, 3, 15), date(2024, 5, 1))


def test_never_posted_kind_is_overdue():
    assert is_overdue(PARTY, None, date(2024, 1, 1))


def test_last_post_given_as_a_datetime_uses_its_beijing_date():
    # 2024-03-31 16:30 UTC is 1 April in Beijing, inside Q2.
    assert not is_overdue(PARTY, datetime(2024, 3, 31, 16, 30, tzinfo=timezone.utc), date(2024, 9, 30))
    assert is_overdue(PARTY, datetime(2024, 3, 31, 15, 30, tzinfo=timezone.utc), date(2024, 7, 1))


def test_kind_may_be_given_by_name():
    assert is_overdue("finance", date(2024, 1, 1), date(2024, 3, 1))


def test_overdue_kinds_are_listed_in_kind_order():
    last = {FINANCE: date(2024, 1, 1), PARTY: None, RESIDENTS: date(2024, 6, 1)}
    assert overdue_kinds(last, date(2024, 7, 1)) == [PARTY, FINANCE]


def test_kind_missing_from_the_mapping_is_overdue():
    last = {"party": date(2024, 6, 1), "finance": date(2024, 6, 1)}
    assert overdue_kinds(last, date(2024, 7, 1)) == [RESIDENTS]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        overdue_kinds({"sports": date(2024, 6, 1)}, date(2024, 7, 1))


def test_all_kinds_current_means_nothing_overdue():
    assert overdue_kinds(dict.fromkeys(DisclosureKind, date(2024, 6, 30)), date(2024, 7, 31)) == []


def test_period_per_kind_is_configurable():
    policy = CadencePolicy(periods={PARTY: Period.QUARTER, RESIDENTS: Period.MONTH, FINANCE: Period.MONTH})
    assert is_overdue(RESIDENTS, date(2024, 1, 15), date(2024, 3, 1), policy)
    assert not is_overdue(RESIDENTS, date(2024, 1, 15), date(2024, 3, 1))


def test_policy_needs_a_period_for_every_kind():
    with pytest.raises(ValueError, match="finance"):
        CadencePolicy(periods={PARTY: Period.QUARTER, RESIDENTS: Period.QUARTER})


@pytest.mark.parametrize("field", ["major_grace_days", "min_display_days"])
def test_policy_refuses_negative_days(field):
    with pytest.raises(ValueError, match=field):
        CadencePolicy(**{field: -1})


# --- compliance report ------------------------------------------------------------------------


def test_compliance_report_lists_offenders_and_compliant_communities():
    current = dict.fromkeys(DisclosureKind, date(2024, 6, 30))
    report = compliance_report(
        {
            "370705001002": current,
            "370705001001": current | {FINANCE: date(2024, 4, 30)},
            "370705002001": {},
        },
        date(2024, 7, 1),
    )
    assert report.as_of == date(2024, 7, 1)
    assert report.overdue == {"370705001001": [FINANCE], "370705002001": [PARTY, RESIDENTS, FINANCE]}
    assert report.compliant == ["370705001002"]
    assert report.compliance_rate == pytest.approx(1 / 3)


def test_compliance_of_no_communities_is_full():
    report = compliance_report({}, date(2024, 7, 1))
    assert report.compliance_rate == 1.0 and report.overdue == {} and report.compliant == []


# --- minimum display --------------------------------------------------------------------------


def test_item_may_be_withdrawn_from_midnight_after_the_fifth_full_day():
    assert earliest_withdrawal(bj(2024, 3, 1, 14, 0)) == bj(2024, 3, 7)


def test_item_posted_just_before_midnight_still_stays_five_full_days():
    assert earliest_withdrawal(bj(2024, 3, 1, 23, 59)) == bj(2024, 3, 7)


def test_withdrawal_day_is_counted_in_beijing_time():
    # 2024-03-01 17:00 UTC is 2 March 01:00 in Beijing.
    assert earliest_withdrawal(datetime(2024, 3, 1, 17, tzinfo=timezone.utc)) == bj(2024, 3, 8)


def test_item_cannot_be_withdrawn_a_moment_too_early():
    assert not can_withdraw(bj(2024, 3, 1, 9), bj(2024, 3, 7) - timedelta(microseconds=1))


def test_item_can_be_withdrawn_at_the_earliest_instant():
    assert can_withdraw(bj(2024, 3, 1, 9), bj(2024, 3, 7))


def test_withdrawal_check_refuses_a_naive_now():
    with pytest.raises(ValueError):
        can_withdraw(bj(2024, 3, 1, 9), datetime(2024, 3, 8))


def test_minimum_display_is_configurable():
    assert earliest_withdrawal(bj(2024, 3, 1, 9), CadencePolicy(min_display_days=7)) == bj(2024, 3, 9)


# --- major items ------------------------------------------------------------------------------


def test_major_item_is_due_by_the_end_of_the_day_after_the_event():
    assert major_item_due_at(bj(2024, 3, 1, 10)) == bj(2024, 3, 3)


def test_major_item_posted_within_the_grace_is_not_late():
    assert not is_major_item_late(bj(2024, 3, 1, 10), bj(2024, 3, 2, 23, 59), bj(2024, 3, 10))


def test_major_item_posted_at_the_due_instant_is_late():
    assert is_major_item_late(bj(2024, 3, 1, 10), bj(2024, 3, 3), bj(2024, 3, 10))


def test_unposted_major_item_is_late_once_due():
    assert not is_major_item_late(bj(2024, 3, 1, 10), None, bj(2024, 3, 2, 23))
    assert is_major_item_late(bj(2024, 3, 1, 10), None, bj(2024, 3, 3))


def test_zero_grace_means_the_same_day():
    assert major_item_due_at(bj(2024, 3, 1, 10), CadencePolicy(major_grace_days=0)) == bj(2024, 3, 2)


def test_an_item_built_from_an_event_counts_from_the_event_instant():
    assert major_event_at({"event_at": "2024-03-01T02:00:00+00:00"}) == bj(2024, 3, 1, 10)
    assert major_event_at({"event_at": "2024-03-01T02:00:00Z"}) == bj(2024, 3, 1, 10)


def test_staff_minutes_count_from_the_start_of_the_meeting_day():
    assert major_event_at({"held_on": "2024-03-01", "body": "纪要"}) == bj(2024, 3, 1)


def test_the_event_instant_wins_over_a_meeting_day():
    assert major_event_at({"event_at": "2024-03-05T10:00:00+08:00", "held_on": "2024-03-01"}) == bj(2024, 3, 5, 10)


@pytest.mark.parametrize("content", [{}, {"period": "2024-03", "lines": []}, {"held_on": None}, None, ["held_on"]])
def test_an_item_without_an_event_date_has_none(content):
    assert major_event_at(content) is None


def test_staff_minutes_posted_two_days_after_the_meeting_are_late():
    held = major_event_at({"held_on": "2024-03-01"})
    assert not is_major_item_late(held, bj(2024, 3, 2, 23, 59), bj(2024, 3, 10))
    assert is_major_item_late(held, bj(2024, 3, 3), bj(2024, 3, 10))


def test_an_event_instant_without_an_offset_is_refused():
    with pytest.raises(ValueError):
        major_event_at({"event_at": "2024-03-01T10:00:00"})


def test_major_item_check_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        is_major_item_late(bj(2024, 3, 1, 10), datetime(2024, 3, 2), bj(2024, 3, 3))
