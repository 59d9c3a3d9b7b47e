"""Through the broker: registry events feed the replica, case events reach mediation.cases as CloudEvents."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer

from mediation_places import fresh_place, registry_events
from youmin.kit import replica
from youmin.kit.db import transaction
from youmin.kit.events import Envelope, decode_record
from youmin.kit.kafka import make_producer
from youmin.testing import eventually


async def test_mediators_published_by_the_registry_are_assigned_and_case_events_reach_the_topic(h, infra):
    place = fresh_place()
    producer = make_producer(infra.bootstrap, idempotence=False, client_id="test-registry")
    await producer.start()
    try:
        for event in registry_events(place):
            envelope = Envelope.of(event)
            await producer.send_and_wait(envelope.topic, value=envelope.value(), key=envelope.key.encode(),
                                         headers=envelope.headers())
    finally:
        await producer.stop()

    async def replica_knows_the_conflict() -> bool:
        async with transaction(h.app.state.sessions) as session:
            mediators = await replica.holders(session, "mediator", within=place.grid)
            home = await replica.household_of(session, place.mediators["grid_2"])
            # The parties' homes too: events of different people come on different partitions, in any order, and the
            # conflict of interest needs party A's.
            parties = [await replica.household_of(session, place.residents[p]) for p in ("a", "b")]
        return len(mediators) == 2 and home == place.households["a"] and parties == [place.households["a"],
                                                                                     place.households["b"]]

    await eventually(replica_knows_the_conflict, timeout=60)
    case = await h.open_case(place)
    assert case["mediator_person_id"] == place.mediators["grid_1"]  # grid_2 shares party A's household

    consumer = AIOKafkaConsumer("mediation.cases", bootstrap_servers=infra.bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    seen: list = []
    try:
        async def both_events_arrived() -> bool:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                seen.extend(decode_record(r.headers, r.key, r.value) for r in records if r.key == case["id"].encode())
            return len(seen) >= 2

        await eventually(both_events_arrived, timeout=60)
    finally:
        await consumer.stop()
    assert [e.get_type() for e in seen] == ["gov.youmin.mediation.case.opened.v1",
                                            "gov.youmin.mediation.case.assigned.v1"]
    assert seen[1].get_data()["mediator_person_id"] == place.mediators["grid_1"]
    assert seen[0].get_data()["community_code"] == place.community
