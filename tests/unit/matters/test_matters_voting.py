import json
from fractions import Fraction
from importlib import resources

import pytest

from services.matters.rules.voting import (
    RULES,
    BaseKind,
    Comparison,
    DecisionRule,
    MeetingCallRule,
    PassOf,
    RuleDataError,
    load_rules,
    meeting_must_be_called,
    parse_rules,
    rule_from_mapping,
    tally,
)

URCOL = RULES["urcol-2018"]
MAJOR = RULES["urcol-2018-major"]
HOUSEHOLD = RULES["household-2018"]
HOUSEHOLD_MAJOR = RULES["household-2018-major"]


def test_registry_holds_the_named_versions():
    assert set(RULES) == {
        "urcol-2018",
        "urcol-2018-major",
        "urcol-2018-groups",
        "household-2018",
        "household-2018-major",
    }
    for name, rule in RULES.items():
        assert rule.name == name


def test_urcol_2018_is_more_than_half_present_and_more_than_half_of_present():
    assert (URCOL.base, URCOL.quorum, URCOL.quorum_op) == (BaseKind.ADULTS, Fraction(1, 2), Comparison.GT)
    assert (URCOL.pass_fraction, URCOL.pass_op, URCOL.pass_of) == (Fraction(1, 2), Comparison.GT, PassOf.PRESENT)


def test_major_rule_is_at_least_two_thirds_of_present():
    assert (MAJOR.pass_fraction, MAJOR.pass_op) == (Fraction(2, 3), Comparison.GE)


def test_household_rules_count_households_one_vote_each():
    assert HOUSEHOLD.base is BaseKind.HOUSEHOLD_REPRESENTATIVES
    assert HOUSEHOLD.one_vote_per_household
    assert HOUSEHOLD_MAJOR.one_vote_per_household
    assert not URCOL.one_vote_per_household
    assert RULES["urcol-2018-groups"].base is BaseKind.GROUP_REPRESENTATIVES


@pytest.mark.parametrize("rule", [URCOL, HOUSEHOLD, MAJOR, HOUSEHOLD_MAJOR], ids=lambda r: r.name)
def test_exactly_half_present_is_not_a_quorum_even_if_unanimous(rule):
    result = tally(rule, 100, 50, 0, 0)
    assert not result.quorum_met
    assert not result.passed
    assert result.required_quorum == 51


@pytest.mark.parametrize("rule", [URCOL, HOUSEHOLD, MAJOR, HOUSEHOLD_MAJOR], ids=lambda r: r.name)
def test_one_more_than_half_present_is_a_quorum(rule):
    assert tally(rule, 100, 51, 0, 0).quorum_met


def test_odd_base_needs_the_next_whole_voter_above_half():
    assert not tally(URCOL, 101, 50, 0, 0).quorum_met
    assert tally(URCOL, 101, 51, 0, 0).quorum_met
    assert tally(URCOL, 101, 51, 0, 0).required_quorum == 51


@pytest.mark.parametrize("rule", [URCOL, HOUSEHOLD], ids=lambda r: r.name)
def test_a_tie_does_not_pass(rule):
    result = tally(rule, 100, 30, 30, 0)
    assert result.quorum_met
    assert not result.passed
    assert result.required_pass == 31


@pytest.mark.parametrize("rule", [URCOL, HOUSEHOLD], ids=lambda r: r.name)
def test_one_vote_more_than_half_of_present_passes(rule):
    assert tally(rule, 100, 31, 30, 0).passed


def test_abstentions_count_towards_quorum():
    result = tally(URCOL, 100, 30, 0, 21)
    assert result.present == 51
    assert result.quorum_met
    assert result.passed


def test_abstentions_count_against_a_majority_of_those_present():
    result = tally(URCOL, 100, 25, 0, 26)
    assert result.quorum_met
    assert not result.passed
    assert result.required_pass == 26


@pytest.mark.parametrize("rule", [MAJOR, HOUSEHOLD_MAJOR], ids=lambda r: r.name)
def test_exactly_two_thirds_passes_the_major_rule(rule):
    assert tally(rule, 100, 40, 20, 0).passed
    assert not tally(rule, 100, 39, 21, 0).passed
    assert tally(rule, 100, 40, 20, 0).required_pass == 40


