"""Tables of the disclosure service.

Only redacted, public content is ever stored in an item: the raw text staff post is redacted before
the row is written, so nothing personal can leak from this database to a public page.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from youmin.kit.db import make_base
from youmin.kit.outbox import Xid8, messaging_tables
from youmin.kit.replica import replica_tables

Base = make_base()
outbox_event, inbox_event = messaging_tables(Base.metadata)
replica = replica_tables(Base.metadata)


class DisclosureItem(Base):
    """One disclosed item (党务, 居务 or 财务) of an org unit."""

    __tablename__ = "disclosure_item"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # Insertion order; with txid it gives the append-only feed cursor (xmin horizon).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False, unique=True)
    txid: Mapped[str] = mapped_column(Xid8, nullable=False, server_default=text("pg_current_xact_id()"))
    # The last change's transaction and order (a trigger sets them on every update): the feed of changes' cursor.
    changed_txid: Mapped[str] = mapped_column(Xid8, nullable=False, server_default=text("pg_current_xact_id()"))
    change_seq: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False)
    unit_code: Mapped[str] = mapped_column(Text, nullable=False)
    community_code: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    content: Mapped[dict] = mapped_column(JSONB, nullable=False)
    major: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # Idempotence key of items built from events ("matter.decided:<id>"); None for staff posts.
    source_key: Mapped[str | None] = mapped_column(Text, unique=True)
    # The names this item's redaction masked, kept to mask them in its questions and answers; never served.
    private_names: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    matter_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    posted_by: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_disclosure_item_unit_published", "unit_code", "published_at", "id",
              postgresql_ops={"unit_code": "text_pattern_ops"}),
        Index("ix_disclosure_item_published", "published_at", "id"),
        Index("ix_disclosure_item_community_kind", "community_code", "kind", "published_at"),
        Index("ix_disclosure_item_matter_id", "matter_id"),
        Index("ix_disclosure_item_changes", "changed_txid", "change_seq"),
    )


class SupervisionQuestion(Base):
    """A resident's question or objection on an item, and the staff answer (监督)."""

    __tablename__ = "supervision_question"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("disclosure_item.id"), nullable=False,
                                               index=True)
    unit_code: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    asked_by: Mapped[str] = mapped_column(Text, nullable=False)
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    answer_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    flagged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_supervision_question_unit_code", "unit_code", postgresql_ops={"unit_code": "text_pattern_ops"}),
        Index("ix_supervision_question_open", "answer_due_at", postgresql_where=text("answered_at IS NULL")),
    )


class PublicMatter(Base):
    """A matter's public progress: stage, tally, implementation and evaluation (no personal data)."""

    __tablename__ = "public_matter"

    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    community_code: Mapped[str] = mapped_column(Text, nullable=False)
    unit_code: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    public_title: Mapped[str | None] = mapped_column(Text)
    # Set once an item of the matter was withdrawn for disclosing personal data: a later decision of the matter (one
    # not passed is routed and decided again) brings its title back neither here nor on any item.
    title_withheld: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    stage: Mapped[str] = mapped_column(Text, nullable=False)
    key_project: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    raised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tally: Mapped[dict | None] = mapped_column(JSONB)
    progress: Mapped[dict | None] = mapped_column(JSONB)
    evaluation: Mapped[dict | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # When each part last changed, by the time of the event that changed it (MatterRepository.upsert): stage; place
    # (community and unit); flags (key project); decision (title, tally, category); evaluation.
    stage_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    place_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    flags_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evaluation_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_public_matter_community_code", "community_code", postgresql_ops={"community_code": "text_pattern_ops"}),
    )


class PublicMatterEvent(Base):
    """One step of a matter's public timeline."""

    __tablename__ = "public_matter_event"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    step: Mapped[str] = mapped_column(Text, nullable=False)
    detail: Mapped[dict] = mapped_column(JSONB, nullable=False)
    # The upstream event ("<source>#<id>") the step came from: a redelivered event adds no second step.
    event_key: Mapped[str | None] = mapped_column(Text, unique=True)


class MediationTally(Base):
    """Counts of mediation outcomes per place, level, dispute type and month; never a single case."""

    __tablename__ = "mediation_tally"

    # The community of the case's place, or the street/district code for cases opened there.
    unit_code: Mapped[str] = mapped_column(Text, primary_key=True)
    level: Mapped[str] = mapped_column(Text, primary_key=True)
    dispute_type: Mapped[str] = mapped_column(Text, primary_key=True)
    period: Mapped[str] = mapped_column(Text, primary_key=True)
    outcome: Mapped[str] = mapped_column(Text, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        Index("ix_mediation_tally_unit_code", "unit_code", postgresql_ops={"unit_code": "text_pattern_ops"}),
    )


class MediationSuccess(Base):
    """Where a case's success (an agreement reached) was counted: a case counts once however many agreements it reaches
    (a new one after the court refused to confirm the first), and a refusal takes the count back from there."""

    __tablename__ = "mediation_success"

    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    unit_code: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    dispute_type: Mapped[str] = mapped_column(Text, nullable=False)
    period: Mapped[str] = mapped_column(Text, nullable=False)


class MediationCountedEvent(Base):
    """Mediation events already counted, by event id, so replicas and replays never count twice."""

    __tablename__ = "mediation_counted_event"

    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    counted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
