"""The mediation ladder: levels, time-limit configuration, deadlines, warnings and escalation."""

from datetime import datetime, timedelta, timezone

import pytest

from services.mediation.rules.ladder import (
    DEFAULT_CONFIG,
    LADDER,
    LadderConfig,
    LadderRuleError,
    LegalRoute,
    LEGAL_ROUTE_NAMES,
    Level,
    WarningLevel,
    escalate,
    level_deadline,
    next_level,
    route_for,
    route_refusal,
    warning,
)

CST = timezone(timedelta(hours=8))
ENTERED = datetime(2024, 5, 1, 9, 0, tzinfo=CST)
TICK = timedelta(microseconds=1)


def test_ladder_runs_grid_community_street_district() -> None:
    assert LADDER == (Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT)
    assert [level.rank for level in LADDER] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (Level.GRID, Level.COMMUNITY),
        (Level.COMMUNITY, Level.STREET),
        (Level.STREET, Level.DISTRICT),
        (Level.DISTRICT, None),
    ],
)
def test_next_level_climbs_one_rung_and_stops_at_district(level: Level, expected: Level | None) -> None:
    assert next_level(level) == expected


def test_next_level_accepts_the_plain_string_value() -> None:
    assert next_level("street") is Level.DISTRICT  # type: ignore[arg-type]


def test_legal_routes_are_the_four_and_enforcement_with_chinese_names() -> None:
    assert {route.value for route in LegalRoute} == {
        "litigation",
        "arbitration",
        "administrative_reconsideration",
        "petition",
        "enforcement",
    }
    assert LEGAL_ROUTE_NAMES == {
        LegalRoute.LITIGATION: "诉讼",
        LegalRoute.ARBITRATION: "仲裁",
        LegalRoute.ADMINISTRATIVE_RECONSIDERATION: "行政复议",
        LegalRoute.PETITION: "信访",
        LegalRoute.ENFORCEMENT: "申请强制执行",
    }


def test_a_route_is_open_as_the_law_says() -> None:
    assert route_refusal("labour", LegalRoute.LITIGATION, confirmed=False) is not None
    assert route_refusal("labour", LegalRoute.ARBITRATION, confirmed=False) is None
    assert route_refusal("neighbour", LegalRoute.LITIGATION, confirmed=False) is None
    assert route_refusal("neighbour", LegalRoute.ENFORCEMENT, confirmed=False) is not None
    assert route_refusal("neighbour", LegalRoute.LITIGATION, confirmed=True) is not None
    assert route_refusal("labour", LegalRoute.ENFORCEMENT, confirmed=True) is None
    assert route_for("labour", confirmed=False, default=LegalRoute.LITIGATION) is LegalRoute.ARBITRATION
    assert route_for("family", confirmed=False, default=LegalRoute.PETITION) is LegalRoute.PETITION
    assert route_for("family", confirmed=True, default=LegalRoute.LITIGATION) is LegalRoute.ENFORCEMENT


def test_default_time_limits_fit_the_ladder_into_thirty_days() -> None:
    config = LadderConfig()
    assert [config.days_for(level) for level in LADDER] == [5, 7, 10, 8]
    assert config.total_days == 30
    assert config.yellow_lead_days == 2
    assert config.red_lead_hours == 24


def test_from_mapping_with_nothing_gives_the_defaults() -> None:
    assert LadderConfig.from_mapping({}) == LadderConfig()


