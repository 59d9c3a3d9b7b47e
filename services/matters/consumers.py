"""Event entry points of the matters service: the registry replica it votes and dispatches from."""

from cloudevents.core.base import BaseCloudEvent
from sqlalchemy.ext.asyncio import AsyncSession

from services.matters.repository import MattersRepository
from services.matters.service import MattersService
from services.matters.settings import Settings
from youmin.kit import replica
from youmin.kit.replica import PREFIX, replica_consumer
from youmin.kit.service import ConsumerSpec

REPLICA_CONSUMER = "matters-replica"
UNIT_MOVED = f"{PREFIX}unit.moved.v1"
REPRESENTATIVE_SET = f"{PREFIX}household.representative_set.v1"
RESIDENCY_CHANGED = f"{PREFIX}residency.changed.v1"


def _replica(settings: Settings) -> ConsumerSpec:
    """The registry replica; a unit's move re-codes this service's own rows too, in the transaction that re-codes the
    replica (and records the event in the inbox), so the two never disagree on where a unit is. The replica's handlers
    re-code the codes a late event names on the way in."""
    spec = replica_consumer(REPLICA_CONSUMER)
    move_replica = spec.handlers[UNIT_MOVED]

    async def moved(session: AsyncSession, event: BaseCloudEvent) -> None:
        # Electorates before code moves, the order opening a vote takes them in.
        await MattersRepository(session).lock_electorates(shared=False)
        await move_replica(session, event)  # checks the codes and records the move the service's rows then follow
        await MattersService(session, settings).unit_moved(event.get_data())

    set_in_replica = spec.handlers[REPRESENTATIVE_SET]

    async def representative_set(session: AsyncSession, event: BaseCloudEvent) -> None:
        await MattersRepository(session).lock_electorates(shared=False)  # a vote being opened waits, or is followed
        await set_in_replica(session, event)
        household = replica.code_today(event.get_data()["household_code"], await replica.all_moves(session))
        await MattersRepository(session).refresh_household_casters(household)

    set_residency = spec.handlers[RESIDENCY_CHANGED]

    async def residency_changed(session: AsyncSession, event: BaseCloudEvent) -> None:
        # An adult moving in or out changes who may cast the vote of a household that named no representative.
        repo = MattersRepository(session)
        await repo.lock_electorates(shared=False)
        left = await repo.household_of(event.get_data()["person_id"])
        await set_residency(session, event)
        joined = await repo.household_of(event.get_data()["person_id"])
        for household in {left, joined} - {None}:
            await repo.refresh_household_casters(household)

    spec.handlers[UNIT_MOVED] = moved
    spec.handlers[REPRESENTATIVE_SET] = representative_set
    spec.handlers[RESIDENCY_CHANGED] = residency_changed
    return spec


def consumers(settings: Settings) -> list[ConsumerSpec]:
    """The consumers the matters service runs."""
    return [_replica(settings)]
