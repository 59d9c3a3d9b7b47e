"""Events the mediation service publishes (mirrored by contracts/events).

Ids, org codes, levels, types and timestamps only: no party, no description, no personal data.
"""

from datetime import date, datetime
from typing import ClassVar, Literal
from uuid import UUID

from youmin.kit.events import Event


class MediationEvent(Event):
    """Base of the mediation service's events, all on mediation.cases keyed by the case id."""

    source: ClassVar[str] = "/youmin/mediation"
    topic: ClassVar[str] = "mediation.cases"
    key_field: ClassVar[str] = "case_id"


class CaseOpened(MediationEvent):
    """Published when a dispute is taken in for mediation."""

    type: ClassVar[str] = "gov.youmin.mediation.case.opened.v1"

    case_id: UUID
    place_code: str
    level: str
    dispute_type: str
    opened_at: datetime
    community_code: str | None = None


class CaseAssigned(MediationEvent):
    """Published when a mediator takes a case at its current level."""

    type: ClassVar[str] = "gov.youmin.mediation.case.assigned.v1"

    case_id: UUID
    place_code: str
    level: str
    mediator_person_id: UUID
    at: datetime


class CaseEscalated(MediationEvent):
    """Published when a case moves up the ladder, by the scheduler (automatic) or by staff."""

    type: ClassVar[str] = "gov.youmin.mediation.case.escalated.v1"

    case_id: UUID
    place_code: str
    dispute_type: str
    from_level: str
    to_level: str
    automatic: bool
    at: datetime


class CaseAgreementReached(MediationEvent):
    """Published when the parties reach an agreement (written and fully signed, or oral)."""

    type: ClassVar[str] = "gov.youmin.mediation.case.agreement_reached.v1"

    case_id: UUID
    place_code: str
    dispute_type: str
    level: str
    agreement_kind: Literal["written", "oral"]
    opened_at: datetime
    at: datetime


class CaseTerminated(MediationEvent):
    """Published when mediation ends without agreement because a party refused or withdrew."""

    type: ClassVar[str] = "gov.youmin.mediation.case.terminated.v1"

    case_id: UUID
    place_code: str
    dispute_type: str
    level: str
    reason_code: str
    at: datetime


class CaseReferred(MediationEvent):
    """Published when a case goes to a legal route (after the ladder, by staff, or after a breach)."""

    type: ClassVar[str] = "gov.youmin.mediation.case.referred.v1"

    case_id: UUID
    place_code: str
    dispute_type: str
    level: str
    route: str
    at: datetime


class CaseConfirmationApplied(MediationEvent):
    """Published when the parties' joint application for judicial confirmation (司法确认) is recorded: the court decides
    now. `reopened` when the window's close had already been published as not_applied (the application was made in
    the window and recorded after it)."""

    type: ClassVar[str] = "gov.youmin.mediation.case.confirmation_applied.v1"

    case_id: UUID
    place_code: str
    applied_on: date
    reopened: bool
    at: datetime


class CaseConfirmationRecorded(MediationEvent):
    """Published when the outcome of judicial confirmation (司法确认) of a written agreement is known."""

    type: ClassVar[str] = "gov.youmin.mediation.case.confirmation_recorded.v1"

    case_id: UUID
    place_code: str
    outcome: Literal["confirmed", "refused", "not_applied"]
    at: datetime
