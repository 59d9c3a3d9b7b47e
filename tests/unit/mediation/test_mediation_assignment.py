"""Mediator assignment: scope and level, conflicts of interest, the parties' wishes and load balancing."""

import pytest

from services.mediation.rules.assignment import (
    Assignment,
    CaseToAssign,
    ExclusionReason,
    Mediator,
    NoEligibleMediator,
    Party,
    ancestor_code,
    exclusion_reason,
    pick_mediator,
    unit_level,
)
from services.mediation.rules.ladder import Level

DISTRICT = "370705"
STREET = "370705001"
COMMUNITY = "370705001001"
GRID = "370705001001002"
PLACE = GRID  # the dispute happens in grid 002 of community 001 of street 001 (东关)

GRID_MEDIATOR = Mediator("m-grid", person_id="p-grid", scope_code=GRID, household_id="h-grid")
OTHER_GRID_MEDIATOR = Mediator("m-grid-3", person_id="p-grid-3", scope_code="370705001001003")
COMMUNITY_MEDIATOR = Mediator("m-comm", person_id="p-comm", scope_code=COMMUNITY)
STREET_MEDIATOR = Mediator("m-street", person_id="p-street", scope_code=STREET)
OTHER_STREET_MEDIATOR = Mediator("m-street-2", person_id="p-street-2", scope_code="370705002")
DISTRICT_MEDIATOR = Mediator("m-district", person_id="p-district", scope_code=DISTRICT)
EVERYONE = [
    GRID_MEDIATOR,
    OTHER_GRID_MEDIATOR,
    COMMUNITY_MEDIATOR,
    STREET_MEDIATOR,
    OTHER_STREET_MEDIATOR,
    DISTRICT_MEDIATOR,
]

PARTIES = (Party("p-a", household_id="h-a"), Party("p-b", household_id="h-b"))


def case(level: Level = Level.GRID, **kwargs: object) -> CaseToAssign:
    fields: dict = {"case_id": "c1", "level": level, "place_code": PLACE, "parties": PARTIES}
    fields.update(kwargs)
    return CaseToAssign(**fields)


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (Level.GRID, "m-grid"),
        (Level.COMMUNITY, "m-comm"),
        (Level.STREET, "m-street"),
        (Level.DISTRICT, "m-district"),
    ],
)
def test_only_the_mediator_of_the_case_level_unit_is_eligible(level: Level, expected: str) -> None:
    assignment = pick_mediator(case(level), EVERYONE, open_counts={})
    assert assignment.mediator_id == expected
    assert set(assignment.excluded) == {m.mediator_id for m in EVERYONE} - {expected}


def test_exclusions_tell_out_of_scope_from_level_mismatch() -> None:
    assignment = pick_mediator(case(Level.COMMUNITY), EVERYONE, open_counts={})
    assert assignment.excluded == {
        "m-grid": ExclusionReason.LEVEL_MISMATCH,  # the place is in its grid, but the case is above the grid
        "m-grid-3": ExclusionReason.OUT_OF_SCOPE,  # another grid of the same community
        "m-street": ExclusionReason.LEVEL_MISMATCH,
        "m-street-2": ExclusionReason.OUT_OF_SCOPE,
        "m-district": ExclusionReason.LEVEL_MISMATCH,
    }


def test_a_place_below_the_grid_is_served_by_its_grid() -> None:
    building_place = GRID + "07"
    assignment = pick_mediator(case(place_code=building_place), EVERYONE, open_counts={})
    assert assignment.mediator_id == "m-grid"


def test_a_mediator_who_is_a_party_is_excluded() -> None:
    colleague = Mediator("m-grid-b", person_id="p-grid-b", scope_code=GRID)
    parties = (Party("p-grid"), Party("p-b", household_id="h-b"))
    assignment = pick_mediator(case(parties=parties), [GRID_MEDIATOR, colleague], open_counts={})
    assert assignment.mediator_id == "m-grid-b"
    assert assignment.excluded == {"m-grid": ExclusionReason.IS_PARTY}


def test_a_mediator_from_a_party_household_is_excluded() -> None:
    colleague = Mediator("m-grid-b", person_id="p-grid-b", scope_code=GRID)
    parties = (Party("p-a", household_id="h-a"), Party("p-spouse", household_id="h-grid"))
    assignment = pick_mediator(case(parties=parties), [GRID_MEDIATOR, colleague], open_counts={})
    assert assignment.mediator_id == "m-grid-b"
    assert assignment.excluded == {"m-grid": ExclusionReason.SAME_HOUSEHOLD}


def test_unknown_households_never_count_as_the_same_household() -> None:
    no_household = Mediator("m-x", person_id="p-x", scope_code=GRID, household_id=None)
    parties = (Party("p-a", household_id=None),)
    assert exclusion_reason(case(parties=parties), no_household) is None


def test_a_mediator_refused_by_a_party_is_excluded() -> None:
    colleague = Mediator("m-grid-b", person_id="p-grid-b", scope_code=GRID)
    assignment = pick_mediator(
        case(refused_mediator_ids={"m-grid"}), [GRID_MEDIATOR, colleague], open_counts={"m-grid-b": 9}
    )
    assert assignment.mediator_id == "m-grid-b"
    assert assignment.excluded == {"m-grid": ExclusionReason.REFUSED_BY_PARTY}


