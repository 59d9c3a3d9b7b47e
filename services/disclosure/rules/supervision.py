"""Residents' supervision of disclosures: the objection window and the answer deadline.

Residents may question or object to a disclosed item within 5 days of its posting; staff answer
within 5 days of the question. Days are calendar days with Asia/Shanghai day boundaries, counted
as in cadence: the day of posting (or asking) is not counted and the window ends at 24:00 of its
last day, so a question asked on 1 March is due by the end of 6 March. All datetimes must be
timezone-aware; a deadline is returned as the exclusive instant the window ends (7 March 00:00
+08:00 above), and anything at or after it is late.
"""

from __future__ import annotations

from datetime import datetime

from services.disclosure.rules.cadence import end_of_days, require_aware

__all__ = [
    "ANSWER_DAYS",
    "OBJECTION_DAYS",
    "answer_due_at",
    "is_answer_overdue",
    "objection_window_closes_at",
    "objection_window_open",
]

OBJECTION_DAYS = 5
ANSWER_DAYS = 5


def objection_window_closes_at(posted_at: datetime, days: int = OBJECTION_DAYS) -> datetime:
    """Returns the instant residents can no longer object to an item posted at posted_at."""
    return end_of_days(posted_at, days)


def objection_window_open(posted_at: datetime, now: datetime, days: int = OBJECTION_DAYS) -> bool:
    """Tells whether residents may still raise a question or objection about an item."""
    closes_at = objection_window_closes_at(posted_at, days)
    require_aware(now, "now")
    return posted_at <= now < closes_at


def answer_due_at(asked_at: datetime, days: int = ANSWER_DAYS) -> datetime:
    """Returns the instant by which staff must have answered a question asked at asked_at."""
    return end_of_days(asked_at, days)


def is_answer_overdue(
    asked_at: datetime, answered_at: datetime | None, now: datetime, days: int = ANSWER_DAYS
) -> bool:
    """Tells whether a question was answered late, or is unanswered past its due instant."""
    due = answer_due_at(asked_at, days)
    if answered_at is not None:
        require_aware(answered_at, "answered_at")
        return answered_at >= due
    require_aware(now, "now")
    return now >= due
