"""Roles, scopes, personal-data visibility, the party organisation chain and 六有."""

import pytest

from services.registry.rules.codes import CodeScheme, Level
from services.registry.rules.roles import (
    PARTY_ORG_LEVELS,
    PERSONAL_DATA_ROLES,
    ROLE_SCOPE_LEVELS,
    SIX_HAVES,
    STAFF_ROLES,
    PartyOrgKind,
    Role,
    SixHavesEntry,
    can_see_personal_data,
    is_valid_scope,
    party_org_kind_for_level,
    six_haves_shortfall,
)

DISTRICT = "370705"
STREET = "370705001"
COMMUNITY = "370705001001"
GRID = "370705001001001"
BUILDING = "370705001001001001"
UNIT = "37070500100100100101"
HOUSEHOLD = "370705001001001001010001"
OTHER_GRID_HOUSEHOLD = "370705001001002001010001"
OTHER_BUILDING_HOUSEHOLD = "370705001001001002010001"
OTHER_UNIT_HOUSEHOLD = "370705001001001001020001"
OTHER_STREET_HOUSEHOLD = "370705002001001001010001"


def test_role_values_are_the_names_tokens_carry():
    assert {r.value for r in Role} == {
        "grid_secretary", "grid_manager", "grid_head", "building_head", "unit_head",
        "resident_representative", "party_member", "part_time_member", "community_worker", "mediator",
        "legal_adviser", "department_liaison", "community_staff", "street_staff", "district_staff",
        "resident", "admin",
    }


@pytest.mark.parametrize("role", list(Role))
def test_every_role_has_scope_levels(role):
    assert ROLE_SCOPE_LEVELS[role]


@pytest.mark.parametrize(
    ("role", "level"),
    [
        (Role.GRID_MANAGER, Level.GRID),
        (Role.GRID_SECRETARY, Level.GRID),
        (Role.GRID_HEAD, Level.GRID),
        (Role.BUILDING_HEAD, Level.BUILDING),
        (Role.UNIT_HEAD, Level.UNIT),
        (Role.LEGAL_ADVISER, Level.COMMUNITY),
        (Role.DEPARTMENT_LIAISON, Level.COMMUNITY),
        (Role.COMMUNITY_STAFF, Level.COMMUNITY),
        (Role.STREET_STAFF, Level.STREET),
        (Role.DISTRICT_STAFF, Level.DISTRICT),
        (Role.ADMIN, Level.DISTRICT),
        (Role.RESIDENT, Level.HOUSEHOLD),
    ],
)
def test_role_scope_sits_at_its_level_only(role, level):
    assert ROLE_SCOPE_LEVELS[role] == {level}


def test_mediators_sit_at_every_level_of_the_ladder():
    assert ROLE_SCOPE_LEVELS[Role.MEDIATOR] == {Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT}


def test_staff_roles_are_exactly_the_scope_wide_viewers():
    assert STAFF_ROLES == {
        Role.GRID_SECRETARY, Role.GRID_MANAGER, Role.GRID_HEAD, Role.COMMUNITY_WORKER,
        Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.DISTRICT_STAFF, Role.ADMIN,
    }


def test_mediator_is_not_staff():
    assert Role.MEDIATOR not in STAFF_ROLES
    assert Role.MEDIATOR not in PERSONAL_DATA_ROLES


# --- scope validity ---------------------------------------------------------------------------


def test_scope_at_the_roles_level_is_valid():
    assert is_valid_scope(Role.GRID_MANAGER, GRID)


def test_scope_above_the_roles_level_is_invalid():
    assert not is_valid_scope(Role.GRID_MANAGER, COMMUNITY)


def test_malformed_scope_is_invalid():
    assert not is_valid_scope(Role.GRID_MANAGER, "3707050010")


def test_unknown_role_has_no_valid_scope():
    assert not is_valid_scope("chief", GRID)


def test_scope_validity_follows_the_scheme():
    assert is_valid_scope(Role.GRID_MANAGER, "3707050010010001", CodeScheme(grid_width=4))
    assert not is_valid_scope(Role.GRID_MANAGER, "3707050010010001")


# --- personal data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (Role.GRID_SECRETARY, GRID),
        (Role.GRID_MANAGER, GRID),
        (Role.GRID_HEAD, GRID),
        (Role.COMMUNITY_WORKER, COMMUNITY),
        (Role.COMMUNITY_WORKER, GRID),
        (Role.COMMUNITY_STAFF, COMMUNITY),
        (Role.STREET_STAFF, STREET),
        (Role.DISTRICT_STAFF, DISTRICT),
        (Role.ADMIN, DISTRICT),
        (Role.BUILDING_HEAD, BUILDING),
        (Role.UNIT_HEAD, UNIT),
    ],
)
def test_viewer_sees_personal_data_within_scope(role, scope):
    assert can_see_personal_data(role, scope, HOUSEHOLD)


@pytest.mark.parametrize(
    ("role", "scope", "subject"),
    [
        (Role.GRID_MANAGER, GRID, OTHER_GRID_HOUSEHOLD),
        (Role.COMMUNITY_STAFF, COMMUNITY, "370705001002001001010001"),
        (Role.STREET_STAFF, STREET, OTHER_STREET_HOUSEHOLD),
        (Role.DISTRICT_STAFF, DISTRICT, "370702001001001001010001"),
        (Role.BUILDING_HEAD, BUILDING, OTHER_BUILDING_HOUSEHOLD),
        (Role.UNIT_HEAD, UNIT, OTHER_UNIT_HOUSEHOLD),
    ],
)
def test_viewer_does_not_see_personal_data_outside_scope(role, scope, subject):
    assert not can_see_personal_data(role, scope, subject)


