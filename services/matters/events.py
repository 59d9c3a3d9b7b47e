"""Events the matters service publishes (mirrored by contracts/events). Ids, codes and facts only."""

from datetime import date, datetime
from typing import ClassVar, Literal
from uuid import UUID

from youmin.kit.events import Event


class MattersEvent(Event):
    """Base of the matters service's events; every one is keyed by its matter so they stay in order."""

    source: ClassVar[str] = "/youmin/matters"
    topic: ClassVar[str] = "matters.matters"
    key_field: ClassVar[str] = "matter_id"


class MatterRaised(MattersEvent):
    """Published when a resident, grid staff or a department raises a matter."""

    type: ClassVar[str] = "gov.youmin.matters.matter.raised.v1"

    matter_id: UUID
    community_code: str
    unit_code: str
    category: str
    raised_via: str
    raised_at: datetime
    key_project: bool = False


class MatterFlagged(MattersEvent):
    """Published when staff flag a matter as a key project (重点项目) or a major matter, or take a flag off."""

    type: ClassVar[str] = "gov.youmin.matters.matter.flagged.v1"

    matter_id: UUID
    community_code: str
    key_project: bool
    major: bool
    at: datetime


class MatterTransitioned(MattersEvent):
    """Published on every move of a matter through its lifecycle."""

    type: ClassVar[str] = "gov.youmin.matters.matter.transitioned.v1"

    matter_id: UUID
    community_code: str
    from_state: str
    to_state: str
    action: str
    at: datetime
    reason_code: str | None = None


class MatterDecided(MattersEvent):
    """Published when a vote closes: the tally, whether quorum was met and the rule version that decided."""

    type: ClassVar[str] = "gov.youmin.matters.matter.decided.v1"

    matter_id: UUID
    community_code: str
    unit_code: str
    category: str
    channel: str
    public_title: str
    rule_version: str
    quorum_met: bool
    passed: bool
    base_size: int
    present: int
    votes_for: int
    votes_against: int
    abstain: int
    decided_at: datetime


class MatterProgressUpdated(MattersEvent):
    """Published when an implementation task reports progress or spending."""

    type: ClassVar[str] = "gov.youmin.matters.matter.progress_updated.v1"

    matter_id: UUID
    community_code: str
    task_id: UUID
    percent: int
    budget_cents: int
    spent_cents: int
    at: datetime


class MatterEvaluated(MattersEvent):
    """Published after each rating: the count so far and what the matter does next; and when staff end the rating
    (close or reopen it), its count then."""

    type: ClassVar[str] = "gov.youmin.matters.matter.evaluated.v1"

    matter_id: UUID
    community_code: str
    ratings: int
    bad: int
    bad_share: float
    outcome: Literal["wait", "close", "reopen"]
    at: datetime


class WorkOrderChanged(MattersEvent):
    """Published when a department work order is dispatched, signed, answered, extended, sent back or warned, or
    cancelled because its matter ended."""

    type: ClassVar[str] = "gov.youmin.matters.workorder.changed.v1"

    work_order_id: UUID
    matter_id: UUID
    department_code: str
    community_code: str
    status: str
    action: str
    due_at: datetime
    warning: Literal["none", "yellow", "red"]
    at: datetime


class TaskWarned(MattersEvent):
    """Published when an implementation task's deadline warning changes (yellow, red). The responsible body routes
    the warning: a department's or a community's code; a social organisation's kind only (its name is free text)."""

    type: ClassVar[str] = "gov.youmin.matters.task.warned.v1"

    matter_id: UUID
    community_code: str
    task_id: UUID
    warning: Literal["none", "yellow", "red"]
    due_at: datetime
    at: datetime
    # Optional: events published before these were added carry neither.
    responsible_kind: Literal["community", "department", "social_organisation"] | None = None
    responsible_code: str | None = None


class DepartmentTaskEvent(Event):
    """Base of department task submissions (行政工作进社区准入), keyed by the task."""

    source: ClassVar[str] = "/youmin/matters"
    topic: ClassVar[str] = "matters.matters"
    key_field: ClassVar[str] = "task_id"

    task_id: UUID
    department_code: str
    community_code: str
    catalogue_code: str | None
    at: datetime


class TaskAdmitted(DepartmentTaskEvent):
    """Published when a department's task cites the admission catalogue and enters the community."""

    type: ClassVar[str] = "gov.youmin.matters.task.admitted.v1"

    due_on: date | None = None


class TaskRefused(DepartmentTaskEvent):
    """Published when a department's task is refused entry to the community, with the rule's reason code."""

    type: ClassVar[str] = "gov.youmin.matters.task.refused.v1"

    reason_code: str
