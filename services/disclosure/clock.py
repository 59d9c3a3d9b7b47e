"""The service's clock: real time, or a fixed instant tests and drills set."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """Returns now; `set()` freezes it (tests drive deadlines with it), `set(None)` goes back to real time."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self._fixed or datetime.now(UTC)

    def set(self, at: datetime | None) -> None:
        """Freezes the clock at an aware instant, or releases it."""
        if at is not None and at.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware instant")
        self._fixed = at