def test_two_thirds_of_an_uneven_attendance_rounds_up():
    # 2/3 of 61 present is 40.67: 41 are needed.
    assert tally(MAJOR, 100, 41, 20, 0).passed
    assert not tally(MAJOR, 100, 40, 21, 0).passed
    assert tally(MAJOR, 100, 40, 21, 0).required_pass == 41


def test_ordinary_rule_passes_two_thirds_but_not_half():
    assert tally(URCOL, 60, 40, 20, 0).passed
    assert not tally(URCOL, 60, 30, 30, 0).passed


def test_unanimous_vote_without_quorum_does_not_pass():
    result = tally(HOUSEHOLD, 200, 80, 0, 0)
    assert not result.quorum_met
    assert not result.passed


def test_pass_of_base_counts_against_the_whole_base():
    rule = rule_from_mapping(
        {"name": "base-majority", "base": "adults", "quorum": "1/2", "pass_fraction": "1/2", "pass_of": "base"}
    )
    assert not tally(rule, 100, 50, 0, 10).passed
    assert tally(rule, 100, 51, 0, 10).passed
    assert tally(rule, 100, 51, 0, 10).required_pass == 51


def test_tally_reports_counts_and_rule_version():
    result = tally(HOUSEHOLD, 120, 50, 10, 5)
    assert (result.present, result.votes_for, result.votes_against, result.abstain) == (65, 50, 10, 5)
    assert result.rule_version == "household-2018"
    assert result.required_quorum == 61


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, 0, 0, 0), "base_size"),
        ((10, 6, 5, 0), "present"),
        ((10, -1, 0, 0), "votes_for"),
        ((10, 1, -1, 0), "votes_against"),
        ((10, 1, 0, -1), "abstain"),
        ((10, True, 0, 0), "votes_for"),
        ((10.0, 1, 0, 0), "base_size"),
    ],
)
def test_tally_rejects_impossible_counts(args, field):
    with pytest.raises(ValueError, match=field):
        tally(URCOL, *args)


def test_rule_round_trips_through_plain_data():
    for rule in RULES.values():
        assert rule_from_mapping(rule.as_mapping()) == rule


def test_rule_from_mapping_accepts_a_pair_and_defaults():
    rule = rule_from_mapping({"name": " r-1 ", "base": "adults", "quorum": [1, 2], "pass_fraction": "3/5"})
    assert rule == DecisionRule(
        name="r-1", base=BaseKind.ADULTS, quorum=Fraction(1, 2), pass_fraction=Fraction(3, 5)
    )


VALID = {"name": "x", "base": "adults", "quorum": "1/2", "pass_fraction": "1/2"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"base": "everyone"}, "base"),
        ({"quorum": 0.5}, "quorum"),
        ({"quorum": "half"}, "quorum"),
        ({"quorum": "1/0"}, "quorum"),
        ({"quorum": "1"}, "quorum"),  # "more than all" can never be met
        ({"quorum": "-1/2"}, "quorum"),
        ({"pass_fraction": 0.6667}, "pass_fraction"),
        ({"pass_fraction": "0", "pass_op": "ge"}, "pass_fraction"),
        ({"pass_fraction": "3/2", "pass_op": "ge"}, "pass_fraction"),
        ({"pass_op": "gte"}, "pass_op"),
        ({"quorum_op": "lt"}, "quorum_op"),
        ({"pass_of": "voters"}, "pass_of"),
        ({"description": 5}, "description"),
        ({"threshold": "1/2"}, "threshold"),
    ],
)
def test_rule_from_mapping_names_the_bad_field(change, field):
    with pytest.raises(ValueError, match=f"'{field}'"):
        rule_from_mapping({**VALID, **change})


@pytest.mark.parametrize("missing", ["name", "base", "quorum", "pass_fraction"])
def test_rule_from_mapping_names_a_missing_field(missing):
    data = {k: v for k, v in VALID.items() if k != missing}
    with pytest.raises(ValueError, match=f"'{missing}': required"):
        rule_from_mapping(data)


