"""Mediation statistics over plain case records, for the public and for staff.

A period is half-open, [period_start, period_end). Its figures describe the cases opened in it (the
cohort): a case counts as resolved if its agreement was reached before period_end, so the figures of a
past period do not change as time goes on. Escalations, referrals and terminations carry no times in the
records and are counted as the records stand. Every level and every dispute type is always present, with
zeros, so the shape of the result never changes.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType

from services.mediation.rules.confirmation import CHINA_STANDARD_TIME
from services.mediation.rules.ladder import LADDER, CaseStatus, Level


class DisputeType(StrEnum):
    """The kind of dispute, as reported in mediation statistics."""

    FAMILY = "family"
    NEIGHBOUR = "neighbour"
    PROPERTY_MANAGEMENT = "property_management"
    LABOUR = "labour"
    LAND_EXPROPRIATION = "land_expropriation"
    CONTRACT = "contract"
    OTHER = "other"


DISPUTE_TYPE_NAMES: Mapping[DisputeType, str] = MappingProxyType(
    {
        DisputeType.FAMILY: "婚姻家庭",
        DisputeType.NEIGHBOUR: "邻里",
        DisputeType.PROPERTY_MANAGEMENT: "物业",
        DisputeType.LABOUR: "劳动",
        DisputeType.LAND_EXPROPRIATION: "征地拆迁",
        DisputeType.CONTRACT: "合同",
        DisputeType.OTHER: "其他",
    }
)

SECONDS_PER_DAY = 86_400


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True)
class CaseRecord:
    """The facts about one case that statistics need; no personal data."""

    opened_at: datetime
    dispute_type: DisputeType
    status: CaseStatus
    resolved_at: datetime | None = None
    resolved_level: Level | None = None
    escalations: int = 0
    referred: bool = False

    def __post_init__(self) -> None:
        _require_aware("opened_at", self.opened_at)
        if (self.resolved_at is None) != (self.resolved_level is None):
            raise ValueError("resolved_level: must be given exactly when resolved_at is")
        if self.resolved_at is not None:
            _require_aware("resolved_at", self.resolved_at)
            if self.resolved_at < self.opened_at:
                raise ValueError("resolved_at: must not be before opened_at")
        if self.escalations < 0:
            raise ValueError("escalations: must not be negative")


@dataclass(frozen=True)
class Figures:
    """Counts and rates for one group of cases."""

    opened: int
    resolved: int
    resolved_by_level: Mapping[Level, int]
    resolution_rate: float | None  # resolved / opened, 4 decimals; None with nothing opened
    median_days_to_resolve: float | None  # 2 decimals; None with nothing resolved
    escalations: int
    referrals: int
    terminated: int  # a party refused mediation


@dataclass(frozen=True)
class Stats(Figures):
    """Figures for a period, overall and by dispute type."""

    period_start: datetime
    period_end: datetime
    by_type: Mapping[DisputeType, Figures]


@dataclass(frozen=True)
class FigureDeltas:
    """Current minus previous, field by field; None where either side has no value."""

    opened: int
    resolved: int
    resolved_by_level: Mapping[Level, int]
    resolution_rate: float | None
    median_days_to_resolve: float | None
    escalations: int
    referrals: int
    terminated: int


@dataclass(frozen=True)
class Deltas(FigureDeltas):
    """The change from one period to another, overall and by dispute type."""

    by_type: Mapping[DisputeType, FigureDeltas]


def _check_period(period_start: datetime, period_end: datetime) -> None:
    _require_aware("period_start", period_start)
    _require_aware("period_end", period_end)
    if period_end <= period_start:
        raise ValueError("period_end: must be after period_start")


def previous_period(period_start: datetime, period_end: datetime) -> tuple[datetime, datetime]:
    """Returns the period that ends where this one starts and is as long: as many whole months (China Standard Time)
    for a period of whole months, else as long a time.

    A month's previous period is the month before, whatever their lengths: with the same number of days, the previous
    period of May (31 days) would begin on 31 March, and told apart from April's figures it would count 31 March alone.
    """
    _check_period(period_start, period_end)
    try:
        # The bounds are queried in UTC, so each must exist in UTC too.
        months = _whole_months(period_start, period_end)
        if months:
            local = period_start.astimezone(CHINA_STANDARD_TIME)
            first = local.year * 12 + local.month - 1 - months
            if first < 12:
                raise OverflowError
            previous_start = local.replace(year=first // 12, month=first % 12 + 1)
        else:
            previous_start = period_start - (period_end - period_start)
        for bound in (previous_start, period_end):
            bound.astimezone(UTC)
    except OverflowError:
        raise ValueError("period_start: the period and the one before it must lie within the years 1 to 9999") from None
    return previous_start, period_start


def _whole_months(period_start: datetime, period_end: datetime) -> int:
    """The number of months from one first-of-the-month midnight (China Standard Time) to another; 0 if either bound is
    not one."""
    bounds = [bound.astimezone(CHINA_STANDARD_TIME) for bound in (period_start, period_end)]
    if any(b.day != 1 or (b.hour, b.minute, b.second, b.microsecond) != (0, 0, 0, 0) for b in bounds):
        return 0
    start, end = bounds
    return (end.year - start.year) * 12 + end.month - start.month


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _figures(cohort: list[CaseRecord], period_end: datetime) -> Figures:
    resolved = [c for c in cohort if c.resolved_at is not None and c.resolved_at < period_end]
    by_level = {level: 0 for level in LADDER}
    for case in resolved:
        by_level[Level(case.resolved_level)] += 1  # type: ignore[arg-type]
    days = [
        (case.resolved_at - case.opened_at).total_seconds() / SECONDS_PER_DAY  # type: ignore[operator]
        for case in resolved
    ]
    return Figures(
        opened=len(cohort),
        resolved=len(resolved),
        resolved_by_level=MappingProxyType(by_level),
        resolution_rate=round(len(resolved) / len(cohort), 4) if cohort else None,
        median_days_to_resolve=round(_median(days), 2) if days else None,
        escalations=sum(c.escalations for c in cohort),
        referrals=sum(1 for c in cohort if c.referred),
        terminated=sum(1 for c in cohort if CaseStatus(c.status) is CaseStatus.TERMINATED),
    )


def compute(cases: Iterable[CaseRecord], period_start: datetime, period_end: datetime) -> Stats:
    """Computes the figures for the cases opened in [period_start, period_end)."""
    _check_period(period_start, period_end)
    cohort = [c for c in cases if period_start <= c.opened_at < period_end]
    overall = _figures(cohort, period_end)
    by_type = {
        kind: _figures([c for c in cohort if DisputeType(c.dispute_type) is kind], period_end)
        for kind in DisputeType
    }
    return Stats(
        **{name: getattr(overall, name) for name in Figures.__dataclass_fields__},
        period_start=period_start,
        period_end=period_end,
        by_type=MappingProxyType(by_type),
    )


def _difference(current: float | None, previous: float | None, digits: int) -> float | None:
    if current is None or previous is None:
        return None
    return round(current - previous, digits)


def _figure_deltas(current: Figures, previous: Figures) -> FigureDeltas:
    return FigureDeltas(
        opened=current.opened - previous.opened,
        resolved=current.resolved - previous.resolved,
        resolved_by_level=MappingProxyType(
            {level: current.resolved_by_level[level] - previous.resolved_by_level[level] for level in LADDER}
        ),
        resolution_rate=_difference(current.resolution_rate, previous.resolution_rate, 4),
        median_days_to_resolve=_difference(current.median_days_to_resolve, previous.median_days_to_resolve, 2),
        escalations=current.escalations - previous.escalations,
        referrals=current.referrals - previous.referrals,
        terminated=current.terminated - previous.terminated,
    )


def compare(current: Stats, previous: Stats) -> Deltas:
    """Returns how the current period's figures changed from the previous period's."""
    overall = _figure_deltas(current, previous)
    by_type = {kind: _figure_deltas(current.by_type[kind], previous.by_type[kind]) for kind in DisputeType}
    return Deltas(
        **{name: getattr(overall, name) for name in FigureDeltas.__dataclass_fields__},
        by_type=MappingProxyType(by_type),
    )
