"""三务公开 cadence: how often each kind of affairs is disclosed and how long an item stays up.

Day boundaries are those of Asia/Shanghai (China has one civil time and no daylight saving), so a
post at 23:30 Beijing time belongs to that day whatever the server's clock says. Periods counted
in days are calendar days as the Civil Code counts them: the day of the event is not counted
(Art. 201) and the period ends at 24:00 of its last day (Art. 203). An item posted on 1 March and
shown "at least 5 days" stays up through 6 March and may come down from 7 March 00:00.

Routine rule: each calendar period (a quarter for party and residents' affairs, a month for
finances) must contain at least one post. A kind is overdue once a whole period has passed with
no post and the current period has none yet, i.e. when its last post is older than the start of
the previous period. It is flagged on the first day after the empty period and cleared by the
next post.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_CADENCE_POLICY",
    "SHANGHAI",
    "CadencePolicy",
    "ComplianceReport",
    "DisclosureKind",
    "Period",
    "can_withdraw",
    "compliance_report",
    "earliest_withdrawal",
    "end_of_days",
    "is_major_item_late",
    "is_overdue",
    "local_date",
    "major_event_at",
    "major_item_due_at",
    "overdue_kinds",
    "period_start",
    "previous_period_start",
    "require_aware",
    "start_of_day",
]


def _shanghai() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:  # no tz database (e.g. Windows without tzdata): UTC+8 is exact
        return timezone(timedelta(hours=8), "Asia/Shanghai")


SHANGHAI: tzinfo = _shanghai()
# The years the board holds: one outside them is a typing error (and year 1 in Shanghai is before year 1 in UTC).
MIN_YEAR, MAX_YEAR = 1949, 9998


class DisclosureKind(StrEnum):
    """A kind of affairs disclosed under 三务公开."""

    PARTY = "party"  # 党务
    RESIDENTS = "residents"  # 居务
    FINANCE = "finance"  # 财务


class Period(StrEnum):
    """A calendar period a routine disclosure must fall in."""

    MONTH = "month"
    QUARTER = "quarter"


def _default_periods() -> dict[DisclosureKind, Period]:
    return {
        DisclosureKind.PARTY: Period.QUARTER,
        DisclosureKind.RESIDENTS: Period.QUARTER,
        DisclosureKind.FINANCE: Period.MONTH,
    }


@dataclass(frozen=True)
class CadencePolicy:
    """Disclosure cadence: the period of each kind, the grace for major items, the minimum display."""

    periods: Mapping[DisclosureKind, Period] = field(default_factory=_default_periods)
    major_grace_days: int = 1
    min_display_days: int = 5

    def __post_init__(self) -> None:
        missing = [k.value for k in DisclosureKind if k not in self.periods]
        if missing:
            raise ValueError(f"periods: no period for {missing[0]!r}")
        for name in ("major_grace_days", "min_display_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")


DEFAULT_CADENCE_POLICY = CadencePolicy()


# ---------------------------------------------------------------------------------------------
# Calendar helpers (Asia/Shanghai days)


def require_aware(at: datetime, name: str) -> None:
    """Raises ValueError when a datetime has no timezone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def local_date(at: datetime) -> date:
    """Returns the Asia/Shanghai calendar date of an instant."""
    require_aware(at, "at")
    return at.astimezone(SHANGHAI).date()


