"""The mediation service's settings: its working-day calendar (configuration, as the matters service's is), and
the route of a case at the ladder's end."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from pydantic import ValidationError

from services.mediation.app import create_app
from services.mediation.rules.confirmation import CHINA_STANDARD_TIME, confirmation_last_day
from services.mediation.settings import Settings


def test_a_calendar_file_sets_the_confirmation_windows_rest_days(tmp_path) -> None:
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps({"holidays": ["2027-01-01"], "extra_workdays": []}), encoding="utf-8")
    app = create_app(Settings(calendar_path=str(path)))
    calendar = app.state.mediation.calendar
    signed = datetime(2026, 12, 2, 10, tzinfo=CHINA_STANDARD_TIME)
    # The 30th day is New Year's Day, a Friday: the window runs to Monday 4 January.
    assert confirmation_last_day(signed, calendar) == date(2027, 1, 4)


def test_a_calendar_file_that_cannot_be_used_stops_the_start(tmp_path) -> None:
    with pytest.raises(ValidationError, match="calendar_path"):
        Settings(calendar_path=str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValidationError, match="cannot be used"):
        Settings(calendar_path=str(broken))


def test_enforcement_is_no_route_for_a_case_at_the_ladders_end() -> None:
    with pytest.raises(ValidationError, match="enforcement"):
        Settings(auto_referral_route="enforcement")
    assert Settings(auto_referral_route="arbitration").auto_referral_route == "arbitration"
