"""Tables of the mediation service.

Personal data of people outside the registry lives only in `outside_person`; a case row holds codes,
levels and times, plus the confidential description that only the case's mediators and supervisors see.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from youmin.kit.db import make_base
from youmin.kit.outbox import messaging_tables
from youmin.kit.replica import replica_tables

Base = make_base()
outbox_event, inbox_event = messaging_tables(Base.metadata)
replica = replica_tables(Base.metadata)

# Statuses in which the ladder clock runs (the case is being mediated at some level).
OPEN_STATUSES = ("intake", "consent_pending", "mediating")


class MediationCase(Base):
    """A dispute on the ladder: where it stands, at which level, and when the sweep must next look at it."""

    __tablename__ = "mediation_case"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # The place's code as it is today: when its unit (or one above it) moves, the registry replica's consumer re-codes
    # it and the community in the same transaction. The units at the ladder's levels are its ancestors' codes.
    place_code: Mapped[str] = mapped_column(Text)
    community_code: Mapped[str | None] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    dispute_type: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    risk_level: Mapped[str | None] = mapped_column(Text)
    risk_indicators: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    police_flagged: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(Text)
    level_entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The current level's time limit runs out at deadline_at (null once the case left the ladder).
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warning: Mapped[str] = mapped_column(Text, server_default=text("'none'"))
    # The next instant the sweep must act (yellow, red, deadline, confirmation reminder or window end);
    # null when nothing is pending, so the partial index holds only the cases the sweep may touch.
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalations: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    mediator_person_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Derived from the parties' own lists (case_party): refused by any party; chosen by one and refused by none.
    chosen_mediator_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    refused_mediator_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_level: Mapped[str | None] = mapped_column(Text)
    agreement_kind: Mapped[str | None] = mapped_column(Text)
    agreement_signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmation_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmation_applied_on: Mapped[date | None] = mapped_column(Date)
    confirmation_outcome: Mapped[str | None] = mapped_column(Text)
    referred_route: Mapped[str | None] = mapped_column(Text)
    termination_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_mediation_case_next_due_at", "next_due_at", postgresql_where=text("next_due_at IS NOT NULL")),
        Index("ix_mediation_case_place_code", "place_code", postgresql_ops={"place_code": "text_pattern_ops"}),
        Index("ix_mediation_case_opened_at", "opened_at"),
        Index(
            "ix_mediation_case_mediator_open",
            "mediator_person_id",
            postgresql_where=text("status IN ('intake', 'consent_pending', 'mediating')"),
        ),
    )


class OutsidePerson(Base):
    """A party who is not in the registry; the only place their personal data is kept."""

    __tablename__ = "outside_person"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    full_name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    id_number: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseParty(Base):
    """A party to a case (a registry person or an outside person) and their consent to mediation."""

    __tablename__ = "case_party"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mediation_case.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    outside_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("outside_person.id"))
    role: Mapped[str] = mapped_column(Text)
    consent: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    position: Mapped[int] = mapped_column(Integer)
    # This party's own choices and refusals of mediators; the case's lists are derived from every party's.
    chosen_mediator_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    refused_mediator_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))

    __table_args__ = (
        CheckConstraint("(person_id IS NULL) <> (outside_person_id IS NULL)", name="one_identity"),
        UniqueConstraint("case_id", "person_id", name="uq_case_party_case_id_person_id"),
    )


class CaseAssignment(Base):
    """A mediator's assignment to a case at one level; it ends when the case moves up or they are refused."""

    __tablename__ = "case_assignment"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mediation_case.id", ondelete="CASCADE"), index=True)
    mediator_person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    level: Mapped[str] = mapped_column(Text)
    by_party_choice: Mapped[bool] = mapped_column(Boolean)
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CaseSession(Base):
    """A recorded mediation session: when, who attended, what happened."""

    __tablename__ = "case_session"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mediation_case.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(Text)
    held_on: Mapped[date] = mapped_column(Date)
    attendee_party_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    mediator_person_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    summary: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Agreement(Base):
    """A mediation agreement (调解协议), written or oral."""

    __tablename__ = "agreement"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mediation_case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    mediator_person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    reached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AgreementSignature(Base):
    """One signature on a written agreement: a party (by party id) or the mediator (by person id)."""

    __tablename__ = "agreement_signature"

    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agreement.id", ondelete="CASCADE"))
    signer_id: Mapped[str] = mapped_column(Text)
    signer_kind: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (PrimaryKeyConstraint("agreement_id", "signer_id", name="pk_agreement_signature"),)


class CaseHistory(Base):
    """Every move of a case: action, status and level before and after, who and why."""

    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mediation_case.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(Text)
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    from_level: Mapped[str | None] = mapped_column(Text)
    to_level: Mapped[str] = mapped_column(Text)
    automatic: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseWarning(Base):
    """A yellow or red time-limit warning raised for a case at one level."""

    __tablename__ = "case_warning"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mediation_case.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(Text)
    warning: Mapped[str] = mapped_column(Text)
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    # One warning of each colour per stay at a level (a case mediated again at a level starts a new stay).
    __table_args__ = (UniqueConstraint("case_id", "level", "warning", "deadline_at", name="uq_case_warning_case_id"),)


class CaseNotice(Base):
    """A notice given to the parties: the other routes on refusal, the judicial confirmation reminder."""

    __tablename__ = "case_notice"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mediation_case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date | None] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PoliceNotification(Base):
    """A case flagged to the police because it may turn violent (People's Mediation Law art. 25)."""

    __tablename__ = "police_notification"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mediation_case.id", ondelete="CASCADE"), index=True)
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text))
    flagged_by: Mapped[str] = mapped_column(Text)
    flagged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
