"""Who may see a case file (confidentiality, People's Mediation Law art. 15).

A case's details and its parties' personal data are seen by the mediator assigned to it now (while they hold a
mediator's role covering it), and by
supervisors at or above the case's level whose scope covers the place: a grant of a supervising role whose
scope code is a prefix of the case's unit at its level. When a case moves up, the unit at its level gets a
shorter code, so grid staff lose sight of it and the community's staff keep it: visibility moves up.

The parties follow their own case, not its file: where it stands, each party's answer, the agreement they sign and
the notices given to them, without anyone's personal data or the record of the sessions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.mediation.rules.assignment import DEFAULT_GRID_SERIAL_WIDTH, ancestor_code
from services.mediation.rules.ladder import LADDER, Level

# The grid's own staff (网格员, 网格长, 网格党支部书记) hold the first rung of the ladder.
GRID_STAFF_ROLES: frozenset[str] = frozenset({"grid_manager", "grid_head", "grid_secretary"})
SUPERVISOR_ROLES: frozenset[str] = GRID_STAFF_ROLES | {"community_staff", "street_staff", "district_staff", "admin"}
MEDIATOR_ROLE = "mediator"
# Who may take a dispute in: supervisors and mediators whose scope covers the place.
INTAKE_ROLES: frozenset[str] = SUPERVISOR_ROLES | {MEDIATOR_ROLE}
# A resident applies for mediation of a dispute in their own community, as one of its parties; they and the other
# parties follow their own case (where it stands, not the file).
RESIDENT_ROLE = "resident"


def may_apply(grants: Iterable[ScopeGrant], place_code: str) -> bool:
    """Tells whether a resident's grant lets them apply for mediation of a dispute at a place: in their community."""
    return len(place_code) >= 12 and any(g.role == RESIDENT_ROLE and place_code.startswith(g.scope[:12]) for g in grants)


@dataclass(frozen=True)
class ScopeGrant:
    """A role held at an org unit code."""

    role: str
    scope: str


def level_code_length(level: Level, grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH) -> int:
    """Returns the length of the org code of a unit at a ladder level."""
    return {Level.DISTRICT: 6, Level.STREET: 9, Level.COMMUNITY: 12, Level.GRID: 12 + grid_serial_width}[Level(level)]


def code_lengths(grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH) -> dict[int, str]:
    """The lengths of the org codes a dispute can be placed at, and their units: the ladder's levels, then a building
    (3 digits more than its grid) and a building unit (2 more). Not a household (4 more): the case's events carry its
    place, and a household's code would locate a home."""
    grid = 12 + grid_serial_width
    return {6: "district", 9: "street", 12: "community", grid: "grid", grid + 3: "building", grid + 5: "building unit"}


def supervises(
    grants: Iterable[ScopeGrant], place_code: str, level: Level, grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH
) -> bool:
    """Tells whether a supervising grant covers the case's unit at its level."""
    unit = ancestor_code(place_code, level, grid_serial_width)
    return any(g.role in SUPERVISOR_ROLES and unit.startswith(g.scope) for g in grants)


def may_see_case(
    viewer_id: str,
    grants: Iterable[ScopeGrant],
    *,
    place_code: str,
    level: Level,
    mediator_person_id: str | None,
    grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH,
) -> bool:
    """Tells whether a caller may see a case's file: its current mediator, while they hold a mediator's role at the
    case's unit at its level, as assignment asks (a revoked role ends their sight of it, even if they mediate at a
    level above), or a supervisor in scope."""
    grants = list(grants)
    if mediator_person_id is not None and viewer_id == str(mediator_person_id):
        unit = ancestor_code(place_code, level, grid_serial_width)
        if any(g.role == MEDIATOR_ROLE and g.scope == unit for g in grants):
            return True
    return supervises(grants, place_code, level, grid_serial_width)


def visible_levels(scope: str, grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH) -> tuple[Level, ...]:
    """Returns the levels of the cases a supervisor at this scope sees (their own level and below)."""
    return tuple(level for level in LADDER if level_code_length(level, grid_serial_width) >= len(scope))


def place_level(place_code: str, grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH) -> Level:
    """Returns the lowest ladder level whose unit contains the place (the grid for anything inside one)."""
    for level in LADDER:
        if len(place_code) >= level_code_length(level, grid_serial_width):
            return level
    raise ValueError(f"place_code: {place_code} is not inside any district")
