"""Events the disclosure service publishes (mirrored by contracts/events)."""

from datetime import datetime
from uuid import UUID
from typing import ClassVar

from youmin.kit.events import Event


class DisclosureEvent(Event):
    """Base of the disclosure service's events."""

    source: ClassVar[str] = "/youmin/disclosure"


class ItemPublished(DisclosureEvent):
    """Published when a disclosure item goes public."""

    type: ClassVar[str] = "gov.youmin.disclosure.item.published.v1"
    topic: ClassVar[str] = "disclosure.items"
    key_field: ClassVar[str] = "item_id"

    item_id: UUID
    unit_code: str
    kind: str
    published_at: datetime
