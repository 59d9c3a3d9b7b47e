"""Department work-order deadlines (Shandong 12345 practice) and the yellow/red warnings on any deadline."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from youmin.kit.calendar import WorkCalendar, local_date, start_of_day


class DeadlineRuleError(Exception):
    """Raised when a work-order rule refuses a request; carries the rule's name."""

    def __init__(self, rule: str, detail: str) -> None:
        self.rule = rule
        self.detail = detail
        super().__init__(f"{rule}: {detail}")


@dataclass(frozen=True)
class WorkOrderPolicy:
    """The working-day limits of a department work order."""

    answer_workdays: int = 5
    max_extensions: int = 1
    max_extension_workdays: int = 10
    sendback_workdays: int = 2

    def __post_init__(self) -> None:
        minimums = {"answer_workdays": 1, "max_extensions": 0, "max_extension_workdays": 1, "sendback_workdays": 1}
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name}: must be a whole number >= {minimum}, got {value!r}")


SHANDONG_12345 = WorkOrderPolicy()


@dataclass(frozen=True)
class WorkOrderDeadline:
    """When a dispatched work order must be answered, and the extensions it has used."""

    dispatched_at: datetime
    due_at: datetime
    extensions_used: int = 0
    extended_workdays: int = 0


class WarningLevel(StrEnum):
    """How close a deadline is."""

    NONE = "none"
    YELLOW = "yellow"  # the last working day before the deadline day has begun
    RED = "red"  # overdue


def _aware(name: str, moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name}: expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name}: must be timezone-aware")
    return moment


def open_work_order(
    dispatched_at: datetime, calendar: WorkCalendar, policy: WorkOrderPolicy = SHANDONG_12345
) -> WorkOrderDeadline:
    """Returns the answer deadline of an order: the end of the 5th working day after dispatch."""
    _aware("dispatched_at", dispatched_at)
    return WorkOrderDeadline(
        dispatched_at=dispatched_at, due_at=calendar.add_workdays(dispatched_at, policy.answer_workdays)
    )


def extend(
    order: WorkOrderDeadline,
    workdays: int,
    now: datetime,
    calendar: WorkCalendar,
    policy: WorkOrderPolicy = SHANDONG_12345,
) -> WorkOrderDeadline:
    """Moves the deadline on by up to 10 working days, once, if asked before it passes."""
    _aware("now", now)
    if order.extensions_used >= policy.max_extensions:
        raise DeadlineRuleError(
            "workorder.extension_already_used",
            f"a work order may be extended {policy.max_extensions} time(s); this one already was",
        )
    if isinstance(workdays, bool) or not isinstance(workdays, int) or workdays < 1:
        raise DeadlineRuleError(
            "workorder.extension_invalid", f"extend by 1 or more working days, not {workdays!r}"
        )
    if workdays > policy.max_extension_workdays:
        raise DeadlineRuleError(
            "workorder.extension_too_long",
            f"an extension is at most {policy.max_extension_workdays} working days, {workdays} asked",
        )
    if now > order.due_at:
        raise DeadlineRuleError("workorder.extension_after_due", "an extension must be asked before the deadline")
    return replace(
        order,
        due_at=calendar.add_workdays(order.due_at, workdays),
        extensions_used=order.extensions_used + 1,
        extended_workdays=order.extended_workdays + workdays,
    )


def sendback_deadline(
    dispatched_at: datetime, calendar: WorkCalendar, policy: WorkOrderPolicy = SHANDONG_12345
) -> datetime:
    """Returns the last moment a misrouted order may be sent back: the end of the 2nd working day."""
    return calendar.add_workdays(_aware("dispatched_at", dispatched_at), policy.sendback_workdays)


def check_sendback(
    dispatched_at: datetime, now: datetime, calendar: WorkCalendar, policy: WorkOrderPolicy = SHANDONG_12345
) -> None:
    """Refuses a send-back after the window of 2 working days from dispatch."""
    closes_at = sendback_deadline(dispatched_at, calendar, policy)
    if _aware("now", now) > closes_at:
        raise DeadlineRuleError(
            "workorder.sendback_window_closed",
            f"a misrouted order can be sent back within {policy.sendback_workdays} working days "
            f"of dispatch (until {closes_at.isoformat()})",
        )


def warning_level(due_at: datetime, now: datetime, calendar: WorkCalendar) -> WarningLevel:
    """Returns red once overdue, yellow from the start of the working day before the deadline day."""
    _aware("due_at", due_at)
    _aware("now", now)
    if now > due_at:
        return WarningLevel.RED
    yellow_from = start_of_day(calendar.previous_workday(local_date(due_at)))
    return WarningLevel.YELLOW if now >= yellow_from else WarningLevel.NONE
