"""A grid moved to another community, and that community to another street (registry unit.moved, through the broker),
take their disputes along: the new codes' staff and mediators handle them, the ladder climbs from the new place."""

from __future__ import annotations

import random
import uuid
from datetime import date

from sqlalchemy import text

from mediation_places import fresh_place, registry_events
from services.registry.events import RoleGranted, UnitCreated, UnitMoved
from youmin.kit import replica
from youmin.kit.db import transaction
from youmin.kit.events import Envelope, Event
from youmin.kit.kafka import make_producer
from youmin.testing import eventually

MARCH = {"period_start": "2026-03-01T00:00:00+08:00", "period_end": "2026-04-01T00:00:00+08:00"}
ON = date(2026, 3, 1)


async def listed(h, headers: dict[str, str]) -> set[str]:
    resp = await h.client.get("/api/v1/mediation/cases", params={"limit": 500}, headers=headers)
    assert resp.status_code == 200, resp.text
    return {c["id"] for c in resp.json()}


async def opened(h, scope: str) -> int:
    resp = await h.client.get("/api/v1/mediation/statistics", params={"scope": scope, **MARCH},
                              headers=h.staff("district_staff", scope[:6]))
    assert resp.status_code == 200, resp.text
    return resp.json()["current"]["opened"]


async def snapshot(h, case_ids: list[str]) -> list[tuple]:
    """What a move may change about cases: their codes, level, mediator, history, assignments and outgoing events."""
    async with transaction(h.app.state.sessions) as session:
        rows = await session.execute(text(
            "SELECT c.id, c.place_code, c.community_code, c.level, c.mediator_person_id, c.updated_at, "
            "(SELECT count(*) FROM case_history x WHERE x.case_id = c.id), "
            "(SELECT count(*) FROM case_assignment a WHERE a.case_id = c.id), "
            "(SELECT count(*) FROM outbox_event o WHERE o.key = CAST(c.id AS text)) "
            "FROM mediation_case c WHERE c.id = ANY(CAST(:ids AS uuid[])) ORDER BY c.id"), {"ids": case_ids})
        return [tuple(r) for r in rows]


