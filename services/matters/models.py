"""Tables of the matters service."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from youmin.kit.db import make_base
from youmin.kit.outbox import Xid8, messaging_tables
from youmin.kit.replica import replica_tables

Base = make_base()
outbox_event, inbox_event = messaging_tables(Base.metadata)

CODE = Text(collation="C")


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class CommunityTemplate(Base):
    """The workflow template a community has chosen (五民主工作法, 四事工作法, 户决制)."""

    __tablename__ = "community_template"

    community_code: Mapped[str] = mapped_column(CODE, primary_key=True)
    template_code: Mapped[str] = mapped_column(Text, nullable=False)
    chosen_by: Mapped[str] = mapped_column(Text, nullable=False)
    chosen_at: Mapped[datetime] = _now()


class Matter(Base):
    """A community matter raised by a resident, grid staff or a department (民事民提)."""

    __tablename__ = "matter"
    __table_args__ = (
        Index("ix_matter_community_code_state", "community_code", "state"),
        Index("ix_matter_unit_code", "unit_code"),
        Index("ix_matter_proposer_sub", "proposer_sub"),
        Index("ix_matter_created_at", "created_at"),
        # A community's newest matters (duplicate suggestions, listings), read in index order without a sort.
        Index("ix_matter_community_code_created_at", "community_code", "created_at"),
    )

    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    community_code: Mapped[str] = mapped_column(CODE, nullable=False)
    unit_code: Mapped[str] = mapped_column(CODE, nullable=False)
    scope_level: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    # The title's distinct character bigrams as integers (rules.routing.bigram_codes): duplicates are scored in the
    # database.
    title_bigrams: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False, server_default=text("'{}'"))
    description: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    nature: Mapped[str] = mapped_column(Text, nullable=False)
    key_project: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    major: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    state: Mapped[str] = mapped_column(Text, nullable=False)
    channel: Mapped[str | None] = mapped_column(Text)
    proposed_channel: Mapped[str | None] = mapped_column(Text)
    raised_via: Mapped[str] = mapped_column(Text, nullable=False)
    proposer_sub: Mapped[str] = mapped_column(Text, nullable=False)
    proposer_kind: Mapped[str] = mapped_column(Text, nullable=False)
    proposer_household_code: Mapped[str | None] = mapped_column(CODE)
    department_code: Mapped[str | None] = mapped_column(Text)
    external_token: Mapped[str | None] = mapped_column(Text, unique=True)
    latitude: Mapped[float | None] = mapped_column()
    longitude: Mapped[float | None] = mapped_column()
    # Free-text location of an Open311 request: personal data, never published.
    address_string: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("matter.matter_id"))
    evaluation_round: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    created_at: Mapped[datetime] = _now()
    state_entered_at: Mapped[datetime] = _now()


class MatterTransition(Base):
    """One move of a matter: who, when, why (the matter's timeline)."""

    __tablename__ = "matter_transition"
    __table_args__ = (Index("ix_matter_transition_matter_id", "matter_id", "transition_id"),)

    transition_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("matter.matter_id"), nullable=False)
    from_state: Mapped[str | None] = mapped_column(Text)
    to_state: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    actor_sub: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Vote(Base):
    """A voting window on a matter, its frozen rule and, once closed, its result."""

    __tablename__ = "vote"
    __table_args__ = (Index("ix_vote_matter_id", "matter_id"),)

    vote_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("matter.matter_id"), nullable=False)
    scope_code: Mapped[str] = mapped_column(CODE, nullable=False)
    rule_version: Mapped[str] = mapped_column(Text, nullable=False)
    rule: Mapped[dict] = mapped_column(JSONB, nullable=False)
    secret: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)  # open | closed
    base_size: Mapped[int] = mapped_column(Integer, nullable=False)
    opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    closes_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(Text, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    quorum_met: Mapped[bool | None] = mapped_column(Boolean)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    present: Mapped[int | None] = mapped_column(Integer)
    votes_for: Mapped[int | None] = mapped_column(Integer)
    votes_against: Mapped[int | None] = mapped_column(Integer)
    abstain: Mapped[int | None] = mapped_column(Integer)


class VoteElector(Base):
    """One member of a vote's frozen electorate: a person, or a household (户决制) with who may cast for it."""

    __tablename__ = "vote_elector"

    vote_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("vote.vote_id"), primary_key=True)
    voter_key: Mapped[str] = mapped_column(Text, primary_key=True)
    household_code: Mapped[str | None] = mapped_column(CODE)
    # Person ids allowed to cast this elector's vote: the person; or the representative and recorded proxies.
    caster_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)


