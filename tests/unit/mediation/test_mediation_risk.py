"""Flagging disputes likely to turn violent for the police."""

import pytest

from services.mediation.rules.risk import RiskIndicator, RiskLevel, needs_police_flag, police_flag_reasons


def test_high_risk_is_flagged() -> None:
    assert needs_police_flag(RiskLevel.HIGH) is True


@pytest.mark.parametrize("level", [RiskLevel.LOW, RiskLevel.MEDIUM, None])
def test_lower_risk_without_indicators_is_not_flagged(level: RiskLevel | None) -> None:
    assert needs_police_flag(level) is False


@pytest.mark.parametrize("indicator", list(RiskIndicator))
def test_any_sign_of_violence_is_flagged_even_at_low_risk(indicator: RiskIndicator) -> None:
    assert needs_police_flag(RiskLevel.LOW, [indicator]) is True


def test_indicators_alone_are_enough() -> None:
    assert needs_police_flag(indicators=["weapon"]) is True


def test_the_reasons_name_the_level_and_each_indicator_once() -> None:
    reasons = police_flag_reasons("high", ["threat", RiskIndicator.PRIOR_VIOLENCE, "threat"])
    assert reasons == ("risk_level:high", "indicator:threat", "indicator:prior_violence")


def test_no_reasons_when_nothing_points_to_violence() -> None:
    assert police_flag_reasons(RiskLevel.MEDIUM, []) == ()


@pytest.mark.parametrize(("level", "indicators"), [("extreme", []), (None, ["loud"])])
def test_unknown_values_are_refused(level: str | None, indicators: list[str]) -> None:
    with pytest.raises(ValueError):
        needs_police_flag(level, indicators)
