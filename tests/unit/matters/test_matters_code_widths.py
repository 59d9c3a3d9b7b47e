"""A matter's scope and vote scope follow the registry's code scheme, whatever the grid serial's width."""

from __future__ import annotations

import pytest

from services.matters.rules.routing import ScopeLevel
from services.matters.service import CodeWidths

COMMUNITY = "370705001001"


@pytest.mark.parametrize("width", [3, 4])
def test_each_level_is_told_by_its_length(width):
    codes = CodeWidths(width)
    grid = COMMUNITY + "1".zfill(width)
    building, unit = grid + "003", grid + "003" + "01"
    household = unit + "0301"
    assert [codes.scope_of(c) for c in ("370705001", COMMUNITY, grid, building, unit, household)] == [
        ScopeLevel.COMMUNITY, ScopeLevel.COMMUNITY, ScopeLevel.GRID, ScopeLevel.BUILDING, ScopeLevel.UNIT,
        ScopeLevel.UNIT]
    assert codes.unit == len(unit) and codes.household == len(household)
    assert codes.vote_scope(household) == unit and codes.vote_scope(building) == building


def test_a_code_today_follows_the_longest_recorded_move_above_it():
    from services.matters.repository import today

    moves = {"370705001001": "370705002007", "370705001001003": "370705003001001"}  # the community, then one grid
    assert today("370705001001002", moves) == "370705002007002"  # moved with its community
    assert today("370705001001003001", moves) == "370705003001001001"  # its grid moved on its own
    assert today("370705001002", moves) == "370705001002"  # never moved
    assert today("370705001001", {}) == "370705001001"
