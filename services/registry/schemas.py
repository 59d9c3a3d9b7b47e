"""Request and response bodies of the registry API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, field_validator

from services.registry.rules.roles import MAX_PROXIES
from youmin.kit.errors import RequestBody
from youmin.kit.pii import PiiValidationError, validate_id_number, validate_mobile


class Strict(RequestBody):
    """Base of request bodies (see RequestBody)."""


class UnitRead(BaseModel):
    """An org unit."""

    unit_id: UUID
    code: str
    level: str
    name: str
    parent_code: str | None
    effective_on: date
    retired_on: date | None = None


class UnitWithAncestors(UnitRead):
    """An org unit and the units above it, from the district down."""

    ancestors: list[UnitRead]


class UnitCreate(Strict):
    """Creates an org unit under an existing parent."""

    code: str = Field(min_length=1, max_length=40)
    parent_code: str | None = Field(default=None, max_length=40)
    level: str | None = None
    name: str = Field(min_length=1, max_length=100)
    effective_on: date | None = None


class UnitRename(Strict):
    """Gives a unit a new name from a date."""

    name: str = Field(min_length=1, max_length=100)
    effective_on: date | None = None


class UnitMove(Strict):
    """Moves a unit under another parent; it takes a new code (its descendants too)."""

    new_parent_code: str = Field(min_length=1, max_length=40)
    new_code: str = Field(min_length=1, max_length=40)
    effective_on: date | None = None


class UnitRetire(Strict):
    """Retires a unit; its code is never issued again."""

    effective_on: date | None = None


class UnitHistoryRead(BaseModel):
    """One rename, move or retirement."""

    change: str
    old_code: str | None
    new_code: str | None
    old_name: str | None
    new_name: str | None
    effective_on: date


class PersonalData(BaseModel):
    """A person's personal data (masked unless the caller may see it)."""

    name: str
    phone: str | None
    id_number: str | None
    birth_date: date | None
    address: str | None
    masked: bool


class PersonCreate(Strict):
    """Registers a person with personal data, optionally in a household."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    id_number: str
    phone: str | None = None
    address: str | None = Field(default=None, max_length=200)
    household_code: str | None = Field(default=None, pattern=r"^[1-9][0-9]{11,29}$",
                                       description="the household's code; leave it out for someone living elsewhere")

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        try:
            return validate_id_number(value)
        except PiiValidationError as exc:
            raise ValueError(exc.reason) from None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate_mobile(value)
        except PiiValidationError as exc:
            raise ValueError(exc.reason) from None


class PersonRead(BaseModel):
    """A person: ids, household, adult flag and (masked) personal data."""

    person_id: UUID
    household_code: str | None
    adult: bool | None
    personal: PersonalData


class GrantCreate(Strict):
    """Grants a role at a scope."""

    person_id: UUID
    role: str
    scope_code: str
    certified_social_worker: bool = False
    from_organisation: str | None = Field(default=None, max_length=100)
    effective_on: date | None = None


class GrantRead(BaseModel):
    """A role a person holds at a scope."""

    grant_id: UUID
    person_id: UUID
    role: str
    scope_code: str
    certified_social_worker: bool
    from_organisation: str | None
    effective_on: date
    revoked_on: date | None


class RoleHolder(BaseModel):
    """A person holding a role, with masked personal data unless the caller may see it."""

    grant_id: UUID
    person_id: UUID
    role: str
    scope_code: str
    certified_social_worker: bool
    personal: PersonalData


class HouseholdRead(BaseModel):
    """A household, its representative, proxies and members."""

    household_code: str
    representative_person_id: UUID | None
    proxy_person_ids: list[UUID]
    members: list[PersonRead]


class HouseholdPage(BaseModel):
    """A page of households under a unit; pass `next_after` as `after` for the next page."""

    unit_code: str
    total: int
    households: list[HouseholdRead]
    next_after: str | None


class RepresentativeSet(Strict):
    """Names a household's representative and its proxies (户决制)."""

    representative_person_id: UUID | None
    proxy_person_ids: list[UUID] = Field(default=[], max_length=MAX_PROXIES)
    effective_on: date | None = None


class DepartmentRead(BaseModel):
    """A member of the joint conference."""

    department_code: str
    name: str
    kind: str
    community_codes: list[str]


class AssignmentSet(Strict):
    """Binds a department to a community (部门包居), or ends the binding."""

    community_code: str
    active: bool = True
    effective_on: date | None = None


class ContactCreate(Strict):
    """Links a party member to a household (党员联户) or assigns a visiting cadre."""

    person_id: UUID
    kind: str = Field(default="party_member", pattern="^(party_member|visiting_cadre)$")


class SixHavesItem(BaseModel):
    """One 六有 item: met or not, and its evidence."""

    met: bool
    evidence: str = Field(default="", max_length=500)


class PartyOrgSet(Strict):
    """Binds a party organisation to a unit, with the 六有 checklist for a grid's big branch."""

    name: str = Field(min_length=1, max_length=100)
    six_haves: dict[str, SixHavesItem] = {}


class PartyOrgRead(BaseModel):
    """A party organisation bound to a unit."""

    party_org_id: UUID
    unit_code: str
    kind: str
    name: str
    six_haves: dict[str, SixHavesItem]
    six_haves_missing: list[str] | None


class ListOf(BaseModel):
    """A list with its full count (the list may be cut to `limit`)."""

    count: int
    items: list[str]


class SixHavesGapRead(BaseModel):
    """A grid branch failing 六有."""

    grid_code: str
    missing: list[str]


class CoverageRead(BaseModel):
    """The coverage report of a scope."""

    scope_code: str
    communities_without_liaison: ListOf
    households_without_party_contact: ListOf
    households_without_visiting_cadre: ListOf
    grids_over_ratio: ListOf
    communities_over_worker_ratio: ListOf
    communities_without_legal_adviser: ListOf
    grid_branches_failing_six_haves: list[SixHavesGapRead]
    grid_branches_failing_six_haves_count: int
    all_met: bool


class ImportRead(BaseModel):
    """An import's status and error report."""

    import_id: UUID
    kind: str
    source_name: str
    status: str
    rows_read: int
    rows_created: int
    error_count: int
    errors: list[dict]


class CredentialCheck(Strict):
    """A phone number and password to verify."""

    phone: str = Field(min_length=1, max_length=30)
    password: str = Field(min_length=1, max_length=200)


class CredentialLookup(Strict):
    """A phone number to look up (for one-time codes)."""

    phone: str = Field(min_length=1, max_length=30)


class CredentialSet(Strict):
    """Sets a person's password."""

    person_id: UUID
    password: str = Field(min_length=8, max_length=200)


class GrantClaim(BaseModel):
    """A role and scope as tokens carry them."""

    role: str
    scope: str


class LoginIdentity(BaseModel):
    """Who a verified phone belongs to and what they may do."""

    person_id: UUID
    grants: list[GrantClaim]
    # When the person's password was last set: a log-in from before it ends at its next refresh.
    password_changed_at: datetime | None = None
