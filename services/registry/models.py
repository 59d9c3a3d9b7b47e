"""Tables of the registry service.

Org units (district down to household) form one tree keyed by a stable `unit_id`; the code is the
prefix-structured national code (collation "C", so prefix ranges use the btree index). Personal data
lives in `person_personal`, apart from everything else, and never leaves the service unmasked.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from youmin.kit.db import make_base
from youmin.kit.outbox import messaging_tables

Base = make_base()
outbox_event, inbox_event = messaging_tables(Base.metadata)

CODE = Text(collation="C")


class OrgUnit(Base):
    """A unit of the org tree: district, street, community, grid, building, unit or household."""

    __tablename__ = "org_unit"

    unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(CODE, unique=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.unit_id"))
    level: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    effective_on: Mapped[date] = mapped_column(Date, server_default=func.current_date())
    retired_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_org_unit_level_code", "level", "code"),
        # The live units alone: a count of the households under a street reads this index and no row.
        Index("ix_org_unit_live_level_code", "level", "code", postgresql_where=text("retired_on IS NULL")),
        Index("ix_org_unit_parent_id", "parent_id"),
    )


class OrgUnitHistory(Base):
    """One rename, move or retirement of a unit, with its effective date."""

    __tablename__ = "org_unit_history"

    history_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.unit_id"), index=True)
    change: Mapped[str] = mapped_column(Text)  # created | renamed | moved | recoded (below a move) | retired
    old_code: Mapped[str | None] = mapped_column(CODE)
    new_code: Mapped[str | None] = mapped_column(CODE)
    old_name: Mapped[str | None] = mapped_column(Text)
    new_name: Mapped[str | None] = mapped_column(Text)
    effective_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RetiredCode(Base):
    """A code that was retired (or left behind by a move) and is never issued again."""

    __tablename__ = "retired_code"

    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.unit_id"))
    retired_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)  # retired | moved


class PartyOrg(Base):
    """A party organisation bound to one org unit (大工委, 大党委, 大支部, 党小组, 党员中心户)."""

    __tablename__ = "party_org"

    party_org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.unit_id"), unique=True)
    kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    # 六有 checklist of a grid's big branch: {item: {"met": bool, "evidence": str}}.
    six_haves: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class Person(Base):
    """A person: the non-personal part (id and household)."""

    __tablename__ = "person"

    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.unit_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # 18 or older, as last published (residency.changed): the day someone comes of age is published once.
    adult: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))

    __table_args__ = (Index("ix_person_minor", "person_id", postgresql_where=text("NOT adult")),)


class PersonPersonal(Base):
    """A person's personal data, kept apart: masked on read, never on the bus."""

    __tablename__ = "person_personal"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.person_id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text, unique=True)
    id_number: Mapped[str | None] = mapped_column(Text, unique=True)
    birth_date: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(Text)


class RoleGrant(Base):
    """A role a person holds at an org unit (the scope), active until revoked."""

    __tablename__ = "role_grant"

    grant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.person_id"), index=True)
    role: Mapped[str] = mapped_column(Text)
    scope_code: Mapped[str] = mapped_column(CODE)
    certified_social_worker: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Part-time committee members come from a resident unit or organisation (兼职委员).
    from_organisation: Mapped[str | None] = mapped_column(Text)
    effective_on: Mapped[date] = mapped_column(Date, server_default=func.current_date())
    revoked_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ix_role_grant_role_scope_code", "role", "scope_code"),
        Index("uq_role_grant_active", "person_id", "role", "scope_code", unique=True,
              postgresql_where=text("revoked_on IS NULL")),
        # One legal adviser per community (a conflict names scope_code).
        Index("uq_role_grant_scope_code", "scope_code", unique=True,
              postgresql_where=text("role = 'legal_adviser' AND revoked_on IS NULL")),
    )


class Household(Base):
    """A household (an org unit of level household) with its representative for the household vote."""

    __tablename__ = "household"

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.unit_id"), primary_key=True)
    representative_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.person_id"))


class HouseholdProxy(Base):
    """A recorded proxy who may cast a household's vote (户决制)."""

    __tablename__ = "household_proxy"

    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.unit_id"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.person_id"), primary_key=True)


class HouseholdContact(Base):
    """A party member linked to a household (党员联户) or a cadre assigned to visit it (干部走访)."""

    __tablename__ = "household_contact"

    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.unit_id"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.person_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(Text, primary_key=True)  # party_member | visiting_cadre


class Department(Base):
    """A member of the joint conference: city-level unit, district department or specialised committee."""

    __tablename__ = "department"

    department_code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)  # city_unit | district_department | committee


class DepartmentAssignment(Base):
    """A department bound to a community (部门包居)."""

    __tablename__ = "department_assignment"

    department_code: Mapped[str] = mapped_column(ForeignKey("department.department_code"), primary_key=True)
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.unit_id"), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    effective_on: Mapped[date] = mapped_column(Date, server_default=func.current_date())


class SocialOrganisation(Base):
    """A community social organisation (社区社会组织)."""

    __tablename__ = "social_organisation"

    organisation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.unit_id"), index=True)
    name: Mapped[str] = mapped_column(Text)


class Credential(Base):
    """A person's log-in password (argon2 hash)."""

    __tablename__ = "credential"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.person_id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ImportJob(Base):
    """One bulk CSV import: what, its outcome and its per-row error report."""

    __tablename__ = "import_job"

    import_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(Text)  # units | households | people
    source_name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # running | succeeded | failed
    rows_read: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_created: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    error_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    errors: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