def test_a_chosen_mediator_is_preferred_over_a_lighter_load() -> None:
    colleague = Mediator("m-grid-b", person_id="p-grid-b", scope_code=GRID)
    assignment = pick_mediator(
        case(chosen_mediator_ids={"m-grid-b"}), [GRID_MEDIATOR, colleague], open_counts={"m-grid-b": 12}
    )
    assert assignment == Assignment(mediator_id="m-grid-b", excluded={}, by_party_choice=True)


def test_a_chosen_mediator_with_a_conflict_is_passed_over() -> None:
    colleague = Mediator("m-grid-b", person_id="p-grid-b", scope_code=GRID)
    parties = (Party("p-grid-b"), Party("p-a"))
    assignment = pick_mediator(
        case(parties=parties, chosen_mediator_ids={"m-grid-b"}), [GRID_MEDIATOR, colleague], open_counts={}
    )
    assert assignment.mediator_id == "m-grid"
    assert assignment.by_party_choice is False
    assert assignment.excluded == {"m-grid-b": ExclusionReason.IS_PARTY}


def test_among_several_chosen_mediators_the_lightest_load_wins() -> None:
    pool = [Mediator(f"m{i}", person_id=f"p{i}", scope_code=GRID) for i in range(4)]
    assignment = pick_mediator(
        case(chosen_mediator_ids={"m1", "m2"}), pool, open_counts={"m0": 0, "m1": 5, "m2": 3, "m3": 0}
    )
    assert assignment.mediator_id == "m2"


def test_the_mediator_with_fewest_open_cases_is_picked() -> None:
    pool = [Mediator(f"m{i}", person_id=f"p{i}", scope_code=GRID) for i in range(3)]
    assignment = pick_mediator(case(), pool, open_counts={"m0": 4, "m1": 2, "m2": 3})
    assert assignment.mediator_id == "m1"
    assert assignment.by_party_choice is False


def test_equal_loads_fall_back_to_the_smallest_id_whatever_the_candidate_order() -> None:
    pool = [Mediator(i, person_id=f"p-{i}", scope_code=GRID) for i in ("m-c", "m-a", "m-b")]
    assert pick_mediator(case(), pool, open_counts={"m-a": 1, "m-b": 1, "m-c": 1}).mediator_id == "m-a"
    assert pick_mediator(case(), list(reversed(pool)), open_counts={}).mediator_id == "m-a"


def test_a_mediator_missing_from_open_counts_has_no_open_cases() -> None:
    pool = [Mediator(i, person_id=f"p-{i}", scope_code=GRID) for i in ("m-a", "m-z")]
    assert pick_mediator(case(), pool, open_counts={"m-a": 1}).mediator_id == "m-z"


def test_no_eligible_mediator_reports_every_reason() -> None:
    parties = (Party("p-grid"),)
    with pytest.raises(NoEligibleMediator) as raised:
        pick_mediator(case(parties=parties), [GRID_MEDIATOR, COMMUNITY_MEDIATOR, OTHER_GRID_MEDIATOR], {})
    assert raised.value.excluded == {
        "m-grid": ExclusionReason.IS_PARTY,
        "m-comm": ExclusionReason.LEVEL_MISMATCH,
        "m-grid-3": ExclusionReason.OUT_OF_SCOPE,
    }
    assert raised.value.case_id == "c1"
    assert "is_party" in str(raised.value)


def test_no_candidates_at_all_is_no_eligible_mediator() -> None:
    with pytest.raises(NoEligibleMediator) as raised:
        pick_mediator(case(), [], {})
    assert raised.value.excluded == {}


def test_scope_is_checked_before_conflicts_of_interest() -> None:
    far_away_party = Mediator("m-far", person_id="p-a", scope_code="370705002")
    assert exclusion_reason(case(), far_away_party) is ExclusionReason.OUT_OF_SCOPE


def test_a_wider_grid_serial_width_is_honoured() -> None:
    wide_grid = "3707050010010002"
    mediator = Mediator("m-wide", person_id="p-wide", scope_code=wide_grid)
    assignment = pick_mediator(case(place_code=wide_grid), [mediator], {}, grid_serial_width=4)
    assert assignment.mediator_id == "m-wide"


def test_duplicate_candidates_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        pick_mediator(case(), [GRID_MEDIATOR, GRID_MEDIATOR], {})


def test_negative_open_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="open_counts.m-grid"):
        pick_mediator(case(), [GRID_MEDIATOR], {"m-grid": -1})


@pytest.mark.parametrize(
    ("code", "level", "expected"),
    [
        (GRID + "0701", Level.GRID, GRID),
        (GRID, Level.COMMUNITY, COMMUNITY),
        (GRID, Level.STREET, STREET),
        (GRID, Level.DISTRICT, DISTRICT),
        (COMMUNITY, Level.COMMUNITY, COMMUNITY),
    ],
)
def test_ancestor_code_cuts_the_place_code_at_the_level(code: str, level: Level, expected: str) -> None:
    assert ancestor_code(code, level) == expected


def test_a_place_above_the_case_level_has_no_unit_there() -> None:
    with pytest.raises(ValueError, match="place_code"):
        ancestor_code(COMMUNITY, Level.GRID)


def test_a_place_code_must_be_digits() -> None:
    with pytest.raises(ValueError, match="place_code"):
        ancestor_code("37070500100A002", Level.GRID)


@pytest.mark.parametrize(
    ("code", "expected"),
    [(DISTRICT, Level.DISTRICT), (STREET, Level.STREET), (COMMUNITY, Level.COMMUNITY), (GRID, Level.GRID),
     (GRID + "07", None)],
)
def test_unit_level_follows_the_code_length(code: str, expected: Level | None) -> None:
    assert unit_level(code) == expected
