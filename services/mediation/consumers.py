"""Thin event entry points: the registry replica, whose unit moves re-code the cases too, and whose revoked mediator
roles hand their open cases on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cloudevents.core.base import BaseCloudEvent
from sqlalchemy.ext.asyncio import AsyncSession

from services.mediation import service
from services.mediation.service import MediationConfig
from youmin.kit.replica import PREFIX, replica_consumer
from youmin.kit.service import ConsumerSpec

UNIT_MOVED = f"{PREFIX}unit.moved.v1"
ROLE_REVOKED = f"{PREFIX}role.revoked.v1"

Clock = Callable[[], datetime]


def _replica(config: MediationConfig, clock: Clock) -> ConsumerSpec:
    """The registry replica; a unit's move re-codes the cases under it too, in the transaction that re-codes the
    replica (and records the event in the inbox), so the two never disagree on where a unit is."""
    spec = replica_consumer("mediation-replica")
    move_replica = spec.handlers[UNIT_MOVED]

    async def moved(session: AsyncSession, event: BaseCloudEvent) -> None:
        await move_replica(session, event)  # checks the codes and records the move the cases then follow
        await service.unit_moved(session, event.get_data(), clock(), config)

    revoke_in_replica = spec.handlers[ROLE_REVOKED]

    async def revoked(session: AsyncSession, event: BaseCloudEvent) -> None:
        await revoke_in_replica(session, event)
        await service.mediator_role_ended(session, event.get_data(), clock(), config)

    spec.handlers[UNIT_MOVED] = moved
    spec.handlers[ROLE_REVOKED] = revoked
    return spec


def mediation_consumers(config: MediationConfig, clock: Clock) -> list[ConsumerSpec]:
    """Returns the consumers of the mediation service: the registry replica."""
    return [_replica(config, clock)]
