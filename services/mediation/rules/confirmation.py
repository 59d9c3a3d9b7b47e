"""Judicial confirmation (司法确认) of mediation agreements: the 30-day window and complete signatures.

People's Mediation Law arts. 28-29 and 33; Civil Procedure Law art. 205. Parties may jointly apply to the
court for confirmation within 30 days of a written agreement taking effect. Only written agreements
(调解协议书) can be confirmed; an oral agreement (口头调解协议) is recorded by the mediator and has no
confirmation.

Day counting follows the Civil Procedure Law (art. 85): the day of signing is not counted, and the window
ends at the end of the 30th day in China Standard Time. So an agreement signed at any time on 1 March may
be brought to court until the end of 31 March. A last day that is a rest day (a weekend or public holiday)
moves to the next working day; given the working-day calendar (youmin.kit.calendar, with its make-up
working days), the functions below apply that, and without one they count calendar days only.
"""

from collections.abc import Collection
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum

from youmin.kit.calendar import WorkCalendar

CONFIRMATION_WINDOW_DAYS = 30
# China has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


class AgreementKind(StrEnum):
    """The form of a mediation agreement."""

    WRITTEN = "written"  # 书面调解协议
    ORAL = "oral"  # 口头调解协议


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def confirmation_last_day(agreement_signed_at: datetime, calendar: WorkCalendar | None = None) -> date:
    """Returns the last day (China Standard Time) on which confirmation may be applied for: the 30th after
    signing, or the working day after it when that is a rest day in `calendar`."""
    _require_aware("agreement_signed_at", agreement_signed_at)
    signed_on = agreement_signed_at.astimezone(CHINA_STANDARD_TIME).date()
    last_day = signed_on + timedelta(days=CONFIRMATION_WINDOW_DAYS)
    if calendar is not None and not calendar.is_workday(last_day):
        last_day = calendar.next_workday(last_day)
    return last_day


def confirmation_deadline(agreement_signed_at: datetime, calendar: WorkCalendar | None = None) -> datetime:
    """Returns the first instant at which an application for confirmation is too late."""
    last_day = confirmation_last_day(agreement_signed_at, calendar)
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=CHINA_STANDARD_TIME)


def can_apply(
    agreement_signed_at: datetime,
    now: datetime,
    *,
    kind: AgreementKind = AgreementKind.WRITTEN,
    calendar: WorkCalendar | None = None,
) -> bool:
    """Tells whether the parties may still jointly apply for judicial confirmation at `now`."""
    _require_aware("now", now)
    if AgreementKind(kind) is AgreementKind.ORAL:
        return False
    return agreement_signed_at <= now < confirmation_deadline(agreement_signed_at, calendar)


def reminder_due(
    agreement_signed_at: datetime,
    now: datetime,
    reminded: bool,
    *,
    kind: AgreementKind = AgreementKind.WRITTEN,
    calendar: WorkCalendar | None = None,
) -> bool:
    """Tells whether the parties should now be reminded that they may apply for confirmation."""
    # Due from the moment a written agreement is signed, once, while the window is still open.
    return not reminded and can_apply(agreement_signed_at, now, kind=kind, calendar=calendar)


def missing_signatures(
    kind: AgreementKind,
    party_ids: Collection[str],
    signatures: Collection[str],
    mediator_id: str,
) -> frozenset[str]:
    """Returns the ids of the parties and the mediator who have yet to sign a written agreement, or to assent to an oral
    one: an agreement, written or oral, records every party's signature or assent and the mediator's (an oral one
    takes effect when the parties reach it, and the mediator records it: People's Mediation Law art. 30)."""
    if not party_ids:
        raise ValueError("party_ids: an agreement has at least one party")
    if not mediator_id:
        raise ValueError("mediator_id: an agreement names its mediator")
    AgreementKind(kind)
    required = frozenset(party_ids) | {mediator_id}
    return required - frozenset(signatures)


def agreement_complete(
    kind: AgreementKind,
    party_ids: Collection[str],
    signatures: Collection[str],
    mediator_id: str,
) -> bool:
    """Tells whether an agreement carries every signature it needs (all parties and the mediator)."""
    return not missing_signatures(kind, party_ids, signatures, mediator_id)
