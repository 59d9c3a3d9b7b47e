"""Events the mediation service publishes (mirrored by contracts/events)."""

from datetime import datetime
from uuid import UUID
from typing import ClassVar

from youmin.kit.events import Event


class MediationEvent(Event):
    """Base of the mediation service's events."""

    source: ClassVar[str] = "/youmin/mediation"


class CaseOpened(MediationEvent):
    """Published when a dispute is taken in for mediation."""

    type: ClassVar[str] = "gov.youmin.mediation.case.opened.v1"
    topic: ClassVar[str] = "mediation.cases"
    key_field: ClassVar[str] = "case_id"

    case_id: UUID
    place_code: str
    level: str
    dispute_type: str
    opened_at: datetime
