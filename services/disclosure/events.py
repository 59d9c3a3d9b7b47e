"""Events the disclosure service publishes (mirrored by contracts/events)."""

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from youmin.kit.events import Event


class DisclosureEvent(Event):
    """Base of the disclosure service's events, keyed by the item."""

    source: ClassVar[str] = "/youmin/disclosure"
    topic: ClassVar[str] = "disclosure.items"
    key_field: ClassVar[str] = "item_id"


class ItemPublished(DisclosureEvent):
    """Published when a disclosure item goes public."""

    type: ClassVar[str] = "gov.youmin.disclosure.item.published.v1"

    item_id: UUID
    unit_code: str
    kind: Literal["party", "residents", "finance"]
    category: str = "notice"
    major: bool = False
    published_at: datetime


class ItemWithdrawn(DisclosureEvent):
    """Published when staff take an item down after its minimum display period."""

    type: ClassVar[str] = "gov.youmin.disclosure.item.withdrawn.v1"

    item_id: UUID
    unit_code: str
    kind: Literal["party", "residents", "finance"]
    published_at: datetime
    withdrawn_at: datetime
