"""Roles, the org levels their scopes sit at, who sees personal data, and the party organisation chain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.registry.rules.codes import (
    CodeRuleError,
    CodeScheme,
    Level,
    is_within,
    level_of,
)

__all__ = [
    "GRANTED_BY",
    "MAX_PROXIES",
    "PARTY_ORG_LEVELS",
    "PERSONAL_DATA_ROLES",
    "ROLE_SCOPE_LEVELS",
    "SIX_HAVES",
    "STAFF_ROLES",
    "PartyOrgKind",
    "Role",
    "SixHavesEntry",
    "can_see_personal_data",
    "is_valid_scope",
    "party_org_kind_for_level",
    "six_haves_shortfall",
]


class Role(StrEnum):
    """A role a person holds at an org unit (the role's scope)."""

    GRID_SECRETARY = "grid_secretary"  # 网格党支部书记
    GRID_MANAGER = "grid_manager"  # 网格员
    GRID_HEAD = "grid_head"  # 网格长
    BUILDING_HEAD = "building_head"  # 楼长
    UNIT_HEAD = "unit_head"  # 单元长
    RESIDENT_REPRESENTATIVE = "resident_representative"  # 居民代表
    PARTY_MEMBER = "party_member"  # 党员
    PART_TIME_MEMBER = "part_time_member"  # 兼职委员 (of a 大工委 or 大党委)
    COMMUNITY_WORKER = "community_worker"  # 社区工作者
    MEDIATOR = "mediator"  # 人民调解员
    LEGAL_ADVISER = "legal_adviser"  # 法律顾问 (一社区一法律顾问)
    DEPARTMENT_LIAISON = "department_liaison"  # 包居部门联络员 (部门包居)
    COMMUNITY_STAFF = "community_staff"  # 社区干部
    STREET_STAFF = "street_staff"  # 街道工作人员
    DISTRICT_STAFF = "district_staff"  # 区级工作人员
    RESIDENT = "resident"  # 居民
    ADMIN = "admin"  # 系统管理员 (district level)


# The cadres (干部) whose visits count for 户户有干部走访: staff of the grid, the community, the street, the district
# and the departments bound to the community; a visit counts while they hold such a role covering the household.
CADRE_ROLES: frozenset[Role] = frozenset({Role.GRID_SECRETARY, Role.GRID_MANAGER, Role.GRID_HEAD, Role.COMMUNITY_WORKER,
                                          Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.DISTRICT_STAFF,
                                          Role.DEPARTMENT_LIAISON})


# The levels of org unit a role's scope may sit at.
ROLE_SCOPE_LEVELS: Mapping[Role, frozenset[Level]] = {
    Role.GRID_SECRETARY: frozenset({Level.GRID}),
    Role.GRID_MANAGER: frozenset({Level.GRID}),
    Role.GRID_HEAD: frozenset({Level.GRID}),
    Role.BUILDING_HEAD: frozenset({Level.BUILDING}),
    Role.UNIT_HEAD: frozenset({Level.UNIT}),
    Role.RESIDENT_REPRESENTATIVE: frozenset({Level.GRID, Level.BUILDING}),
    Role.PARTY_MEMBER: frozenset({Level.GRID, Level.BUILDING, Level.HOUSEHOLD}),
    Role.PART_TIME_MEMBER: frozenset({Level.STREET, Level.COMMUNITY}),
    Role.COMMUNITY_WORKER: frozenset({Level.COMMUNITY, Level.GRID}),
    Role.MEDIATOR: frozenset({Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT}),
    Role.LEGAL_ADVISER: frozenset({Level.COMMUNITY}),
    Role.DEPARTMENT_LIAISON: frozenset({Level.COMMUNITY}),
    Role.COMMUNITY_STAFF: frozenset({Level.COMMUNITY}),
    Role.STREET_STAFF: frozenset({Level.STREET}),
    Role.DISTRICT_STAFF: frozenset({Level.DISTRICT}),
    Role.RESIDENT: frozenset({Level.HOUSEHOLD}),
    Role.ADMIN: frozenset({Level.DISTRICT}),
}

# Staff who may see unmasked personal data of people within their scope. Mediators are left out:
# they see the parties of their own cases only, which the mediation service decides.
STAFF_ROLES: frozenset[Role] = frozenset(
    {
        Role.GRID_SECRETARY,
        Role.GRID_MANAGER,
        Role.GRID_HEAD,
        Role.COMMUNITY_WORKER,
        Role.COMMUNITY_STAFF,
        Role.STREET_STAFF,
        Role.DISTRICT_STAFF,
        Role.ADMIN,
    }
)

# A household's recorded proxies (户决制: who may cast the household's vote besides its representative) are few; the
# household's event lists them all.
MAX_PROXIES = 10

_ABOVE_COMMUNITY = frozenset({Role.STREET_STAFF, Role.DISTRICT_STAFF, Role.ADMIN})
_COMMUNITY_AND_ABOVE = _ABOVE_COMMUNITY | {Role.COMMUNITY_STAFF}

# Who may grant (and revoke) each role, within their scope: the grid's staff name the building and unit heads, the
# representatives and the party members of their grid; the community's cadres (社区干部) appoint the grid's staff and
# the community's workers, mediators and advisers; the street appoints the community's cadres, the district the
# street's; only an administrator makes another. Nobody grants a role to themselves.
GRANTED_BY: Mapping[Role, frozenset[Role]] = {
    Role.BUILDING_HEAD: STAFF_ROLES,
    Role.UNIT_HEAD: STAFF_ROLES,
    Role.RESIDENT_REPRESENTATIVE: STAFF_ROLES,
    Role.PARTY_MEMBER: STAFF_ROLES,
    Role.GRID_SECRETARY: _COMMUNITY_AND_ABOVE,
    Role.GRID_MANAGER: _COMMUNITY_AND_ABOVE,
    Role.GRID_HEAD: _COMMUNITY_AND_ABOVE,
    Role.COMMUNITY_WORKER: _COMMUNITY_AND_ABOVE,
    Role.MEDIATOR: _COMMUNITY_AND_ABOVE,
    Role.LEGAL_ADVISER: _COMMUNITY_AND_ABOVE,
    Role.DEPARTMENT_LIAISON: _COMMUNITY_AND_ABOVE,
    Role.PART_TIME_MEMBER: _COMMUNITY_AND_ABOVE,
    Role.COMMUNITY_STAFF: _ABOVE_COMMUNITY,
    Role.STREET_STAFF: frozenset({Role.DISTRICT_STAFF, Role.ADMIN}),
    Role.DISTRICT_STAFF: frozenset({Role.ADMIN}),
    Role.ADMIN: frozenset({Role.ADMIN}),
}

# Staff plus building and unit heads, who see the people of their own building or unit.
PERSONAL_DATA_ROLES: frozenset[Role] = STAFF_ROLES | {Role.BUILDING_HEAD, Role.UNIT_HEAD}


def _as_role(role: Role | str) -> Role | None:
    try:
        return Role(role)
    except ValueError:
        return None


def is_valid_scope(role: Role | str, scope_code: str, scheme: CodeScheme | None = None) -> bool:
    """Tells whether a scope code sits at a level the role may hold."""
    known = _as_role(role)
    if known is None:
        return False
    try:
        return level_of(scope_code, scheme) in ROLE_SCOPE_LEVELS[known]
    except CodeRuleError:
        return False


def can_see_personal_data(
    role: Role | str, role_scope: str, subject_unit_code: str, scheme: CodeScheme | None = None
) -> bool:
    """Tells whether a role held at role_scope sees unmasked personal data of a person in that unit."""
    # Unknown roles and scopes at the wrong level are refused: a building head mistakenly scoped
    # to a whole community must not see the community's residents.
    known = _as_role(role)
    if known not in PERSONAL_DATA_ROLES or not is_valid_scope(known, role_scope, scheme):
        return False
    return is_within(subject_unit_code, role_scope, scheme)


# ---------------------------------------------------------------------------------------------
# Party organisation chain


class PartyOrgKind(StrEnum):
    """A kind of party organisation in the chain, each bound to one org-unit level."""

    BIG_WORKING_COMMITTEE = "big_working_committee"  # 街道大工委
    BIG_PARTY_COMMITTEE = "big_party_committee"  # 社区大党委
    BIG_BRANCH = "big_branch"  # 网格大支部
    PARTY_GROUP = "party_group"  # 楼栋党小组
    CENTRAL_HOUSEHOLD = "central_household"  # 党员中心户

    @property
    def level(self) -> Level:
        """Returns the org-unit level this kind binds to."""
        return PARTY_ORG_LEVELS[self]


PARTY_ORG_LEVELS: Mapping[PartyOrgKind, Level] = {
    PartyOrgKind.BIG_WORKING_COMMITTEE: Level.STREET,
    PartyOrgKind.BIG_PARTY_COMMITTEE: Level.COMMUNITY,
    PartyOrgKind.BIG_BRANCH: Level.GRID,
    PartyOrgKind.PARTY_GROUP: Level.BUILDING,
    PartyOrgKind.CENTRAL_HOUSEHOLD: Level.HOUSEHOLD,
}


def party_org_kind_for_level(level: Level) -> PartyOrgKind | None:
    """Returns the party organisation kind bound to an org-unit level, if any."""
    for kind, bound in PARTY_ORG_LEVELS.items():
        if bound is level:
            return kind
    return None


# 六有: what a grid's big branch must have.
SIX_HAVES: tuple[str, ...] = ("funds", "venue", "rules", "staff_on_duty", "signage", "service_commitment")


@dataclass(frozen=True)
class SixHavesEntry:
    """One checklist item: whether it is marked as met and the evidence that shows it."""

    met: bool
    evidence: str = ""


def _entry_counts(item: str, value: object) -> bool:
    if isinstance(value, bool):
        return False  # marked without evidence
    if isinstance(value, SixHavesEntry):
        met, evidence = value.met, value.evidence
    elif isinstance(value, Mapping):
        met, evidence = value.get("met"), value.get("evidence")
    elif isinstance(value, tuple) and len(value) == 2:
        met, evidence = value
    else:
        raise ValueError(
            f"six-haves item {item!r}: expected a bool, SixHavesEntry, mapping or (met, evidence)"
        )
    return met is True and isinstance(evidence, str) and bool(evidence.strip())


def six_haves_shortfall(checklist: Mapping[str, object]) -> list[str]:
    """Returns the 六有 items not met, in order; an item counts only when marked true with evidence."""
    unknown = sorted(set(checklist) - set(SIX_HAVES))
    if unknown:
        raise ValueError(f"unknown six-haves item {unknown[0]!r}")
    return [item for item in SIX_HAVES if not _entry_counts(item, checklist.get(item, False))]
