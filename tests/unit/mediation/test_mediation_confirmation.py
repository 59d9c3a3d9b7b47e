"""Judicial confirmation: the 30-day window, the reminder, and a complete set of signatures."""

from datetime import date, datetime, timedelta, timezone

import pytest

from services.mediation.rules.confirmation import (
    AgreementKind,
    agreement_complete,
    can_apply,
    confirmation_deadline,
    confirmation_last_day,
    missing_signatures,
    reminder_due,
)
from youmin.kit.calendar import default_calendar

CST = timezone(timedelta(hours=8))
SIGNED = datetime(2024, 3, 1, 10, 0, tzinfo=CST)
DEADLINE = datetime(2024, 4, 1, 0, 0, tzinfo=CST)
TICK = timedelta(microseconds=1)


def test_the_window_ends_with_the_thirtieth_day_after_signing() -> None:
    assert confirmation_last_day(SIGNED) == date(2024, 3, 31)
    assert confirmation_deadline(SIGNED) == DEADLINE


def test_the_signing_day_does_not_count_whatever_the_hour() -> None:
    assert confirmation_deadline(datetime(2024, 3, 1, 0, 0, tzinfo=CST)) == DEADLINE
    assert confirmation_deadline(datetime(2024, 3, 1, 23, 59, tzinfo=CST)) == DEADLINE


def test_days_are_counted_in_china_standard_time() -> None:
    # 20:00 UTC on 1 March is 04:00 on 2 March in China.
    signed = datetime(2024, 3, 1, 20, 0, tzinfo=timezone.utc)
    assert confirmation_last_day(signed) == date(2024, 4, 1)


def test_the_window_counts_a_leap_day() -> None:
    assert confirmation_last_day(datetime(2024, 2, 1, 9, 0, tzinfo=CST)) == date(2024, 3, 2)
    assert confirmation_last_day(datetime(2023, 2, 1, 9, 0, tzinfo=CST)) == date(2023, 3, 3)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (SIGNED - TICK, False),
        (SIGNED, True),
        (SIGNED + timedelta(days=15), True),
        (DEADLINE - TICK, True),
        (DEADLINE, False),
        (DEADLINE + timedelta(days=1), False),
    ],
)
def test_can_apply_only_inside_the_window(now: datetime, expected: bool) -> None:
    assert can_apply(SIGNED, now) is expected


def test_an_oral_agreement_cannot_be_confirmed() -> None:
    assert can_apply(SIGNED, SIGNED + timedelta(days=1), kind=AgreementKind.ORAL) is False


def test_a_reminder_is_due_at_the_signing_of_a_written_agreement() -> None:
    assert reminder_due(SIGNED, SIGNED, reminded=False) is True


def test_a_reminder_is_sent_only_once() -> None:
    assert reminder_due(SIGNED, SIGNED, reminded=True) is False


def test_a_missed_reminder_is_still_due_while_the_window_is_open() -> None:
    assert reminder_due(SIGNED, DEADLINE - TICK, reminded=False) is True


def test_no_reminder_after_the_window_closes() -> None:
    assert reminder_due(SIGNED, DEADLINE, reminded=False) is False


def test_no_reminder_before_the_agreement_is_signed() -> None:
    assert reminder_due(SIGNED, SIGNED - TICK, reminded=False) is False


def test_no_reminder_for_an_oral_agreement() -> None:
    assert reminder_due(SIGNED, SIGNED, reminded=False, kind=AgreementKind.ORAL) is False


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="agreement_signed_at"):
        confirmation_deadline(datetime(2024, 3, 1, 10, 0))
    with pytest.raises(ValueError, match="now"):
        can_apply(SIGNED, datetime(2024, 3, 2))


def test_a_written_agreement_signed_by_all_parties_and_the_mediator_is_complete() -> None:
    assert agreement_complete(AgreementKind.WRITTEN, ["a", "b"], {"a", "b", "med"}, "med") is True


def test_a_written_agreement_missing_a_party_signature_is_incomplete() -> None:
    assert agreement_complete(AgreementKind.WRITTEN, ["a", "b"], {"a", "med"}, "med") is False
    assert missing_signatures(AgreementKind.WRITTEN, ["a", "b"], {"a", "med"}, "med") == {"b"}


def test_a_written_agreement_missing_the_mediator_signature_is_incomplete() -> None:
    assert agreement_complete(AgreementKind.WRITTEN, ["a", "b"], {"a", "b"}, "med") is False
    assert missing_signatures(AgreementKind.WRITTEN, ["a", "b"], {"a", "b"}, "med") == {"med"}


def test_extra_signatures_do_not_stand_in_for_missing_ones() -> None:
    assert agreement_complete(AgreementKind.WRITTEN, ["a", "b"], {"a", "witness", "med"}, "med") is False


def test_an_oral_agreement_records_every_partys_assent_and_the_mediators() -> None:
    assert agreement_complete(AgreementKind.ORAL, ["a", "b"], set(), "med") is False
    assert agreement_complete(AgreementKind.ORAL, ["a", "b"], {"a", "med"}, "med") is False
    assert agreement_complete(AgreementKind.ORAL, ["a", "b"], {"a", "b", "med"}, "med") is True


def test_an_agreement_without_parties_is_refused() -> None:
    with pytest.raises(ValueError, match="party_ids"):
        agreement_complete(AgreementKind.WRITTEN, [], {"med"}, "med")


def test_an_agreement_without_a_mediator_is_refused() -> None:
    with pytest.raises(ValueError, match="mediator_id"):
        agreement_complete(AgreementKind.WRITTEN, ["a"], {"a"}, "")


def test_a_window_ending_on_a_rest_day_runs_to_the_next_working_day() -> None:
    calendar = default_calendar()
    # The 30th day after 5 September 2026 is 5 October, in the National Day holiday (1-7 October): 8 October.
    signed = datetime(2026, 9, 5, 15, 0, tzinfo=CST)
    assert confirmation_last_day(signed) == date(2026, 10, 5)
    assert confirmation_last_day(signed, calendar) == date(2026, 10, 8)
    assert can_apply(signed, datetime(2026, 10, 8, 23, 59, tzinfo=CST), calendar=calendar)
    assert not can_apply(signed, datetime(2026, 10, 9, 0, 0, tzinfo=CST), calendar=calendar)
    # A Saturday moves to the Monday; a working day stays.
    assert confirmation_last_day(datetime(2026, 10, 29, 9, 0, tzinfo=CST), calendar) == date(2026, 11, 30)
    assert confirmation_last_day(datetime(2026, 10, 30, 9, 0, tzinfo=CST), calendar) == date(2026, 11, 30)
    assert confirmation_last_day(datetime(2026, 10, 27, 9, 0, tzinfo=CST), calendar) == date(2026, 11, 26)