def start_of_day(day: date) -> datetime:
    """Returns 00:00 Asia/Shanghai of a date."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def end_of_days(at: datetime, days: int) -> datetime:
    """Returns the instant a period of `days` calendar days from `at` ends (the day of `at` not counted)."""
    return start_of_day(local_date(at) + timedelta(days=days + 1))


def _as_day(value: date | datetime) -> date:
    return local_date(value) if isinstance(value, datetime) else value


def period_start(day: date, period: Period) -> date:
    """Returns the first day of the calendar month or quarter containing a date."""
    if Period(period) is Period.MONTH:
        return day.replace(day=1)
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def previous_period_start(day: date, period: Period) -> date:
    """Returns the first day of the calendar period before the one containing a date."""
    return period_start(period_start(day, period) - timedelta(days=1), period)


# ---------------------------------------------------------------------------------------------
# Display and major items


def earliest_withdrawal(posted_at: datetime, policy: CadencePolicy = DEFAULT_CADENCE_POLICY) -> datetime:
    """Returns the first instant an item posted at posted_at may be taken down."""
    return end_of_days(posted_at, policy.min_display_days)


def can_withdraw(posted_at: datetime, now: datetime, policy: CadencePolicy = DEFAULT_CADENCE_POLICY) -> bool:
    """Tells whether an item has been up long enough to be taken down."""
    require_aware(now, "now")
    return now >= earliest_withdrawal(posted_at, policy)


def major_event_at(content: Any) -> datetime | None:
    """Returns when the matter behind a major item happened, as far as the item's content says.

    Items built from events carry the event's instant (`event_at`, ISO 8601 with offset); staff's
    minutes carry the day the meeting was held (`held_on`), counted from 00:00 of that day. An item
    with neither (a statement or notice whose posting is the event itself) is disclosed at once by
    construction and is never late.
    """
    if not isinstance(content, Mapping):
        return None
    if content.get("event_at"):
        event_at = datetime.fromisoformat(str(content["event_at"]).replace("Z", "+00:00"))
        require_aware(event_at, "event_at")
        return event_at
    if content.get("held_on"):
        return start_of_day(date.fromisoformat(str(content["held_on"])))
    return None


def major_item_due_at(event_at: datetime, policy: CadencePolicy = DEFAULT_CADENCE_POLICY) -> datetime:
    """Returns the instant by which a major item must be disclosed ("at once": within the grace days)."""
    return end_of_days(event_at, policy.major_grace_days)


def is_major_item_late(
    event_at: datetime,
    posted_at: datetime | None,
    now: datetime,
    policy: CadencePolicy = DEFAULT_CADENCE_POLICY,
) -> bool:
    """Tells whether a major item was (or, unposted, is now) disclosed after its due instant."""
    due = major_item_due_at(event_at, policy)
    if posted_at is not None:
        require_aware(posted_at, "posted_at")
        return posted_at >= due
    require_aware(now, "now")
    return now >= due


# ---------------------------------------------------------------------------------------------
# Routine cadence


def is_overdue(
    kind: DisclosureKind | str,
    last_posted_on: date | datetime | None,
    today: date,
    policy: CadencePolicy = DEFAULT_CADENCE_POLICY,
) -> bool:
    """Tells whether a kind has had no post since the start of the previous period (or never)."""
    period = policy.periods[DisclosureKind(kind)]
    if last_posted_on is None:
        return True
    return _as_day(last_posted_on) < previous_period_start(_as_day(today), period)


def overdue_kinds(
    last_posted_by_kind: Mapping[DisclosureKind | str, date | datetime | None],
    today: date,
    policy: CadencePolicy = DEFAULT_CADENCE_POLICY,
) -> list[DisclosureKind]:
    """Returns the overdue kinds in DisclosureKind order; a kind missing from the mapping was never posted."""
    last = {DisclosureKind(k): v for k, v in last_posted_by_kind.items()}
    return [k for k in DisclosureKind if is_overdue(k, last.get(k), today, policy)]


@dataclass(frozen=True)
class ComplianceReport:
    """The communities behind on their disclosures on a date, and those up to date."""

    as_of: date
    overdue: dict[str, list[DisclosureKind]]
    compliant: list[str]

    @property
    def compliance_rate(self) -> float:
        """Returns the share of communities with nothing overdue (1.0 when there are none)."""
        total = len(self.overdue) + len(self.compliant)
        return len(self.compliant) / total if total else 1.0


def compliance_report(
    communities: Mapping[str, Mapping[DisclosureKind | str, date | datetime | None]],
    today: date,
    policy: CadencePolicy = DEFAULT_CADENCE_POLICY,
) -> ComplianceReport:
    """Reports, per community code, the kinds overdue on a date."""
    today = _as_day(today)
    overdue: dict[str, list[DisclosureKind]] = {}
    compliant: list[str] = []
    for code in sorted(communities):
        kinds = overdue_kinds(communities[code], today, policy)
        if kinds:
            overdue[code] = kinds
        else:
            compliant.append(code)
    return ComplianceReport(as_of=today, overdue=overdue, compliant=compliant)
