"""Thin event entry points: upstream events become public progress, statistics and disclosure items."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from sqlalchemy.ext.asyncio import AsyncSession

from services.disclosure.service import DisclosureService
from services.disclosure.settings import Settings
from youmin.kit.consumer import Handler
from youmin.kit.replica import replica_consumer
from youmin.kit.service import ConsumerSpec

MATTERS = "gov.youmin.matters.matter."
MEDIATION = "gov.youmin.mediation.case."
REGISTRY = "gov.youmin.registry."
UNIT_MOVED = f"{REGISTRY}unit.moved.v1"

Clock = Callable[[], datetime]


def _handler(settings: Settings, clock: Clock,
             use: Callable[[DisclosureService, dict[str, Any]], Awaitable[None]]) -> Handler:
    async def handle(session: AsyncSession, event: BaseCloudEvent) -> None:
        service = DisclosureService(session, settings, clock(), event_key=f"{event.get_source()}#{event.get_id()}",
                                    event_time=event.get_time())
        await use(service, event.get_data())

    return handle


def _counted(settings: Settings, clock: Clock, outcome: str) -> Handler:
    async def handle(session: AsyncSession, event: BaseCloudEvent) -> None:
        key = f"{event.get_source()}#{event.get_id()}"
        service = DisclosureService(session, settings, clock(), event_key=key)
        await service.mediation_counted(outcome, event.get_data(), key)

    return handle


def _confirmation(settings: Settings, clock: Clock) -> Handler:
    async def handle(session: AsyncSession, event: BaseCloudEvent) -> None:
        key = f"{event.get_source()}#{event.get_id()}"
        service = DisclosureService(session, settings, clock(), event_key=key)
        await service.mediation_confirmation(event.get_data(), key)

    return handle


def _replica(settings: Settings, clock: Clock) -> ConsumerSpec:
    """The registry replica; a unit's move re-codes this service's own rows too, in the transaction that re-codes the
    replica (and records the event in the inbox), so the two never disagree on where a unit is."""
    spec = replica_consumer(f"disclosure-replica{settings.consumer_group_suffix}")
    move_replica = spec.handlers[UNIT_MOVED]

    async def moved(session: AsyncSession, event: BaseCloudEvent) -> None:
        await move_replica(session, event)  # checks the codes and records the move the service's rows then follow
        service = DisclosureService(session, settings, clock(), event_key=f"{event.get_source()}#{event.get_id()}")
        await service.unit_moved(event.get_data())

    spec.handlers[UNIT_MOVED] = moved
    return spec


def disclosure_consumers(settings: Settings, clock: Clock = lambda: datetime.now(UTC)) -> list[ConsumerSpec]:
    """Returns the registry replica and the consumer that builds items from upstream events."""
    handlers: dict[str, Handler] = {
        f"{MATTERS}raised.v1": _handler(settings, clock, lambda s, d: s.matter_raised(d)),
        f"{MATTERS}transitioned.v1": _handler(settings, clock, lambda s, d: s.matter_transitioned(d)),
        f"{MATTERS}flagged.v1": _handler(settings, clock, lambda s, d: s.matter_flagged(d)),
        f"{MATTERS}decided.v1": _handler(settings, clock, lambda s, d: s.matter_decided(d)),
        f"{MATTERS}progress_updated.v1": _handler(settings, clock, lambda s, d: s.matter_progress(d)),
        f"{MATTERS}evaluated.v1": _handler(settings, clock, lambda s, d: s.matter_evaluated(d)),
        f"{REGISTRY}role.granted.v1": _handler(settings, clock, lambda s, d: s.duty_changed(True, d)),
        f"{REGISTRY}role.revoked.v1": _handler(settings, clock, lambda s, d: s.duty_changed(False, d)),
    }
    for outcome in ("opened", "escalated", "agreement_reached", "terminated", "referred"):
        handlers[f"{MEDIATION}{outcome}.v1"] = _counted(settings, clock, outcome)
    handlers[f"{MEDIATION}confirmation_recorded.v1"] = _confirmation(settings, clock)
    suffix = settings.consumer_group_suffix
    return [
        _replica(settings, clock),
        ConsumerSpec(name=f"disclosure-items{suffix}", topics=["matters.matters", "mediation.cases", "registry.people"],
                     handlers=handlers),
    ]
