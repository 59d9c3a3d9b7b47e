"""Events the matters service publishes (mirrored by contracts/events)."""

from datetime import datetime
from uuid import UUID
from typing import ClassVar

from youmin.kit.events import Event


class MattersEvent(Event):
    """Base of the matters service's events."""

    source: ClassVar[str] = "/youmin/matters"


class MatterRaised(MattersEvent):
    """Published when a resident, grid staff or a department raises a matter."""

    type: ClassVar[str] = "gov.youmin.matters.matter.raised.v1"
    topic: ClassVar[str] = "matters.matters"
    key_field: ClassVar[str] = "matter_id"

    matter_id: UUID
    community_code: str
    unit_code: str
    category: str
    raised_via: str
    raised_at: datetime