def test_viewer_sees_a_person_registered_at_the_scope_unit_itself():
    assert can_see_personal_data(Role.GRID_MANAGER, GRID, GRID)


def test_viewer_does_not_see_a_person_registered_above_the_scope():
    assert not can_see_personal_data(Role.GRID_MANAGER, GRID, COMMUNITY)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (Role.RESIDENT, HOUSEHOLD),
        (Role.RESIDENT_REPRESENTATIVE, GRID),
        (Role.PARTY_MEMBER, GRID),
        (Role.PART_TIME_MEMBER, COMMUNITY),
        (Role.MEDIATOR, COMMUNITY),
        (Role.LEGAL_ADVISER, COMMUNITY),
        (Role.DEPARTMENT_LIAISON, COMMUNITY),
    ],
)
def test_other_roles_see_masked_data_only(role, scope):
    assert not can_see_personal_data(role, scope, HOUSEHOLD)


def test_building_head_scoped_above_a_building_sees_nothing():
    assert not can_see_personal_data(Role.BUILDING_HEAD, COMMUNITY, HOUSEHOLD)


def test_grid_manager_scoped_at_a_street_sees_nothing():
    assert not can_see_personal_data(Role.GRID_MANAGER, STREET, HOUSEHOLD)


def test_role_may_be_given_by_name():
    assert can_see_personal_data("grid_manager", GRID, HOUSEHOLD)


def test_unknown_role_sees_nothing():
    assert not can_see_personal_data("superuser", DISTRICT, HOUSEHOLD)


def test_malformed_subject_is_never_visible():
    assert not can_see_personal_data(Role.ADMIN, DISTRICT, "3707050010")


# --- party organisation chain -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "level"),
    [
        (PartyOrgKind.BIG_WORKING_COMMITTEE, Level.STREET),
        (PartyOrgKind.BIG_PARTY_COMMITTEE, Level.COMMUNITY),
        (PartyOrgKind.BIG_BRANCH, Level.GRID),
        (PartyOrgKind.PARTY_GROUP, Level.BUILDING),
        (PartyOrgKind.CENTRAL_HOUSEHOLD, Level.HOUSEHOLD),
    ],
)
def test_party_org_kind_binds_to_its_level(kind, level):
    assert kind.level is level
    assert party_org_kind_for_level(level) is kind


def test_every_party_org_kind_has_a_level():
    assert set(PARTY_ORG_LEVELS) == set(PartyOrgKind)


def test_party_chain_runs_down_the_tree():
    levels = [kind.level for kind in PartyOrgKind]
    assert levels == [Level.STREET, Level.COMMUNITY, Level.GRID, Level.BUILDING, Level.HOUSEHOLD]


@pytest.mark.parametrize("level", [Level.DISTRICT, Level.UNIT])
def test_levels_without_a_party_org_kind(level):
    assert party_org_kind_for_level(level) is None


# --- 六有 -------------------------------------------------------------------------------------


def _all_met() -> dict[str, object]:
    return {item: SixHavesEntry(met=True, evidence=f"{item} 照片") for item in SIX_HAVES}


def test_six_haves_items_are_in_order():
    assert SIX_HAVES == ("funds", "venue", "rules", "staff_on_duty", "signage", "service_commitment")


def test_fully_evidenced_checklist_has_no_shortfall():
    assert six_haves_shortfall(_all_met()) == []


def test_item_marked_true_without_evidence_does_not_count():
    checklist = _all_met() | {"venue": True}
    assert six_haves_shortfall(checklist) == ["venue"]


@pytest.mark.parametrize("evidence", ["", "   ", None])
def test_item_with_blank_evidence_does_not_count(evidence):
    checklist = _all_met() | {"signage": {"met": True, "evidence": evidence}}
    assert six_haves_shortfall(checklist) == ["signage"]


def test_item_with_evidence_but_not_marked_does_not_count():
    checklist = _all_met() | {"funds": SixHavesEntry(met=False, evidence="账本")}
    assert six_haves_shortfall(checklist) == ["funds"]


def test_item_marked_with_a_truthy_string_does_not_count():
    checklist = _all_met() | {"rules": {"met": "yes", "evidence": "制度上墙"}}
    assert six_haves_shortfall(checklist) == ["rules"]


def test_missing_items_are_listed_in_six_haves_order():
    checklist = {"venue": SixHavesEntry(True, "活动室"), "funds": SixHavesEntry(True, "拨款文件")}
    assert six_haves_shortfall(checklist) == ["rules", "staff_on_duty", "signage", "service_commitment"]


def test_mapping_and_pair_entries_count_with_evidence():
    checklist = _all_met() | {"funds": {"met": True, "evidence": "拨款文件"}, "venue": (True, "活动室")}
    assert six_haves_shortfall(checklist) == []


def test_empty_checklist_misses_everything():
    assert six_haves_shortfall({}) == list(SIX_HAVES)


def test_unknown_checklist_item_is_refused():
    with pytest.raises(ValueError, match="staff"):
        six_haves_shortfall(_all_met() | {"staff": True})


def test_unsupported_entry_shape_is_refused():
    with pytest.raises(ValueError, match="venue"):
        six_haves_shortfall(_all_met() | {"venue": "活动室"})
