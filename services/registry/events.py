"""Events the registry service publishes (mirrored by contracts/events)."""

from datetime import date
from typing import ClassVar

from youmin.kit.events import Event


class RegistryEvent(Event):
    """Base of the registry service's events."""

    source: ClassVar[str] = "/youmin/registry"


class UnitCreated(RegistryEvent):
    """Published when a new org unit takes effect."""

    type: ClassVar[str] = "gov.youmin.registry.unit.created.v1"
    topic: ClassVar[str] = "registry.units"
    key_field: ClassVar[str] = "unit_code"

    unit_code: str
    parent_code: str | None
    level: str
    effective_on: date
