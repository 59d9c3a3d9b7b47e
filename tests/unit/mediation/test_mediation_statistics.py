"""Mediation statistics on a small data set whose figures are worked out by hand below."""

from datetime import datetime, timedelta, timezone

import pytest

from services.mediation.rules.ladder import CaseStatus, Level
from services.mediation.rules.statistics import (
    DISPUTE_TYPE_NAMES,
    CaseRecord,
    DisputeType,
    compare,
    compute,
    previous_period,
)

CST = timezone(timedelta(hours=8))
UTC = timezone.utc
Q1_START = datetime(2024, 1, 1, tzinfo=CST)
Q2_START = datetime(2024, 4, 1, tzinfo=CST)
Q2_END = datetime(2024, 7, 1, tzinfo=CST)


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, second, tzinfo=CST)


T = DisputeType
S = CaseStatus
CASES = [
    # Q2 (2024-04-01 .. 2024-07-01, China time)
    CaseRecord(at(4, 1), T.FAMILY, S.CLOSED, resolved_at=at(4, 4), resolved_level=Level.GRID),  # 3 days
    CaseRecord(at(4, 10, 12), T.NEIGHBOUR, S.CLOSED, at(4, 15), Level.COMMUNITY, escalations=1),  # 4.5 days
    CaseRecord(at(5, 1), T.NEIGHBOUR, S.CONFIRMED, at(5, 11), Level.STREET, escalations=2),  # 10 days
    CaseRecord(at(5, 20), T.LABOUR, S.REFERRED, escalations=3, referred=True),
    CaseRecord(at(6, 1), T.FAMILY, S.TERMINATED),
    CaseRecord(at(6, 25), T.PROPERTY_MANAGEMENT, S.CLOSED, at(7, 2), Level.GRID),  # resolved after Q2 ends
    # 16:00 UTC on 30 June is midnight on 1 July in China: outside Q2.
    CaseRecord(datetime(2024, 6, 30, 16, 0, tzinfo=UTC), T.CONTRACT, S.MEDIATING),
    # Q1 (2024-01-01 .. 2024-04-01)
    CaseRecord(at(3, 31, 23, 59, 59), T.OTHER, S.CLOSED, at(4, 2), Level.GRID),  # resolved after Q1 ends
    CaseRecord(at(1, 10), T.FAMILY, S.CLOSED, at(1, 12), Level.GRID),  # 2 days
    CaseRecord(at(2, 1), T.NEIGHBOUR, S.CLOSED, at(2, 8, 12), Level.DISTRICT, escalations=3),  # 7.5 days
    CaseRecord(at(3, 1), T.LABOUR, S.CLOSED, at(3, 2), Level.GRID),  # 1 day
]


@pytest.fixture
def q2():
    return compute(CASES, Q2_START, Q2_END)


@pytest.fixture
def q1():
    return compute(CASES, Q1_START, Q2_START)


def test_dispute_types_have_their_chinese_names() -> None:
    assert DISPUTE_TYPE_NAMES == {
        T.FAMILY: "婚姻家庭",
        T.NEIGHBOUR: "邻里",
        T.PROPERTY_MANAGEMENT: "物业",
        T.LABOUR: "劳动",
        T.LAND_EXPROPRIATION: "征地拆迁",
        T.CONTRACT: "合同",
        T.OTHER: "其他",
    }


def test_previous_period_of_whole_months_is_as_many_months_before() -> None:
    assert previous_period(Q2_START, Q2_END) == (Q1_START, Q2_START)
    # May has 31 days, April 30: a previous period of 31 days would begin on 31 March, and with April's own figures
    # give away that one day's.
    assert previous_period(at(5, 1), at(6, 1)) == (at(4, 1), at(5, 1))
    assert previous_period(at(3, 1), at(4, 1)) == (at(2, 1), at(3, 1))  # February of a leap year, 29 days
    assert previous_period(at(2, 1), at(3, 1)) == (datetime(2024, 1, 1, tzinfo=CST), at(2, 1))
    # Across a year, and a whole year.
    assert previous_period(datetime(2024, 1, 1, tzinfo=CST), datetime(2024, 3, 1, tzinfo=CST)) == (
        datetime(2023, 11, 1, tzinfo=CST), datetime(2024, 1, 1, tzinfo=CST))
    assert previous_period(datetime(2024, 1, 1, tzinfo=CST), datetime(2025, 1, 1, tzinfo=CST)) == (
        datetime(2023, 1, 1, tzinfo=CST), datetime(2024, 1, 1, tzinfo=CST))
    # The same instants given in UTC.
    assert previous_period(at(5, 1).astimezone(UTC), at(6, 1).astimezone(UTC)) == (at(4, 1), at(5, 1))