def test_rule_from_mapping_rejects_a_non_mapping():
    with pytest.raises(ValueError, match="mapping"):
        rule_from_mapping(["urcol-2018"])


def test_unanimous_ge_one_rule_needs_everyone():
    rule = rule_from_mapping({**VALID, "pass_fraction": "1", "pass_op": "ge"})
    assert tally(rule, 10, 6, 0, 0).passed
    assert not tally(rule, 10, 6, 0, 1).passed


@pytest.mark.parametrize(
    ("adults", "households", "groups", "expected"),
    [
        ((20, 100), (0, 40), (0, 9), True),  # exactly 1/5 of adults
        ((19, 100), (0, 40), (0, 9), False),
        ((0, 100), (8, 40), (0, 9), True),  # exactly 1/5 of households
        ((0, 100), (7, 40), (0, 9), False),
        ((0, 100), (0, 40), (3, 9), True),  # exactly 1/3 of groups
        ((0, 100), (0, 40), (2, 9), False),
        ((19, 100), (7, 40), (2, 9), False),  # each just short
        ((0, 0), (0, 0), (1, 3), True),  # empty adult and household counts do not block the groups
        ((0, 0), (0, 0), (0, 0), False),
    ],
)
def test_meeting_must_be_called_at_the_legal_shares(adults, households, groups, expected):
    assert meeting_must_be_called(*adults, *households, *groups) is expected


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((101, 100, 0, 1, 0, 1), "adults_asking"),
        ((0, 100, 2, 1, 0, 1), "households_asking"),
        ((0, 100, 0, 1, 4, 3), "groups_asking"),
        ((0, -1, 0, 1, 0, 1), "adults_total"),
    ],
)
def test_meeting_call_rejects_impossible_counts(args, field):
    with pytest.raises(ValueError, match=field):
        meeting_must_be_called(*args)


def test_meeting_call_thresholds_are_replaceable_data():
    stricter = MeetingCallRule("test", Fraction(1, 2), Fraction(1, 2), Fraction(1, 2))
    assert meeting_must_be_called(20, 100, 0, 1, 0, 1)
    assert not meeting_must_be_called(20, 100, 0, 1, 0, 1, rule=stricter)


def test_the_rules_are_the_shipped_data_file_validated_when_loaded(tmp_path):
    shipped = json.loads(resources.files("services.matters.rules").joinpath("decision_rules.json").read_text("utf-8"))
    assert [r["name"] for r in shipped["rules"]] == list(RULES)
    # A new version of the law is a new rule in the data, beside the old one, not an edit of it.
    shipped["rules"].append({"name": "urcol-2026", "description": "2026 年修订后的组织法", "base": "adults",
                             "quorum": "1/2", "pass_fraction": "1/2"})
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(shipped, ensure_ascii=False), encoding="utf-8")
    loaded = load_rules(path)
    assert loaded["urcol-2026"].quorum == Fraction(1, 2) and loaded["urcol-2018"] == RULES["urcol-2018"]


@pytest.mark.parametrize(("data", "where", "says"), [
    ({"rules": []}, "rules", "non-empty"),
    ({"rules": [{"name": "a", "base": "adults", "quorum": "1/2", "pass_fraction": "1/2"}] * 2}, "rules[1].name",
     "duplicate rule 'a'"),
    ({"rules": [{"name": "a", "base": "adults", "quorum": 0.5, "pass_fraction": "1/2"}]}, "rules[0]", "exact fraction"),
    ({"rules": [{"name": "a", "base": "everyone", "quorum": "1/2", "pass_fraction": "1/2"}]}, "rules[0]", "'base'"),
    ({"rules": [{"name": "a", "base": "adults", "quorum": "1/2", "pass_fraction": "1"}]}, "rules[0]", "[0, 1)"),
    ({"rule": []}, "rule", "unknown field"),
])
def test_a_rules_file_that_does_not_validate_names_where(data, where, says):
    with pytest.raises(RuleDataError) as caught:
        parse_rules(data)
    assert caught.value.path == where and says in caught.value.detail
