"""The replica another service keeps from the registry's events, through the real broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from conftest import new_id_number, new_phone

from youmin.kit import replica
from youmin.kit.consumer import EventConsumer
from youmin.kit.db import make_engine, make_sessionmaker, transaction
from youmin.kit.kafka import make_consumer, make_producer
from youmin.testing import eventually

API = "/api/v1/registry"
OTHER_SERVICE = "matters"  # any service whose migrations create the replica tables


@pytest.fixture(scope="module")
async def replica_sessions(infra):
    """Runs the replica consumer, as the other service does, against that service's database."""
    engine = make_engine(infra.database_url(OTHER_SERVICE))
    sessions = make_sessionmaker(engine)
    spec = replica.replica_consumer(f"{OTHER_SERVICE}-replica-test-{uuid.uuid4().hex[:6]}")
    consumer = EventConsumer(
        name=spec.name, topics=spec.topics, handlers=spec.handlers, sessions=sessions,
        consumer_factory=lambda *t, **kw: make_consumer(infra.bootstrap, *t, **kw),
        producer_factory=lambda: make_producer(infra.bootstrap, idempotence=False, client_id=spec.name),
    )
    task = asyncio.create_task(consumer.run())
    yield sessions
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.dispose()


async def query(sessions, fn, *args, **kw):
    async with transaction(sessions) as session:
        return await fn(session, *args, **kw)


async def test_replica_follows_creation_grants_residents_and_a_grid_moved_to_another_community(registry, replica_sessions):
    grid = await registry.fresh_grid()
    source, target = grid[:12], await registry.fresh_community()
    household = f"{grid}00101" + "0101"
    for code, name in ((grid + "001", "1号楼"), (grid + "00101", "1单元"), (household, "0101")):
        assert (await registry.create_unit(code, name)).status_code == 201
    resident = (await registry.client.post(f"{API}/people", json={
        "name": "郑居民", "id_number": new_id_number(), "phone": new_phone(), "household_code": household},
        headers=registry.admin)).json()
    manager = (await registry.client.post(f"{API}/people", json={"name": "冯网格", "id_number": new_id_number()},
                                          headers=registry.admin)).json()
    granted = await registry.client.post(f"{API}/grants", json={"person_id": manager["person_id"], "role": "grid_manager",
                                                                "scope_code": grid}, headers=registry.admin)
    assert granted.status_code == 201
    await registry.client.put(f"{API}/households/{household}/representative",
                              json={"representative_person_id": resident["person_id"]}, headers=registry.admin)
    await registry.client.put(f"{API}/departments/C05/assignments", json={"community_code": target}, headers=registry.admin)

    async def synced():
        unit = await query(replica_sessions, replica.get_unit, grid)
        adults = await query(replica_sessions, replica.adults_under, grid)
        holders = await query(replica_sessions, replica.holders, "grid_manager", within=grid)
        households = await query(replica_sessions, replica.households_under, grid)
        departments = await query(replica_sessions, replica.departments_for, target)
        return unit and adults and holders and households and departments and (unit, adults, holders, households)

    unit, adults, holders, households = await eventually(synced, timeout=60)
    assert unit.parent_code == source and unit.unit_name == "第一网格"
    assert adults == [(resident["person_id"], household)]
    assert [h.person_id for h in holders] == [manager["person_id"]]
    assert households[0].may_vote(resident["person_id"])

    new_grid = target + "005"
    moved = await registry.client.post(f"{API}/units/{grid}/move", json={"new_parent_code": target, "new_code": new_grid},
                                       headers=registry.admin)
    assert moved.status_code == 200, moved.text

    async def moved_in_replica():
        unit = await query(replica_sessions, replica.get_unit, new_grid)
        return unit is not None and unit.parent_code == target and unit

    unit = await eventually(moved_in_replica, timeout=60)
    assert unit.unit_id == moved.json()["unit_id"]
    assert await query(replica_sessions, replica.get_unit, grid) is None
    assert [a.code for a in await query(replica_sessions, replica.ancestors, new_grid)][-1] == target
    assert await query(replica_sessions, replica.adults_under, source) == []
    assert await query(replica_sessions, replica.adults_under, target) == [(resident["person_id"], new_grid + "001010101")]
    assert [h.scope_code for h in await query(replica_sessions, replica.holders, "grid_manager", within=target)] == [new_grid]
    assert [u.code for u in await query(replica_sessions, replica.descendants, target, level="building")] == [new_grid + "001"]


async def test_replica_sees_a_rename_and_a_retirement(registry, replica_sessions):
    community = await registry.fresh_community()
    grid = community + "003"
    assert (await registry.create_unit(grid, "三网格")).status_code == 201
    await registry.client.patch(f"{API}/units/{grid}", json={"name": "三网格（新）"}, headers=registry.admin)
    await registry.client.post(f"{API}/units/{grid}/retire", json={}, headers=registry.admin)

    async def done():
        unit = await query(replica_sessions, replica.get_unit, grid)
        return unit is not None and unit.retired and unit

    unit = await eventually(done, timeout=60)
    assert unit.unit_name == "三网格（新）"
    assert await query(replica_sessions, replica.children, community) == []