def test_previous_period_of_other_periods_has_the_same_length_and_ends_where_this_one_starts() -> None:
    assert previous_period(at(5, 2), at(5, 3)) == (at(5, 1), at(5, 2))
    assert previous_period(at(5, 1, 1), at(6, 1, 1)) == (at(3, 31, 1), at(5, 1, 1))  # not midnight: 31 days


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="period_end"):
        previous_period(Q2_START, Q2_START)
    with pytest.raises(ValueError, match="period_end"):
        compute(CASES, Q2_END, Q2_START)


def test_a_period_whose_previous_period_falls_outside_the_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="period_start"):
        previous_period(datetime(761, 8, 7, tzinfo=UTC), datetime(3279, 9, 6, tzinfo=UTC))
    # Its start exists locally, but not in UTC.
    with pytest.raises(ValueError, match="period_start"):
        previous_period(datetime(1, 1, 1, 12, tzinfo=CST), datetime(1, 1, 2, tzinfo=CST))
    with pytest.raises(ValueError, match="period_start"):
        previous_period(datetime(2024, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=timezone(-timedelta(hours=5))))


def test_opened_counts_the_half_open_period(q2) -> None:
    # Six cases open in Q2: the one opened at 04-01 00:00 counts, the one at 07-01 00:00 does not.
    assert q2.opened == 6


def test_resolved_counts_only_agreements_reached_before_the_period_ends(q2) -> None:
    assert q2.resolved == 3
    assert q2.resolved_by_level == {Level.GRID: 1, Level.COMMUNITY: 1, Level.STREET: 1, Level.DISTRICT: 0}


def test_resolution_rate_is_resolved_over_opened(q2, q1) -> None:
    assert q2.resolution_rate == 0.5  # 3 / 6
    assert q1.resolution_rate == 0.75  # 3 / 4


def test_median_days_to_resolve(q2, q1) -> None:
    assert q2.median_days_to_resolve == 4.5  # 3, 4.5, 10
    assert q1.median_days_to_resolve == 2.0  # 1, 2, 7.5


def test_escalations_referrals_and_terminations(q2) -> None:
    assert q2.escalations == 6  # 0 + 1 + 2 + 3 + 0 + 0
    assert q2.referrals == 1
    assert q2.terminated == 1


def test_the_period_is_carried_on_the_result(q2) -> None:
    assert (q2.period_start, q2.period_end) == (Q2_START, Q2_END)


def test_figures_by_type(q2) -> None:
    family = q2.by_type[T.FAMILY]
    assert (family.opened, family.resolved, family.resolution_rate, family.median_days_to_resolve) == (2, 1, 0.5, 3.0)
    assert family.terminated == 1
    neighbour = q2.by_type[T.NEIGHBOUR]
    # An even count takes the mean of the middle two: (4.5 + 10) / 2.
    assert (neighbour.opened, neighbour.resolved, neighbour.resolution_rate) == (2, 2, 1.0)
    assert neighbour.median_days_to_resolve == 7.25
    assert neighbour.escalations == 3
    assert neighbour.resolved_by_level == {Level.GRID: 0, Level.COMMUNITY: 1, Level.STREET: 1, Level.DISTRICT: 0}
    labour = q2.by_type[T.LABOUR]
    assert (labour.opened, labour.resolved, labour.resolution_rate, labour.median_days_to_resolve) == (1, 0, 0.0, None)
    assert (labour.escalations, labour.referrals) == (3, 1)
    assert q2.by_type[T.PROPERTY_MANAGEMENT].resolved == 0