Index("ix_vote_elector_caster_ids", VoteElector.caster_ids, postgresql_using="gin")
# The electors under a unit that moved, found by code prefix (the column's C collation lets the index serve LIKE).
Index("ix_vote_elector_household_code", VoteElector.household_code)


class Ballot(Base):
    """Participation: that an elector voted, how and by whom. One row per elector (the unique key counts once).

    For a secret ballot the choice and the receipt stay empty here: the choice only adds to vote_online_count, and
    the receipt's digest is kept in ballot_receipt, unlinked.
    """

    __tablename__ = "ballot"

    vote_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("vote.vote_id"), primary_key=True)
    voter_key: Mapped[str] = mapped_column(Text, primary_key=True)
    cast_by: Mapped[str] = mapped_column(Text, nullable=False)
    via: Mapped[str] = mapped_column(Text, nullable=False)  # online | offline
    choice: Mapped[str | None] = mapped_column(Text)
    receipt_digest: Mapped[str | None] = mapped_column(Text)
    cast_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class VoteOnlineCount(Base):
    """A vote's totals of online choices, one row per vote. Only the ballot-box mixer and the closing tally write it,
    each in a transaction of its own that adds up many ballots: no version of the row is written by a voter's
    transaction, nor holds one voter's choice alone beside it."""

    __tablename__ = "vote_online_count"

    vote_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("vote.vote_id"), primary_key=True)
    votes_for: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    votes_against: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    abstain: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))


# Online choices not yet counted: no voter, no time, no key. The mixer empties the box into the vote's totals every
# moment (and the closing tally empties it for good), so a choice lies here, beside its voter's participation row,
# only until the next mix.
ballot_box = Table(
    "ballot_box", Base.metadata,
    Column("vote_id", UUID(as_uuid=True), ForeignKey("vote.vote_id"), nullable=False),
    Column("choice", Text, nullable=False),
    Index("ix_ballot_box_vote_id", "vote_id"),
)


class BallotReceipt(Base):
    """The digest of a counted online ballot's receipt; holds no voter and no time, and the choice only for an
    open ballot."""

    __tablename__ = "ballot_receipt"

    receipt_digest: Mapped[str] = mapped_column(Text, primary_key=True)
    vote_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("vote.vote_id"), nullable=False)
    choice: Mapped[str | None] = mapped_column(Text)


class OfflineTally(Base):
    """Paper ballots counted at a meeting, entered by staff with the sign-in record as evidence."""

    __tablename__ = "offline_tally"

    tally_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    vote_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("vote.vote_id"), nullable=False)
    votes_for: Mapped[int] = mapped_column(Integer, nullable=False)
    votes_against: Mapped[int] = mapped_column(Integer, nullable=False)
    abstain: Mapped[int] = mapped_column(Integer, nullable=False)
    sign_in_ref: Mapped[str] = mapped_column(Text, nullable=False)
    attendee_count: Mapped[int] = mapped_column(Integer, nullable=False)
    held_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)  # the meeting, in the window
    entered_by: Mapped[str] = mapped_column(Text, nullable=False)
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


Index("ix_offline_tally_vote_id", OfflineTally.vote_id)


