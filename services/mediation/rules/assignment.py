"""Assigning a mediator (人民调解员) to a case: scope, level, conflicts of interest, the parties' wishes, load.

A mediator serves the org unit of their scope code. A case at a ladder level is served by the unit at that
level above the place of the dispute: a grid-level case by its grid's mediators, a street-level case by its
street's mediators, and so on. So a mediator is eligible only if their scope code equals the case place's
ancestor at the case's level; that also means the place lies within the mediator's scope.

Org codes: district 6 digits, street 9, community 12, grid = community + a serial (3 digits by default).

Each candidate who is left out gets one reason, the first that applies in this order: out of scope, level
mismatch, is a party, same household as a party, refused by a party. Among the rest, the mediators the
parties chose come first; then the one with the fewest open cases, ties broken by mediator id.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from services.mediation.rules.consent import apply_mediator_preferences
from services.mediation.rules.ladder import Level

DEFAULT_GRID_SERIAL_WIDTH = 3


class ExclusionReason(StrEnum):
    """Why a candidate mediator cannot take a case."""

    OUT_OF_SCOPE = "out_of_scope"
    LEVEL_MISMATCH = "level_mismatch"
    IS_PARTY = "is_party"
    SAME_HOUSEHOLD = "same_household"
    REFUSED_BY_PARTY = "refused_by_party"


@dataclass(frozen=True)
class Mediator:
    """A mediator and the org unit they serve."""

    mediator_id: str
    person_id: str
    scope_code: str
    household_id: str | None = None


@dataclass(frozen=True)
class Party:
    """A party to a dispute, as far as conflicts of interest go."""

    person_id: str
    household_id: str | None = None


@dataclass(frozen=True)
class CaseToAssign:
    """What assignment needs to know about a case."""

    case_id: str
    level: Level
    place_code: str
    parties: Sequence[Party]
    chosen_mediator_ids: Collection[str] = field(default_factory=frozenset)
    refused_mediator_ids: Collection[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Assignment:
    """The mediator picked, whether the parties chose them, and why each other candidate was left out."""

    mediator_id: str
    excluded: Mapping[str, ExclusionReason]
    by_party_choice: bool


class NoEligibleMediator(Exception):
    """No candidate may take the case; `excluded` says why for each."""

    status_code: ClassVar[int] = 409
    rule: ClassVar[str] = "mediation.no_eligible_mediator"

    def __init__(self, case_id: str, excluded: Mapping[str, ExclusionReason]) -> None:
        reasons = ", ".join(f"{mid}: {why}" for mid, why in sorted(excluded.items())) or "no candidates"
        super().__init__(f"no eligible mediator for case {case_id} ({reasons})")
        self.case_id = case_id
        self.excluded = dict(excluded)


def _code_length(level: Level, grid_serial_width: int) -> int:
    return {
        Level.DISTRICT: 6,
        Level.STREET: 9,
        Level.COMMUNITY: 12,
        Level.GRID: 12 + grid_serial_width,
    }[Level(level)]


def unit_level(code: str, grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH) -> Level | None:
    """Returns the ladder level of an org unit code, or None for codes below the grid."""
    for level in Level:
        if len(code) == _code_length(level, grid_serial_width):
            return level
    return None


def ancestor_code(code: str, level: Level, grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH) -> str:
    """Returns the code of the unit at `level` that contains the place `code`."""
    if not code.isdigit():
        raise ValueError(f"place_code: must be digits, got {code!r}")
    length = _code_length(level, grid_serial_width)
    if len(code) < length:
        raise ValueError(f"place_code: {code} is not inside any {Level(level)} unit")
    return code[:length]


def levels_leaving_unit(
    old_code: str, new_code: str, grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH
) -> list[Level]:
    """Returns the ladder levels at which a place under a moved unit comes under another unit: the levels above the
    unit where its old and new codes part (a grid moved to another community of its street keeps its street). At the
    unit's own level and below, the units move along and only their codes change."""
    levels = []
    for level in Level:
        length = _code_length(level, grid_serial_width)
        if length < len(old_code) and old_code[:length] != new_code[:length]:
            levels.append(level)
    return levels


def exclusion_reason(
    case: CaseToAssign, mediator: Mediator, grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH
) -> ExclusionReason | None:
    """Returns why a mediator cannot take the case, or None if they can."""
    unit = ancestor_code(case.place_code, case.level, grid_serial_width)
    if not case.place_code.startswith(mediator.scope_code):
        return ExclusionReason.OUT_OF_SCOPE
    if mediator.scope_code != unit:
        return ExclusionReason.LEVEL_MISMATCH
    if any(mediator.person_id == party.person_id for party in case.parties):
        return ExclusionReason.IS_PARTY
    if mediator.household_id is not None and any(
        mediator.household_id == party.household_id for party in case.parties
    ):
        return ExclusionReason.SAME_HOUSEHOLD
    if mediator.mediator_id in case.refused_mediator_ids:
        return ExclusionReason.REFUSED_BY_PARTY
    return None


def pick_mediator(
    case: CaseToAssign,
    candidates: Sequence[Mediator],
    open_counts: Mapping[str, int],
    *,
    grid_serial_width: int = DEFAULT_GRID_SERIAL_WIDTH,
    current: str | None = None,
) -> Assignment:
    """Picks the mediator for a case, preferring the parties' choice, then the lightest load, then the `current`
    mediator (a re-pick that changes nothing keeps the file where it is)."""
    ids = [m.mediator_id for m in candidates]
    if len(ids) != len(set(ids)):
        raise ValueError("candidates: a mediator appears twice")
    for mediator_id, count in open_counts.items():
        if count < 0:
            raise ValueError(f"open_counts.{mediator_id}: must not be negative")

    excluded: dict[str, ExclusionReason] = {}
    eligible: list[Mediator] = []
    for mediator in candidates:
        reason = exclusion_reason(case, mediator, grid_serial_width)
        if reason is None:
            eligible.append(mediator)
        else:
            excluded[mediator.mediator_id] = reason
    if not eligible:
        raise NoEligibleMediator(case.case_id, excluded)

    # Refusals were already applied above, so only the chosen/others split matters here.
    preferences = apply_mediator_preferences(eligible, case.chosen_mediator_ids, ())
    pool = preferences.chosen or preferences.others
    picked = min(pool, key=lambda m: (open_counts.get(m.mediator_id, 0), m.mediator_id != current, m.mediator_id))
    return Assignment(
        mediator_id=picked.mediator_id,
        excluded=excluded,
        by_party_choice=bool(preferences.chosen),
    )