def test_every_type_is_present_even_without_cases(q2) -> None:
    assert set(q2.by_type) == set(DisputeType)
    empty = q2.by_type[T.LAND_EXPROPRIATION]
    assert (empty.opened, empty.resolved, empty.resolution_rate, empty.median_days_to_resolve) == (0, 0, None, None)
    assert q2.by_type[T.CONTRACT].opened == 0


def test_an_empty_period_has_no_rate_and_no_median() -> None:
    stats = compute([], Q2_START, Q2_END)
    assert (stats.opened, stats.resolution_rate, stats.median_days_to_resolve) == (0, None, None)
    assert stats.resolved_by_level == {level: 0 for level in Level}


def test_the_rate_is_rounded_to_four_places() -> None:
    cases = [
        CaseRecord(at(5, 1), T.OTHER, S.CLOSED, at(5, 2), Level.GRID),
        CaseRecord(at(5, 1), T.OTHER, S.CLOSED, at(5, 2), Level.GRID),
        CaseRecord(at(5, 1), T.OTHER, S.MEDIATING),
    ]
    assert compute(cases, Q2_START, Q2_END).resolution_rate == 0.6667
    assert compute(cases[1:], Q2_START, Q2_END).resolution_rate == 0.5


def test_a_past_period_figures_do_not_change_when_later_cases_are_added(q1) -> None:
    later = [*CASES, CaseRecord(at(8, 1), T.FAMILY, S.CLOSED, at(8, 2), Level.GRID)]
    assert compute(later, Q1_START, Q2_START) == q1


def test_compare_gives_current_minus_previous(q2, q1) -> None:
    deltas = compare(q2, q1)
    assert deltas.opened == 2  # 6 - 4
    assert deltas.resolved == 0  # 3 - 3
    assert deltas.resolution_rate == -0.25  # 0.5 - 0.75
    assert deltas.median_days_to_resolve == 2.5  # 4.5 - 2.0
    assert deltas.escalations == 3  # 6 - 3
    assert deltas.referrals == 1
    assert deltas.terminated == 1
    assert deltas.resolved_by_level == {Level.GRID: -1, Level.COMMUNITY: 1, Level.STREET: 1, Level.DISTRICT: -1}


def test_compare_by_type(q2, q1) -> None:
    deltas = compare(q2, q1)
    family = deltas.by_type[T.FAMILY]
    assert (family.opened, family.resolved, family.resolution_rate, family.median_days_to_resolve) == (1, 0, -0.5, 1.0)
    labour = deltas.by_type[T.LABOUR]
    # Labour had a median last quarter but none this quarter: no difference can be given.
    assert (labour.opened, labour.resolution_rate, labour.median_days_to_resolve) == (0, -1.0, None)
    other = deltas.by_type[T.OTHER]
    # Q1 opened one "other" case (rate 0.0); Q2 opened none (no rate).
    assert (other.opened, other.resolution_rate) == (-1, None)
    assert set(deltas.by_type) == set(DisputeType)


def test_compare_uses_the_previous_period_helper(q2) -> None:
    previous = compute(CASES, *previous_period(Q2_START, Q2_END))
    assert compare(q2, previous).opened == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"resolved_at": at(5, 2)}, "resolved_level"),
        ({"resolved_level": Level.GRID}, "resolved_level"),
        ({"resolved_at": at(4, 30), "resolved_level": Level.GRID}, "resolved_at"),
        ({"escalations": -1}, "escalations"),
    ],
)
def test_inconsistent_records_are_refused(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CaseRecord(at(5, 1), T.OTHER, S.CLOSED, **kwargs)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="opened_at"):
        CaseRecord(datetime(2024, 5, 1), T.OTHER, S.INTAKE)
    with pytest.raises(ValueError, match="period_start"):
        compute([], datetime(2024, 4, 1), Q2_END)
