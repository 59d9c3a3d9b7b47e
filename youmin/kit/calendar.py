"""Working-day calendar: public holidays and make-up workdays (调休), local time Asia/Shanghai."""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

_ONE_DAY = timedelta(days=1)
_LIST_FIELDS = ("holidays", "extra_workdays")


def local_date(moment: datetime) -> date:
    """Returns the Asia/Shanghai calendar date of a tz-aware moment."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(LOCAL_TZ).date()


def start_of_day(day: date) -> datetime:
    """Returns the first moment of a day in Asia/Shanghai."""
    return datetime.combine(day, time.min, tzinfo=LOCAL_TZ)


def end_of_day(day: date) -> datetime:
    """Returns the last moment (23:59:59.999999) of a day in Asia/Shanghai."""
    return datetime.combine(day, time.max, tzinfo=LOCAL_TZ)


def _as_date(value: date) -> date:
    # datetime is a subclass of date; comparing one with a date raises, so reduce it to its local date.
    if isinstance(value, datetime):
        return local_date(value)
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__}")
    return value


@dataclass(frozen=True, repr=False)
class WorkCalendar:
    """Tells working days apart: weekends and public holidays are off, make-up workdays (调休) are on."""

    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        holidays = frozenset(_as_date(d) for d in self.holidays)
        extra_workdays = frozenset(_as_date(d) for d in self.extra_workdays)
        both = sorted(holidays & extra_workdays)
        if both:
            raise ValueError(f"extra_workdays: {both[0].isoformat()} is also listed as a holiday")
        weekdays = sorted(d for d in extra_workdays if d.weekday() < 5)
        if weekdays:
            raise ValueError(
                f"extra_workdays: {weekdays[0].isoformat()} is a weekday already, not a make-up workday"
            )
        # Callers may pass plain sets; keep frozen copies so the calendar stays hashable and unchanged.
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "extra_workdays", extra_workdays)

    def __repr__(self) -> str:
        return f"WorkCalendar({len(self.holidays)} holidays, {len(self.extra_workdays)} extra workdays)"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> WorkCalendar:
        """Builds a calendar from {"holidays": [iso dates], "extra_workdays": [iso dates]}; "_" keys are notes."""
        if not isinstance(data, Mapping):
            raise ValueError(f"calendar must be a mapping, got {type(data).__name__}")
        for key in data:
            if not isinstance(key, str) or (key not in _LIST_FIELDS and not key.startswith("_")):
                raise ValueError(f"{key}: unknown calendar field (expected holidays, extra_workdays)")
        parsed: dict[str, list[date]] = {}
        for field in _LIST_FIELDS:
            if field not in data:
                raise ValueError(f"{field}: required")
            values = data[field]
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                raise ValueError(f"{field}: must be a list of ISO dates")
            days: list[date] = []
            for index, value in enumerate(values):
                day = _parse_iso_date(value, f"{field}[{index}]")
                if day in days:
                    raise ValueError(f"{field}[{index}]: {day.isoformat()} is listed twice")
                days.append(day)
            parsed[field] = days
        return cls(parsed["holidays"], parsed["extra_workdays"])

    @property
    def years(self) -> frozenset[int]:
        """The years whose public holidays the calendar lists; of any other year it knows only the weekends."""
        return frozenset(day.year for day in self.holidays)

    def missing_years(self, start: date, end: date) -> list[int]:
        """Returns the years from start's to end's (inclusive) whose holidays the calendar does not list."""
        return [year for year in range(_as_date(start).year, _as_date(end).year + 1) if year not in self.years]

    def is_workday(self, day: date) -> bool:
        """Tells whether a day is a working day."""
        day = _as_date(day)
        if day in self.extra_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def next_workday(self, day: date) -> date:
        """Returns the first working day strictly after a day."""
        day = _as_date(day) + _ONE_DAY
        while not self.is_workday(day):
            day += _ONE_DAY
        return day

    def previous_workday(self, day: date) -> date:
        """Returns the last working day strictly before a day."""
        day = _as_date(day) - _ONE_DAY
        while not self.is_workday(day):
            day -= _ONE_DAY
        return day

    def add_workdays(self, start: datetime, n: int) -> datetime:
        """Returns the end (23:59:59.999999 local) of the nth working day after the start's local day."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a whole number of working days >= 1, got {n!r}")
        day = local_date(start)
        for _ in range(n):
            day = self.next_workday(day)
        return end_of_day(day)

    def workdays_between(self, a: date, b: date) -> int:
        """Counts working days after a up to and including b (negative when b is before a)."""
        a, b = _as_date(a), _as_date(b)
        if b < a:
            return -self.workdays_between(b, a)
        count = 0
        day = a + _ONE_DAY
        while day <= b:
            count += self.is_workday(day)
            day += _ONE_DAY
        return count


def _parse_iso_date(value: object, field: str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{field}: expected a date, got a datetime")
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected an ISO date string, got {type(value).__name__}")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        parsed = None
    # fromisoformat also reads "20260101"; the file format is the dashed form only.
    if parsed is None or len(value) != 10:
        raise ValueError(f"{field}: {value!r} is not an ISO date (YYYY-MM-DD)")
    return parsed


@lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    """Returns mainland China's calendar from the shipped holidays_cn.json."""
    text = resources.files("youmin.kit.data").joinpath("holidays_cn.json").read_text(encoding="utf-8")
    return WorkCalendar.from_mapping(json.loads(text))


@lru_cache(maxsize=4)
def configured_calendar(path: str | None) -> WorkCalendar:
    """The working-day calendar of a JSON file ({"holidays": [...], "extra_workdays": [...]}), else the shipped one;
    read once (the services ask for it with every request that counts working days)."""
    if path is None:
        return default_calendar()
    return WorkCalendar.from_mapping(json.loads(Path(path).read_text(encoding="utf-8")))


def usable_calendar_path(value: str | None) -> str | None:
    """Checks, for a setting, that a calendar file can be used (read when the service starts: a calendar it cannot
    use stops the start, where it would fail every request that counts working days)."""
    if value is not None:
        try:
            configured_calendar(value)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"the working-day calendar {value} cannot be used: {exc}") from None
    return value


# The State Council publishes a year's holidays and make-up workdays (调休) in November or December of the year before:
# from 45 days ahead, a year a calendar does not list is reported, while there is time to add it.
CALENDAR_LOOKAHEAD = timedelta(days=45)


def report_missing_years(calendar: WorkCalendar, now: datetime, reported: set[int], *, gauge: Any, log: Any,
                         event: str, setting: str) -> list[int]:
    """Reports the years from today to CALENDAR_LOOKAHEAD ahead whose holidays the calendar does not list (their
    holidays would count as working days): `gauge` set each time, a warning `event` once per year, recorded in
    `reported`; `setting` names where an operator adds them. Returns the missing years."""
    today = local_date(now)
    missing = calendar.missing_years(today, today + CALENDAR_LOOKAHEAD)
    gauge.set(len(missing))
    for year in missing:
        if year not in reported:
            log.warning(event, year=year, hint=f"add the year's holidays and make-up workdays ({setting}, see the "
                                               "README); until then they count as working days")
            reported.add(year)
    return missing
