"""Coverage targets: liaison departments, party contacts, staffing ratios, legal advisers, 六有."""

import pytest

from services.registry.rules.coverage import (
    CommunityLoad,
    CoverageSnapshot,
    CoverageThresholds,
    GridLoad,
    SixHavesGap,
    communities_over_worker_ratio,
    communities_without_legal_adviser,
    communities_without_liaison,
    coverage_report,
    grid_branches_failing_six_haves,
    grids_over_ratio,
    households_without_party_contact,
    households_without_visiting_cadre,
)
from services.registry.rules.roles import SIX_HAVES, SixHavesEntry

C1, C2, C3 = "370705001001", "370705001002", "370705002001"
H1, H2, H3 = "370705001001001001010001", "370705001001001001010002", "370705001001001001010003"
G1, G2 = "370705001001001", "370705001001002"

ALL_MET = {item: SixHavesEntry(True, "证明材料") for item in SIX_HAVES}


def test_default_thresholds():
    thresholds = CoverageThresholds()
    assert thresholds.max_households_per_grid_manager == 200
    assert thresholds.max_households_per_community_worker == 300


@pytest.mark.parametrize("value", [0, -5, True, 1.5])
def test_thresholds_must_be_positive_integers(value):
    with pytest.raises(ValueError, match="max_households_per_grid_manager"):
        CoverageThresholds(max_households_per_grid_manager=value)


@pytest.mark.parametrize("households", [-1, True])
def test_loads_refuse_bad_counts(households):
    with pytest.raises(ValueError, match="households"):
        GridLoad(G1, households, 1)
    with pytest.raises(ValueError, match="households"):
        CommunityLoad(C1, households, 1)


# --- liaison, contacts, advisers --------------------------------------------------------------


def test_community_without_a_liaison_department_is_listed():
    assert communities_without_liaison([C3, C1, C2], [C2]) == [C1, C3]


def test_liaison_covering_every_community_leaves_nothing():
    assert communities_without_liaison([C1, C2], [C2, C1, C1]) == []


def test_liaison_for_an_unlisted_community_covers_nothing_else():
    assert communities_without_liaison([C1], [C3]) == [C1]


def test_household_without_a_party_member_contact_is_listed():
    assert households_without_party_contact([H1, H2, H3], [H2]) == [H1, H3]


def test_household_without_a_visiting_cadre_is_listed():
    assert households_without_visiting_cadre([H1, H2], [H1]) == [H2]


def test_community_without_a_legal_adviser_is_listed():
    assert communities_without_legal_adviser([C1, C2], [C1]) == [C2]


def test_inputs_may_be_generators():
    assert communities_without_liaison((c for c in [C1, C2]), (c for c in [C1])) == [C2]


# --- ratios -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("households", "managers", "over"),
    [
        (200, 1, False),
        (201, 1, True),
        (400, 2, False),
        (401, 2, True),
        (1, 0, True),
        (0, 0, False),
        (0, 3, False),
    ],
)
def test_grid_ratio_boundaries(households, managers, over):
    assert grids_over_ratio([GridLoad(G1, households, managers)]) == ([G1] if over else [])


def test_grids_over_ratio_are_sorted_by_code():
    loads = [GridLoad(G2, 500, 1), GridLoad(G1, 300, 1), GridLoad("370705001001003", 10, 1)]
    assert grids_over_ratio(loads) == [G1, G2]


def test_grid_ratio_threshold_is_configurable():
    thresholds = CoverageThresholds(max_households_per_grid_manager=100)
    assert grids_over_ratio([GridLoad(G1, 150, 1)], thresholds) == [G1]


@pytest.mark.parametrize(
    ("households", "workers", "over"),
    [(300, 1, False), (301, 1, True), (900, 3, False), (901, 3, True), (5, 0, True), (0, 0, False)],
)
def test_community_worker_ratio_boundaries(households, workers, over):
    assert communities_over_worker_ratio([CommunityLoad(C1, households, workers)]) == ([C1] if over else [])


def test_community_worker_threshold_is_configurable():
    thresholds = CoverageThresholds(max_households_per_community_worker=1000)
    assert communities_over_worker_ratio([CommunityLoad(C1, 900, 1)], thresholds) == []


# --- 六有 -------------------------------------------------------------------------------------


def test_grid_branch_meeting_the_six_haves_is_not_listed():
    assert grid_branches_failing_six_haves({G1: ALL_MET}) == []


def test_grid_branch_missing_items_is_listed_with_them():
    checklist = ALL_MET | {"signage": True}
    assert grid_branches_failing_six_haves({G1: checklist}) == [SixHavesGap(G1, ("signage",))]


def test_grid_without_a_checklist_misses_all_six():
    assert grid_branches_failing_six_haves({G1: ALL_MET}, [G1, G2]) == [SixHavesGap(G2, SIX_HAVES)]


def test_six_haves_gaps_are_sorted_by_grid_code():
    gaps = grid_branches_failing_six_haves({G2: {}, G1: {}})
    assert [gap.grid_code for gap in gaps] == [G1, G2]


# --- report -----------------------------------------------------------------------------------


def test_coverage_report_gathers_every_target():
    snapshot = CoverageSnapshot(
        community_codes={C1, C2},
        household_codes={H1, H2},
        liaison_community_codes={C1},
        adviser_community_codes={C2},
        party_contacted_household_codes={H1},
        cadre_visited_household_codes={H2},
        grids=(GridLoad(G1, 250, 1), GridLoad(G2, 100, 1)),
        communities=(CommunityLoad(C1, 301, 1), CommunityLoad(C2, 100, 1)),
        six_haves_checklists={G1: ALL_MET},
    )
    report = coverage_report(snapshot)
    assert report.communities_without_liaison == [C2]
    assert report.communities_without_legal_adviser == [C1]
    assert report.households_without_party_contact == [H2]
    assert report.households_without_visiting_cadre == [H1]
    assert report.grids_over_ratio == [G1]
    assert report.communities_over_worker_ratio == [C1]
    assert report.grid_branches_failing_six_haves == [SixHavesGap(G2, SIX_HAVES)]
    assert not report.all_met


def test_fully_covered_snapshot_meets_every_target():
    snapshot = CoverageSnapshot(
        community_codes=[C1],
        household_codes=[H1],
        liaison_community_codes=[C1],
        adviser_community_codes=[C1],
        party_contacted_household_codes=[H1],
        cadre_visited_household_codes=[H1],
        grids=(GridLoad(G1, 200, 1),),
        communities=(CommunityLoad(C1, 300, 1),),
        six_haves_checklists={G1: ALL_MET},
    )
    assert coverage_report(snapshot).all_met


def test_coverage_report_applies_the_thresholds():
    snapshot = CoverageSnapshot(grids=(GridLoad(G1, 150, 1),), six_haves_checklists={G1: ALL_MET})
    report = coverage_report(snapshot, CoverageThresholds(max_households_per_grid_manager=100))
    assert report.grids_over_ratio == [G1]
