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