def test_from_mapping_overrides_only_the_given_values() -> None:
    config = LadderConfig.from_mapping(
        {"time_limit_days": {"grid": 3, "district": 15}, "yellow_lead_days": 3, "red_lead_hours": 12}
    )
    assert [config.days_for(level) for level in LADDER] == [3, 7, 10, 15]
    assert config.yellow_lead_days == 3
    assert config.red_lead_hours == 12


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"grid_days": 5}, "grid_days"),
        ({"time_limit_days": {"building": 2}}, "time_limit_days.building"),
        ({"time_limit_days": {"grid": 0}}, "time_limit_days.grid"),
        ({"time_limit_days": {"community": -1}}, "time_limit_days.community"),
        ({"time_limit_days": {"street": 2.5}}, "time_limit_days.street"),
        ({"time_limit_days": {"street": "10"}}, "time_limit_days.street"),
        ({"time_limit_days": {"district": True}}, "time_limit_days.district"),
        ({"time_limit_days": [5, 7, 10, 8]}, "time_limit_days"),
        ({"time_limit_days": {"district": 69}}, "time_limit_days"),
        ({"yellow_lead_days": 0}, "yellow_lead_days"),
        ({"yellow_lead_days": 1.5}, "yellow_lead_days"),
        ({"red_lead_hours": 0}, "red_lead_hours"),
        ({"red_lead_hours": 48}, "red_lead_hours"),
        ({"yellow_lead_days": 1, "red_lead_hours": 24}, "red_lead_hours"),
    ],
)
def test_from_mapping_rejects_bad_settings_naming_the_key(data: dict, key: str) -> None:
    with pytest.raises(ValueError) as raised:
        LadderConfig.from_mapping(data)
    assert str(raised.value).startswith(f"{key}:")


def test_from_mapping_accepts_a_total_at_the_sanity_bound() -> None:
    config = LadderConfig.from_mapping({"time_limit_days": {"district": 68}})
    assert config.total_days == 90


def test_from_mapping_rejects_something_that_is_not_a_mapping() -> None:
    with pytest.raises(ValueError, match="must be a mapping"):
        LadderConfig.from_mapping([("grid", 5)])  # type: ignore[arg-type]


def test_config_built_directly_must_name_every_level() -> None:
    with pytest.raises(ValueError, match=r"^time_limit_days\.district: missing"):
        LadderConfig(time_limit_days={Level.GRID: 5, Level.COMMUNITY: 7, Level.STREET: 10})


@pytest.mark.parametrize(
    ("level", "deadline"),
    [
        (Level.GRID, datetime(2024, 5, 6, 9, 0, tzinfo=CST)),
        (Level.COMMUNITY, datetime(2024, 5, 8, 9, 0, tzinfo=CST)),
        (Level.STREET, datetime(2024, 5, 11, 9, 0, tzinfo=CST)),
        (Level.DISTRICT, datetime(2024, 5, 9, 9, 0, tzinfo=CST)),
    ],
)
def test_level_deadline_adds_the_level_time_limit_in_calendar_days(level: Level, deadline: datetime) -> None:
    assert level_deadline(ENTERED, level) == deadline


def test_level_deadline_follows_the_config() -> None:
    config = LadderConfig.from_mapping({"time_limit_days": {"grid": 2}})
    assert level_deadline(ENTERED, Level.GRID, config) == datetime(2024, 5, 3, 9, 0, tzinfo=CST)


def test_level_deadline_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="entered_at"):
        level_deadline(datetime(2024, 5, 1, 9, 0), Level.GRID)


# Grid level, default config: deadline 2024-05-06 09:00, yellow from 05-04 09:00, red from 05-05 09:00.
GRID_DEADLINE = datetime(2024, 5, 6, 9, 0, tzinfo=CST)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (ENTERED - timedelta(hours=1), WarningLevel.NONE),
        (ENTERED, WarningLevel.NONE),
        (GRID_DEADLINE - timedelta(days=2) - TICK, WarningLevel.NONE),
        (GRID_DEADLINE - timedelta(days=2), WarningLevel.YELLOW),
        (GRID_DEADLINE - timedelta(hours=24) - TICK, WarningLevel.YELLOW),
        (GRID_DEADLINE - timedelta(hours=24), WarningLevel.RED),
        (GRID_DEADLINE - TICK, WarningLevel.RED),
        (GRID_DEADLINE, WarningLevel.OVERDUE),
        (GRID_DEADLINE + timedelta(days=10), WarningLevel.OVERDUE),
    ],
)
def test_warning_changes_exactly_at_its_boundaries(now: datetime, expected: WarningLevel) -> None:
    assert warning(ENTERED, Level.GRID, now) == expected


def test_warning_values_are_the_plain_strings() -> None:
    assert warning(ENTERED, Level.GRID, GRID_DEADLINE - timedelta(hours=1)) == "red"