class ImplementationTask(Base):
    """A piece of the work that carries out a decision (民事民办), with its responsible body and deadline."""

    __tablename__ = "implementation_task"
    __table_args__ = (
        Index("ix_implementation_task_matter_id", "matter_id"),
        # A department's tasks, newest first (GET /tasks/assigned, the liaison feed's list).
        Index("ix_implementation_task_responsible", "responsible_kind", "responsible_code", "created_at"),
        CheckConstraint("percent BETWEEN 0 AND 100", name="percent_range"),
    )

    task_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("matter.matter_id"), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    responsible_kind: Mapped[str] = mapped_column(Text, nullable=False)  # community | department | social_organisation
    responsible_code: Mapped[str] = mapped_column(Text, nullable=False)
    budget_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    spent_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    percent: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    warning: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'none'"))
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _now()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaskSpending(Base):
    """One spending line of a task's budget."""

    __tablename__ = "task_spending"

    spending_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("implementation_task.task_id"), nullable=False, index=True
    )
    item: Mapped[str] = mapped_column(Text, nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    spent_on: Mapped[date] = mapped_column(Date, nullable=False)
    recorded_by: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class TaskProgress(Base):
    """A dated progress update of a task, as on a results tracker."""

    __tablename__ = "task_progress"

    progress_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("implementation_task.task_id"), nullable=False, index=True
    )
    percent: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_by: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Rating(Base):
    """A resident's rating of a matter's result in one evaluation round (民事民评); one per resident and round."""

    __tablename__ = "rating"

    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("matter.matter_id"), primary_key=True)
    evaluation_round: Mapped[int] = mapped_column(Integer, primary_key=True)
    rater_sub: Mapped[str] = mapped_column(Text, primary_key=True)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    rated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class MeetingRequest(Base):
    """A resident's request that a residents' meeting be called on a matter (召开居民会议的提议); one per person. Their
    household and whether they were an adult are as the registry replica said when they asked."""

    __tablename__ = "meeting_request"

    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("matter.matter_id"), primary_key=True)
    person_sub: Mapped[str] = mapped_column(Text, primary_key=True)
    household_code: Mapped[str] = mapped_column(CODE, nullable=False)
    adult: Mapped[bool] = mapped_column(Boolean, nullable=False)
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class WorkOrder(Base):
    """A matter dispatched to the department assigned to its community (部门包居)."""

    __tablename__ = "work_order"
    __table_args__ = (
        Index("ix_work_order_department_code_status", "department_code", "status"),
        Index("ix_work_order_matter_id", "matter_id"),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("matter.matter_id"), nullable=False)
    department_code: Mapped[str] = mapped_column(Text, nullable=False)
    community_code: Mapped[str] = mapped_column(CODE, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)  # dispatched | signed | answered | returned | cancelled
    dispatched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    extensions_used: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    extended_workdays: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    warning: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'none'"))
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answer: Mapped[str | None] = mapped_column(Text)
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    return_reason: Mapped[str | None] = mapped_column(Text)
    extension_reason: Mapped[str | None] = mapped_column(Text)


class WorkOrderChange(Base):
    """Append-only log of work-order changes: the department feed reads it by sequence."""

    __tablename__ = "work_order_change"
    __table_args__ = (Index("ix_work_order_change_department_code_seq", "department_code", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    work_order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    matter_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    department_code: Mapped[str] = mapped_column(Text, nullable=False)
    community_code: Mapped[str] = mapped_column(CODE, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    warning: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The writing transaction: the feed only shows rows below the xmin horizon (see repository.feed).
    txid: Mapped[int] = mapped_column(Xid8, nullable=False, server_default=text("pg_current_xact_id()"))


class DepartmentTask(Base):
    """Administrative work a department pushed to a community, admitted or refused (行政工作进社区准入)."""

    __tablename__ = "department_task"
    __table_args__ = (Index("ix_department_task_community_code_submitted_at", "community_code", "submitted_at"),)

    task_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    department_code: Mapped[str] = mapped_column(Text, nullable=False)
    community_code: Mapped[str] = mapped_column(CODE, nullable=False)
    catalogue_code: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    due_on: Mapped[date | None] = mapped_column(Date)
    admitted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

# The registry replica (org tree, grants, residents, households, department assignments), fed by registry events.
replica = replica_tables(Base.metadata)
