"""Who may see a case file: the current mediator, and supervisors at or above the case's level in scope."""

import pytest

from services.mediation.rules.access import ScopeGrant, may_see_case, place_level, supervises, visible_levels
from services.mediation.rules.ladder import Level
from services.mediation.settings import Settings

GRID = "370705001001001"


def sees(grants, level=Level.GRID, viewer="someone", mediator=None):
    return may_see_case(viewer, grants, place_code=GRID + "0010100001", level=level, mediator_person_id=mediator)


def test_assigned_mediator_sees_the_case_while_holding_a_mediators_role_at_its_unit():
    assert sees([ScopeGrant("mediator", GRID)], viewer="m-1", mediator="m-1")
    assert sees([ScopeGrant("mediator", GRID[:12])], level=Level.COMMUNITY, viewer="m-1", mediator="m-1")
    # A grid case's mediator whose grid role was revoked does not keep it through a role at the community (a level
    # they are never assigned grid cases at).
    assert not sees([ScopeGrant("mediator", GRID[:12])], viewer="m-1", mediator="m-1")
    # A revoked role (no grant), or one elsewhere, ends the assigned mediator's sight of the file.
    assert not sees([], viewer="m-1", mediator="m-1")
    assert not sees([ScopeGrant("mediator", "370705001001002")], viewer="m-1", mediator="m-1")
    assert not sees([ScopeGrant("grid_manager", "370705001001002")], viewer="m-1", mediator="m-1")


def test_mediator_grant_of_the_same_grid_alone_does_not_show_the_case():
    assert not sees([ScopeGrant("mediator", GRID)], viewer="m-2", mediator="m-1")


def test_grid_staff_see_grid_cases_of_their_grid_only():
    assert sees([ScopeGrant("grid_manager", GRID)])
    assert not sees([ScopeGrant("grid_manager", "370705001001002")])


def test_grid_staff_lose_sight_of_a_case_escalated_to_the_community():
    assert not sees([ScopeGrant("grid_manager", GRID)], level=Level.COMMUNITY)
    assert sees([ScopeGrant("community_staff", GRID[:12])], level=Level.COMMUNITY)


def test_street_staff_see_every_level_up_to_the_street_but_not_the_district():
    grants = [ScopeGrant("street_staff", GRID[:9])]
    assert all(sees(grants, level=lv) for lv in (Level.GRID, Level.COMMUNITY, Level.STREET))
    assert not sees(grants, level=Level.DISTRICT)


def test_a_resident_grant_covering_the_place_does_not_show_the_case():
    assert not sees([ScopeGrant("resident", GRID)])


def test_visible_levels_follow_the_scope_length():
    assert visible_levels(GRID[:12]) == (Level.GRID, Level.COMMUNITY)
    assert visible_levels("370705") == (Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT)


def test_place_level_is_the_grid_for_anything_inside_a_grid():
    assert place_level(GRID + "001") is Level.GRID
    assert place_level(GRID[:12]) is Level.COMMUNITY
    assert place_level("370705") is Level.DISTRICT


def test_supervises_needs_a_supervising_role():
    assert supervises([ScopeGrant("admin", "3707")], GRID, Level.DISTRICT)
    assert not supervises([ScopeGrant("mediator", "370705")], GRID, Level.DISTRICT)


def test_ladder_settings_are_validated_at_startup(monkeypatch):
    monkeypatch.setenv("MEDIATION_LADDER", '{"time_limit_days": {"village": 3}}')
    with pytest.raises(ValueError, match="time_limit_days.village"):
        Settings()
    monkeypatch.setenv("MEDIATION_LADDER", '{"time_limit_days": {"grid": 3}}')
    assert Settings().ladder_config().days_for(Level.GRID) == 3


def test_every_grid_staff_role_of_the_registry_supervises_its_grid_and_no_made_up_role_does():
    for role in ("grid_manager", "grid_head", "grid_secretary"):
        assert sees([ScopeGrant(role, GRID)]), role
    assert not sees([ScopeGrant("grid_staff", GRID)])  # not a registry role