def test_warning_compares_instants_across_time_zones() -> None:
    # 01:00 UTC on 5 May is 09:00 in China: the start of the red day.
    assert warning(ENTERED, Level.GRID, datetime(2024, 5, 5, 1, 0, tzinfo=timezone.utc)) == WarningLevel.RED
    assert warning(ENTERED, Level.GRID, datetime(2024, 5, 5, 0, 59, tzinfo=timezone.utc)) == WarningLevel.YELLOW


def test_warning_follows_configured_lead_times() -> None:
    config = LadderConfig.from_mapping({"yellow_lead_days": 4, "red_lead_hours": 6})
    deadline = level_deadline(ENTERED, Level.STREET, config)
    assert warning(ENTERED, Level.STREET, deadline - timedelta(days=4) - TICK, config) == WarningLevel.NONE
    assert warning(ENTERED, Level.STREET, deadline - timedelta(days=4), config) == WarningLevel.YELLOW
    assert warning(ENTERED, Level.STREET, deadline - timedelta(hours=6) - TICK, config) == WarningLevel.YELLOW
    assert warning(ENTERED, Level.STREET, deadline - timedelta(hours=6), config) == WarningLevel.RED


def test_warning_uses_the_time_limit_of_the_case_level() -> None:
    now = datetime(2024, 5, 7, 9, 0, tzinfo=CST)
    assert warning(ENTERED, Level.GRID, now) == WarningLevel.OVERDUE
    assert warning(ENTERED, Level.COMMUNITY, now) == WarningLevel.RED
    assert warning(ENTERED, Level.DISTRICT, now) == WarningLevel.YELLOW
    assert warning(ENTERED, Level.STREET, now) == WarningLevel.NONE


def test_warning_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="now"):
        warning(ENTERED, Level.GRID, datetime(2024, 5, 2))


@pytest.mark.parametrize("level", [Level.GRID, Level.COMMUNITY, Level.STREET])
def test_escalate_without_target_moves_one_level_up(level: Level) -> None:
    assert escalate(level) == next_level(level)


def test_escalate_from_the_district_is_refused_in_favour_of_referral() -> None:
    with pytest.raises(LadderRuleError) as raised:
        escalate(Level.DISTRICT)
    assert raised.value.rule == "mediation.ladder_exhausted"
    assert "refer" in raised.value.detail


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c in LADDER for t in LADDER if t.rank <= c.rank],
)
def test_escalate_never_goes_down_or_stays(current: Level, target: Level) -> None:
    with pytest.raises(LadderRuleError) as raised:
        escalate(current, target, by_staff=True, reason="the parties ask for it")
    assert raised.value.rule == "mediation.no_downward"
    assert raised.value.status_code == 422


@pytest.mark.parametrize("current", [Level.GRID, Level.COMMUNITY, Level.STREET])
def test_escalate_to_the_next_level_needs_no_reason(current: Level) -> None:
    target = next_level(current)
    assert target is not None
    assert escalate(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [(Level.GRID, Level.STREET), (Level.GRID, Level.DISTRICT), (Level.COMMUNITY, Level.DISTRICT)],
)
def test_escalate_skipping_a_level_is_allowed_to_staff_with_a_reason(current: Level, target: Level) -> None:
    assert escalate(current, target, by_staff=True, reason="threats across three buildings") is target


@pytest.mark.parametrize(
    ("by_staff", "reason"),
    [(False, "threats across three buildings"), (True, None), (True, ""), (True, "   "), (False, None)],
)
def test_escalate_skipping_a_level_without_staff_and_reason_is_refused(by_staff: bool, reason: str | None) -> None:
    with pytest.raises(LadderRuleError) as raised:
        escalate(Level.GRID, Level.STREET, by_staff=by_staff, reason=reason)
    assert raised.value.rule == "mediation.skip_requires_staff_reason"


def test_ladder_rule_error_carries_rule_and_detail_in_its_message() -> None:
    error = LadderRuleError("mediation.no_downward", "a case never goes back down")
    assert str(error) == "mediation.no_downward: a case never goes back down"


def test_default_config_is_the_plain_default() -> None:
    assert DEFAULT_CONFIG == LadderConfig()