async def test_moved_grid_and_community_take_their_cases_to_the_new_codes(h, infra):
    place = fresh_place()
    events: list[Event] = registry_events(place)
    grid_id = next(e.unit_id for e in events if isinstance(e, UnitCreated) and e.unit_code == place.grid)
    # Two more streets of the place's district; the second one's community receives the grid, then moves on itself.
    second, third = (f"{place.district}{n:03d}" for n in random.sample(
        [n for n in range(1, 100) if f"{place.district}{n:03d}" != place.street], 2))
    receiving, receiving_id = f"{second}{random.randrange(1, 200):03d}", uuid.uuid4()
    moved_grid = f"{receiving}009"
    newest, newest_grid = f"{third}{receiving[9:]}", f"{third}{receiving[9:]}009"
    mediators = {label: str(uuid.uuid4()) for label in ("receiving", "second", "third")}
    for code, parent, level, unit_id in ((second, place.district, "street", uuid.uuid4()),
                                         (third, place.district, "street", uuid.uuid4()),
                                         (receiving, second, "community", receiving_id)):
        events.append(UnitCreated(unit_id=unit_id, unit_code=code, parent_code=parent, level=level, unit_name=None,
                                  effective_on=ON))
    for label, scope in (("receiving", receiving), ("second", second), ("third", third)):
        events.append(RoleGranted(grant_id=uuid.uuid4(), person_id=uuid.UUID(mediators[label]), role="mediator",
                                  scope_code=scope, effective_on=ON))

    producer = make_producer(infra.bootstrap, idempotence=False, client_id="test-registry")
    await producer.start()

    async def send(event: Event) -> Envelope:
        envelope = Envelope.of(event)
        await producer.send_and_wait(envelope.topic, value=envelope.value(), key=envelope.key.encode(),
                                     headers=envelope.headers())
        return envelope

    async def processed(envelope: Envelope) -> bool:
        async with transaction(h.app.state.sessions) as session:
            return bool(await session.scalar(text(
                "SELECT count(*) FROM inbox_event WHERE consumer = 'mediation-replica' AND source = :s AND "
                "event_id = :id"), {"s": envelope.source, "id": envelope.id}))

    try:
        for event in events:
            await send(event)

        async def replica_is_complete() -> bool:
            async with transaction(h.app.state.sessions) as session:
                mediators_in = await replica.holders(session, "mediator", within=place.district)
                home = await replica.household_of(session, place.residents["b"])
                unit = await replica.get_unit(session, receiving)
            return len(mediators_in) == 9 and home == place.households["b"] and unit is not None

        await eventually(replica_is_complete, timeout=60)

        # Before the moves: a case at the grid, one handed up to the community, one at the other grid (which stays).
        old_grid_staff = h.staff("grid_manager", place.grid)  # a token issued before the move names the old code
        at_grid = await h.open_case(place, old_grid_staff)
        at_community = await h.open_case(place, old_grid_staff)
        resp = await h.post(at_community["id"], "escalation", {"reason": "涉及多户，网格难以协调"}, old_grid_staff)
        assert resp.status_code == 200, resp.text
        staying = await h.open_case(place, h.staff("grid_manager", place.other_grid), place_code=place.other_grid)
        assert at_grid["mediator_person_id"] == place.mediators["grid_1"]
        community_staff = h.staff("community_staff", place.community)
        assert (await h.get(at_community["id"], community_staff)).json()["mediator_person_id"] == \
            place.mediators["community"]
        moved_ids = {at_grid["id"], at_community["id"]}
        assert moved_ids | {staying["id"]} <= await listed(h, community_staff)

        # The grid moves to a community of another street.
        move = UnitMoved(unit_id=grid_id, old_code=place.grid, new_code=moved_grid, new_parent_code=receiving,
                         effective_on=ON)
        envelope = await send(move)
        receiving_staff = h.staff("community_staff", receiving)
        await eventually(lambda: processed(envelope))

        # The case at the grid is the moved grid's: its own staff and mediator (whose grants the registry re-coded)
        # read and act on it.
        grid_staff = h.staff("grid_manager", moved_grid)
        file = (await h.get(at_grid["id"], grid_staff)).json()
        assert file["place_code"] == moved_grid
        assert file["mediator_person_id"] == place.mediators["grid_1"]
        assert (await h.get(at_grid["id"], h.mediator(place.mediators["grid_1"], moved_grid))).status_code == 200
        assert (await h.consent_all(file, grid_staff))["status"] == "mediating"
        # The case at the community is the receiving community's: its mediator took over from the old community's.
        file = (await h.get(at_community["id"], receiving_staff)).json()
        assert file["mediator_person_id"] == mediators["receiving"]
        assert [x["action"] for x in file["history"]][-3:] == ["recode_place", "unassign", "assign"]
        assert moved_ids <= await listed(h, receiving_staff)
        assert staying["id"] not in await listed(h, receiving_staff)
        # The old community's staff and mediator no longer see them; the case at the other grid stays theirs.
        assert await listed(h, community_staff) & (moved_ids | {staying["id"]}) == {staying["id"]}
        assert (await h.get(at_community["id"], community_staff)).status_code == 404
        assert (await h.get(at_community["id"], h.mediator(place.mediators["community"], place.community))
                ).status_code == 404
        assert await listed(h, h.staff("street_staff", place.street)) & moved_ids == set()
        # A token issued before the move still names the grid by its old code: it is the same grid, now re-coded.
        assert (await h.get(at_grid["id"], old_grid_staff)).status_code == 200

        # The ladder climbs from the new place: the community's case goes up to the new street.
        resp = await h.post(at_community["id"], "escalation", {"reason": "跨小区纠纷"}, receiving_staff)
        assert resp.status_code == 200, resp.text
        second_staff = h.staff("street_staff", second)
        file = (await h.get(at_community["id"], second_staff)).json()
        assert (file["level"], file["mediator_person_id"]) == ("street", mediators["second"])
        assert (await h.get(at_community["id"], h.staff("street_staff", place.street))).status_code == 404

        # A dispute taken in under the old code lands under the new one; statistics count the cases where they are.
        late = await h.open_case(place, old_grid_staff, place_code=f"{place.grid}001")  # a building of the grid
        assert late["place_code"] == f"{moved_grid}001"
        assert await opened(h, receiving) == 3 and await opened(h, place.grid) == 3
        assert await opened(h, place.community) == 1 and await opened(h, place.street) == 1
        assert await opened(h, second) == 3
        # A grid's statistics are its supervisors': those of the community it moved to, asked under its old code, and
        # no longer those of the community it left.
        url, by_old_code = "/api/v1/mediation/statistics", {"scope": place.grid, **MARCH}
        assert (await h.client.get(url, params=by_old_code, headers=receiving_staff)).status_code == 200
        left = await h.client.get(url, params=by_old_code, headers=community_staff)
        assert left.status_code == 422 and left.json()["rule"] == "mediation.statistics_grid_for_staff"

        # Delivered again (the inbox absorbs it) and sent again (the handler finds nothing more to do).
        case_ids = [at_grid["id"], at_community["id"], late["id"], staying["id"]]
        before = await snapshot(h, case_ids)
        await producer.send_and_wait(envelope.topic, value=envelope.value(), key=envelope.key.encode(),
                                     headers=envelope.headers())
        again = await send(move)  # a fresh event id
        await eventually(lambda: processed(again))
        assert await snapshot(h, case_ids) == before

        # The receiving community moves to the third street: the chain ends at today's codes.
        envelope = await send(UnitMoved(unit_id=receiving_id, old_code=receiving, new_code=newest,
                                        new_parent_code=third, effective_on=date(2026, 3, 2)))
        await eventually(lambda: processed(envelope))
    finally:
        await producer.stop()

    newest_staff = h.staff("community_staff", newest)
    file = (await h.get(at_grid["id"], newest_staff)).json()
    assert file["place_code"] == newest_grid
    assert {at_grid["id"], late["id"]} <= await listed(h, newest_staff)
    # The street-level case is the third street's now: its mediator took over from the second street's.
    third_staff = h.staff("street_staff", third)
    file = (await h.get(at_community["id"], third_staff)).json()
    assert (file["level"], file["mediator_person_id"]) == ("street", mediators["third"])
    assert (await h.get(at_community["id"], second_staff)).status_code == 404
    assert (await h.get(at_community["id"], h.mediator(mediators["second"], second))).status_code == 404
    assert await listed(h, second_staff) & (moved_ids | {late["id"]}) == set()
    # The grid's case keeps its mediator (the grid moved along) and the ladder climbs to the third street.
    resp = await h.post(at_grid["id"], "escalation", {"reason": "涉及多户", "to_level": "street"},
                        h.staff("grid_manager", newest_grid))
    assert resp.status_code == 200, resp.text
    assert (await h.get(at_grid["id"], third_staff)).json()["mediator_person_id"] == mediators["third"]
    # A code of any earlier link of the chain is today's code.
    latest = await h.open_case(place, h.staff("grid_manager", newest_grid), place_code=f"{place.grid}001")
    assert latest["place_code"] == f"{newest_grid}001"
    assert await opened(h, newest) == 4 and await opened(h, receiving) == 4 and await opened(h, second) == 0
    # Nothing is left under the earlier codes.
    async with transaction(h.app.state.sessions) as session:
        left = await session.scalar(text(
            "SELECT count(*) FROM mediation_case WHERE place_code LIKE :a OR place_code LIKE :b "
            "OR community_code LIKE :c"), {"a": place.grid + "%", "b": receiving + "%", "c": receiving + "%"})
    assert left == 0
