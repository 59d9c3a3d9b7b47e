"""Events the registry publishes (mirrored by contracts/events). Ids, codes and roles only: no personal data."""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID

from youmin.kit.events import Event


class RegistryEvent(Event):
    """Base of the registry's events."""

    source: ClassVar[str] = "/youmin/registry"


class UnitEvent(RegistryEvent):
    """Base of org-unit events, keyed by the unit's stable id so one unit's history stays in order."""

    topic: ClassVar[str] = "registry.units"
    key_field: ClassVar[str] = "unit_id"


class UnitCreated(UnitEvent):
    """Published when a new org unit takes effect."""

    type: ClassVar[str] = "gov.youmin.registry.unit.created.v1"

    unit_id: UUID
    unit_code: str
    parent_code: str | None
    level: str
    # Public names of districts, streets, communities and grids only; None below the grid (could locate a home).
    unit_name: str | None = None
    effective_on: date


class UnitRenamed(UnitEvent):
    """Published when a unit (district to grid) takes a new name."""

    type: ClassVar[str] = "gov.youmin.registry.unit.renamed.v1"

    unit_id: UUID
    unit_code: str
    unit_name: str
    effective_on: date


class UnitMoved(UnitEvent):
    """Published when a unit moves under another parent; it and its descendants take new codes."""

    type: ClassVar[str] = "gov.youmin.registry.unit.moved.v1"

    unit_id: UUID
    old_code: str
    new_code: str
    new_parent_code: str
    effective_on: date


class UnitRetired(UnitEvent):
    """Published when a unit is retired; its code is never reused."""

    type: ClassVar[str] = "gov.youmin.registry.unit.retired.v1"

    unit_id: UUID
    unit_code: str
    effective_on: date


class PeopleEvent(RegistryEvent):
    """Base of people, household and assignment events."""

    topic: ClassVar[str] = "registry.people"


class RoleGranted(PeopleEvent):
    """Published when a person takes a role at an org unit."""

    type: ClassVar[str] = "gov.youmin.registry.role.granted.v1"
    key_field: ClassVar[str] = "person_id"

    grant_id: UUID
    person_id: UUID
    role: str
    scope_code: str
    certified_social_worker: bool = False
    effective_on: date


class RoleRevoked(PeopleEvent):
    """Published when a person's role ends."""

    type: ClassVar[str] = "gov.youmin.registry.role.revoked.v1"
    key_field: ClassVar[str] = "person_id"

    grant_id: UUID
    person_id: UUID
    role: str
    scope_code: str
    effective_on: date


class ResidencyChanged(PeopleEvent):
    """Published when a person joins, leaves or changes household, or comes of age (18+).

    `adult` is the voting eligibility on `effective_on`; the birth date itself never leaves the registry.
    """

    type: ClassVar[str] = "gov.youmin.registry.residency.changed.v1"
    key_field: ClassVar[str] = "person_id"

    person_id: UUID
    household_code: str | None
    adult: bool
    effective_on: date


class HouseholdRepresentativeSet(PeopleEvent):
    """Published when a household names its representative or records a proxy (户决制)."""

    type: ClassVar[str] = "gov.youmin.registry.household.representative_set.v1"
    key_field: ClassVar[str] = "household_code"

    household_code: str
    representative_person_id: UUID | None
    proxy_person_ids: list[UUID] = []
    effective_on: date


class DepartmentAssigned(PeopleEvent):
    """Published when a department is assigned to a community (部门包居), or the assignment ends."""

    type: ClassVar[str] = "gov.youmin.registry.department.assigned.v1"
    key_field: ClassVar[str] = "community_code"

    department_code: str
    community_code: str
    active: bool
    effective_on: date
