"""Coverage targets over plain inputs: liaison departments, party-member contacts, staffing ratios, 六有.

The targets: every community has a liaison department (居居有部门包靠), every household a visiting
cadre and a party-member contact (户户有干部走访、人人有党员联系), a grid manager serves at most 200
households and a community worker at most 300, every community has a legal adviser, every grid's big
branch meets the six haves. Each function returns the offenders sorted by code, so code order is
tree order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from services.registry.rules.roles import SIX_HAVES, six_haves_shortfall

__all__ = [
    "CommunityLoad",
    "CoverageReport",
    "CoverageSnapshot",
    "CoverageThresholds",
    "GridLoad",
    "SixHavesGap",
    "communities_over_worker_ratio",
    "communities_without_legal_adviser",
    "communities_without_liaison",
    "coverage_report",
    "grid_branches_failing_six_haves",
    "grids_over_ratio",
    "households_without_party_contact",
    "households_without_visiting_cadre",
]


@dataclass(frozen=True)
class CoverageThresholds:
    """Staffing ratios: the most households one person may serve."""

    max_households_per_grid_manager: int = 200
    max_households_per_community_worker: int = 300

    def __post_init__(self) -> None:
        for name in ("max_households_per_grid_manager", "max_households_per_community_worker"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer")


def _check_counts(code: str, **counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{code}: {name} must be a non-negative integer")


@dataclass(frozen=True)
class GridLoad:
    """A grid's code, its number of households and of grid managers serving it."""

    code: str
    households: int
    grid_managers: int

    def __post_init__(self) -> None:
        _check_counts(self.code, households=self.households, grid_managers=self.grid_managers)


@dataclass(frozen=True)
class CommunityLoad:
    """A community's code, its number of households and of community workers serving it."""

    code: str
    households: int
    community_workers: int

    def __post_init__(self) -> None:
        _check_counts(self.code, households=self.households, community_workers=self.community_workers)


@dataclass(frozen=True)
class SixHavesGap:
    """A grid whose big branch misses some of the six haves (all six when no checklist exists)."""

    grid_code: str
    missing: tuple[str, ...]


def _uncovered(codes: Iterable[str], covered: Iterable[str]) -> list[str]:
    return sorted(set(codes) - set(covered))


def _over(households: int, staff: int, max_per_staff: int) -> bool:
    # A unit with households and nobody to serve them is over any ratio.
    return households > staff * max_per_staff


def communities_without_liaison(
    community_codes: Iterable[str], liaison_community_codes: Iterable[str]
) -> list[str]:
    """Returns the communities no department is bound to (居居有部门包靠 unmet)."""
    return _uncovered(community_codes, liaison_community_codes)


def households_without_party_contact(
    household_codes: Iterable[str], contacted_household_codes: Iterable[str]
) -> list[str]:
    """Returns the households no party member is assigned to contact (人人有党员联系 unmet)."""
    return _uncovered(household_codes, contacted_household_codes)


def households_without_visiting_cadre(
    household_codes: Iterable[str], visited_household_codes: Iterable[str]
) -> list[str]:
    """Returns the households no cadre is assigned to visit (户户有干部走访 unmet)."""
    return _uncovered(household_codes, visited_household_codes)


def grids_over_ratio(
    grids: Iterable[GridLoad], thresholds: CoverageThresholds = CoverageThresholds()
) -> list[str]:
    """Returns the grids with more households than their grid managers may serve."""
    limit = thresholds.max_households_per_grid_manager
    return sorted(g.code for g in grids if _over(g.households, g.grid_managers, limit))


def communities_over_worker_ratio(
    communities: Iterable[CommunityLoad], thresholds: CoverageThresholds = CoverageThresholds()
) -> list[str]:
    """Returns the communities with more households than their community workers may serve."""
    limit = thresholds.max_households_per_community_worker
    return sorted(c.code for c in communities if _over(c.households, c.community_workers, limit))


def communities_without_legal_adviser(
    community_codes: Iterable[str], adviser_community_codes: Iterable[str]
) -> list[str]:
    """Returns the communities with no legal adviser (一社区一法律顾问 unmet)."""
    return _uncovered(community_codes, adviser_community_codes)


def grid_branches_failing_six_haves(
    checklists: Mapping[str, Mapping[str, object]], grid_codes: Iterable[str] = ()
) -> list[SixHavesGap]:
    """Returns the grids whose big branch misses any of the six haves; an unchecked listed grid misses all."""
    gaps = []
    for code in sorted(set(checklists) | set(grid_codes)):
        missing = six_haves_shortfall(checklists[code]) if code in checklists else list(SIX_HAVES)
        if missing:
            gaps.append(SixHavesGap(grid_code=code, missing=tuple(missing)))
    return gaps


@dataclass(frozen=True)
class CoverageSnapshot:
    """Everything coverage_report needs, as codes and counts.

    `*_community_codes` / `*_household_codes` list the units that are covered (duplicates allowed);
    `six_haves_checklists` maps a grid code to its branch's checklist (see six_haves_shortfall).
    """

    community_codes: Collection[str] = ()
    household_codes: Collection[str] = ()
    liaison_community_codes: Collection[str] = ()
    adviser_community_codes: Collection[str] = ()
    party_contacted_household_codes: Collection[str] = ()
    cadre_visited_household_codes: Collection[str] = ()
    grids: tuple[GridLoad, ...] = ()
    communities: tuple[CommunityLoad, ...] = ()
    six_haves_checklists: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


@dataclass(frozen=True)
class CoverageReport:
    """The offenders of every coverage target."""

    communities_without_liaison: list[str]
    communities_without_legal_adviser: list[str]
    households_without_party_contact: list[str]
    households_without_visiting_cadre: list[str]
    grids_over_ratio: list[str]
    communities_over_worker_ratio: list[str]
    grid_branches_failing_six_haves: list[SixHavesGap]

    @property
    def all_met(self) -> bool:
        """Tells whether every target is met."""
        return not any(getattr(self, name) for name in self.__dataclass_fields__)


def coverage_report(
    snapshot: CoverageSnapshot, thresholds: CoverageThresholds = CoverageThresholds()
) -> CoverageReport:
    """Computes every coverage target over one snapshot."""
    return CoverageReport(
        communities_without_liaison=communities_without_liaison(
            snapshot.community_codes, snapshot.liaison_community_codes
        ),
        communities_without_legal_adviser=communities_without_legal_adviser(
            snapshot.community_codes, snapshot.adviser_community_codes
        ),
        households_without_party_contact=households_without_party_contact(
            snapshot.household_codes, snapshot.party_contacted_household_codes
        ),
        households_without_visiting_cadre=households_without_visiting_cadre(
            snapshot.household_codes, snapshot.cadre_visited_household_codes
        ),
        grids_over_ratio=grids_over_ratio(snapshot.grids, thresholds),
        communities_over_worker_ratio=communities_over_worker_ratio(snapshot.communities, thresholds),
        grid_branches_failing_six_haves=grid_branches_failing_six_haves(
            snapshot.six_haves_checklists, (g.code for g in snapshot.grids)
        ),
    )
