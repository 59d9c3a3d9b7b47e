"""A unit the registry moves (unit.moved, through the broker) takes the matters service's rows along: matters, votes,
work orders, tasks and template choices follow it to the new code, where its new parent's staff and its own staff act
on them, and the old parent's staff no longer see them."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import asyncpg
import pytest
from sqlalchemy import text
from aiokafka import AIOKafkaProducer

from services.matters.repository import CodeMoveRepository
from services.matters.schemas import MatterCreate
from services.matters.service import Context, MattersService
from services.registry import events as reg
from youmin.kit.auth import Grant, Principal
from youmin.kit.db import transaction
from youmin.kit.events import Envelope, Event
from youmin.kit.kafka import make_producer
from youmin.kit.migrate import drop_database, ensure_database, upgrade_async
from youmin.kit.relay import asyncpg_dsn
from youmin.testing import eventually

LEVELS = {9: "street", 12: "community", 15: "grid"}
MOVED_ON = date(2026, 11, 15)


class Registry:
    """Sends registry events through the broker, as the registry's outbox relay does."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def send(self, *events: Event | Envelope) -> list[Envelope]:
        """Sends events (or envelopes sent before, delivered again); returns their envelopes."""
        sent = []
        for event in events:
            env = event if isinstance(event, Envelope) else Envelope.of(event)
            await self.producer.send_and_wait(env.topic, value=env.value(), key=env.key.encode(), headers=env.headers())
            sent.append(env)
        return sent


@pytest.fixture
async def registry(infra) -> AsyncIterator[Registry]:
    producer = make_producer(infra.bootstrap, idempotence=False, client_id="matters-moves-test")
    await producer.start()
    try:
        yield Registry(producer)
    finally:
        await producer.stop()


async def _waiting_for_the_move_lock(matters) -> list:
    """The transactions of the matters database waiting for the lock that orders code moves and code writes."""
    return await matters.sql(
        "SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted "
        "AND l.objid::bigint = hashtext('matters.code_moves')::bigint & 4294967295")


def _streets(count: int) -> list[str]:
    """Fresh street codes (another test's random community may lie under one: the checks name this test's rows)."""
    return [f"370705{n:03d}" for n in random.sample(range(900, 1000), count)]


def _unit(code: str, parent: str | None, unit_id: uuid.UUID | None = None) -> reg.UnitCreated:
    return reg.UnitCreated(unit_id=unit_id or uuid.uuid4(), unit_code=code, parent_code=parent, level=LEVELS[len(code)],
                           unit_name=f"单位{code[-3:]}", effective_on=date(2026, 1, 1))


def _department() -> str:
    return f"D{uuid.uuid4().hex[:8].upper()}"


async def _processed(matters, env: Envelope) -> bool:
    """Whether the replica consumer has taken an event (its inbox row commits with the event's effects)."""
    rows = await matters.sql("SELECT 1 FROM inbox_event WHERE consumer = 'matters-replica' AND event_id = :id",
                             id=env.id)
    return bool(rows)


async def _known(matters, code: str) -> bool:
    return bool(await matters.sql("SELECT 1 FROM replica_unit WHERE code = :c", c=code))


async def _listed(matters, headers: dict[str, str]) -> set[str]:
    resp = await matters.client.get("/api/v1/matters/", params={"limit": 500}, headers=headers)
    assert resp.status_code == 200, resp.text
    return {m["matter_id"] for m in resp.json()["items"]}


async def _orders(matters, headers: dict[str, str]) -> set[str]:
    resp = await matters.client.get("/api/v1/matters/workorders", params={"limit": 500}, headers=headers)
    assert resp.status_code == 200, resp.text
    return {o["work_order_id"] for o in resp.json()}


async def _burden(matters, headers: dict[str, str]) -> set[str]:
    resp = await matters.client.get("/api/v1/matters/department-tasks/burden", headers=headers)
    assert resp.status_code == 200, resp.text
    return {row["community_code"] for row in resp.json()["items"]}


async def _codes(matters, matter_ids: list[str], department: str) -> dict[str, list]:
    """Every code this service keeps for the test's matters, votes, orders, tasks and community."""
    ids = [uuid.UUID(m) for m in matter_ids]
    queries = {
        "matter": "SELECT matter_id, unit_code, community_code, proposer_household_code FROM matter "
                  "WHERE matter_id = ANY(:ids)",
        "placement": "SELECT transition_id, details FROM matter_transition WHERE matter_id = ANY(:ids) AND action = 'place'",
        "vote": "SELECT vote_id, scope_code FROM vote WHERE matter_id = ANY(:ids)",
        "elector": "SELECT e.voter_key, e.household_code FROM vote_elector e JOIN vote v USING (vote_id) "
                   "WHERE v.matter_id = ANY(:ids)",
        "ballot": "SELECT b.voter_key FROM ballot b JOIN vote v USING (vote_id) WHERE v.matter_id = ANY(:ids)",
        "work_order": "SELECT work_order_id, community_code FROM work_order WHERE matter_id = ANY(:ids)",
        "work_order_change": "SELECT seq, community_code FROM work_order_change WHERE matter_id = ANY(:ids)",
        "task": "SELECT task_id, responsible_code FROM implementation_task WHERE matter_id = ANY(:ids)",
    }
    codes = {name: sorted(tuple(r) for r in await matters.sql(q, ids=ids)) for name, q in queries.items()}
    codes["department_task"] = sorted(tuple(r) for r in await matters.sql(
        "SELECT task_id, community_code FROM department_task WHERE department_code = :d", d=department))
    return codes


def _left_under(codes: dict[str, list], *prefixes: str) -> list:
    """The rows with a code (in any column, JSON details included) that still lies under one of the prefixes."""

    def values(row: tuple) -> list:
        return [v for value in row for v in (value.values() if isinstance(value, dict) else [value])]

    return [(name, row) for name, rows in codes.items() for row in rows
            if any(isinstance(v, str) and v.startswith(p) for v in values(row) for p in prefixes)]


async def test_a_community_moved_to_another_street_takes_its_matters_votes_and_work_orders_along(matters, registry):
    first, second, third = _streets(3)
    segment = f"{random.randint(100, 999):03d}"
    old, new, newest = first + segment, second + segment, third + segment
    grid = "001"
    community_id, department, late_department = uuid.uuid4(), _department(), _department()
    homes, people = matters.households_events(old, 2)  # at grid 001, building 001, unit 01
    await registry.send(_unit(first, "370705"), _unit(second, "370705"), _unit(third, "370705"),
                        _unit(old, first, community_id), _unit(old + grid, old),
                        reg.DepartmentAssigned(department_code=department, community_code=old, active=True,
                                               effective_on=date(2026, 1, 1)), *people)

    async def replicated():
        households = await matters.sql("SELECT 1 FROM replica_household WHERE household_code LIKE :p", p=old + "%")
        assigned = await matters.sql("SELECT 1 FROM replica_department_assignment WHERE community_code = :c", c=old)
        return await _known(matters, old + grid) and len(households) == 2 and assigned

    await eventually(replicated, timeout=60)

    # Before the move, the community's staff work by the household decision (户决制): a matter placed at the grid is
    # put to the households' vote, and one household votes; another matter is decided, carried out by the community
    # and sent to its department; a resident raises a third; a department pushes a task to the community.
    staff = matters.staff(old)
    resp = await matters.client.put(f"/api/v1/matters/templates/communities/{old}",
                                    json={"template_code": "nanhu-household-decision"}, headers=staff)
    assert resp.status_code == 200, resp.text
    voted = (await matters.raise_matter(old, title="加装电梯"))["matter_id"]
    await matters.move(voted, old, {"action": "place", "unit_code": old + grid}, "accept", "route")
    resp = await matters.client.post(f"/api/v1/matters/{voted}/votes", json={}, headers=staff)
    assert resp.status_code == 201, resp.text
    vote_id = resp.json()["vote_id"]
    assert (resp.json()["scope_code"], resp.json()["base_size"]) == (old + grid, 2)
    ballot = await matters.client.post(f"/api/v1/matters/votes/{vote_id}/ballots", json={"choice": "for"},
                                       headers=matters.resident(homes[0].representative, homes[0].code))
    assert ballot.status_code == 201 and ballot.json()["voter_key"] == homes[0].code, ballot.text

    dispatched = (await matters.raise_matter(old, title="下水道堵塞"))["matter_id"]
    await matters.move(dispatched, old, "accept", {"action": "route", "channel": "deliberation", "reason": "协商"},
                       "start_deliberation", "start_decision", {"action": "decide", "reason": "议事会一致同意"})
    resp = await matters.client.post(f"/api/v1/matters/{dispatched}/tasks", headers=staff, json={
        "title": "疏通管道", "responsible_kind": "community", "budget_cents": 50_000, "due_on": "2027-06-30"})
    assert resp.status_code == 201 and resp.json()["responsible_code"] == old, resp.text
    resp = await matters.client.post(f"/api/v1/matters/{dispatched}/workorders", headers=staff)
    assert resp.status_code == 201, resp.text
    order_id = resp.json()["work_order_id"]

    resp = await matters.client.post("/api/v1/matters/", headers=matters.resident(homes[1].representative, homes[1].code),
                                     json={"title": "楼道堆放杂物", "description": "影响消防通道", "category": "public_safety"})
    assert resp.status_code == 201, resp.text
    raised = resp.json()["matter_id"]
    resp = await matters.client.post("/api/v1/matters/department-tasks", headers=matters.department(department),
                                     json={"community_code": old, "catalogue_code": "X001", "title": "低保初审"})
    assert resp.status_code == 201, resp.text
    ours = [voted, dispatched, raised]
    assert set(ours) <= await _listed(matters, matters.staff(first))

    move = reg.UnitMoved(unit_id=community_id, old_code=old, new_code=new, new_parent_code=second, effective_on=MOVED_ON)
    [moved] = await registry.send(move)
    await eventually(lambda: _processed(matters, moved), timeout=60)
    codes = await _codes(matters, ours, department)
    assert _left_under(codes, old) == []

    # The new street's staff and the community's staff under its new code read, list and act on what it had.
    assert set(ours) <= await _listed(matters, matters.staff(second))
    staff = matters.staff(new)
    assert set(ours) <= await _listed(matters, staff)
    detail = (await matters.client.get(f"/api/v1/matters/{voted}", headers=staff)).json()
    assert (detail["community_code"], detail["unit_code"]) == (new, new + grid)
    [placed] = [t for t in detail["timeline"] if t["action"] == "place"]
    assert placed["details"] == {"from_unit_code": new, "to_unit_code": new + grid}
    assert detail["template_code"] == "nanhu-household-decision"
    template = (await matters.client.get(f"/api/v1/matters/templates/communities/{new}", headers=staff)).json()
    assert (template["chosen"], template["template"]["code"]) == (True, "nanhu-household-decision")
    vote = (await matters.client.get(f"/api/v1/matters/votes/{vote_id}", headers=staff)).json()
    assert (vote["scope_code"], vote["base_size"], vote["participated"]) == (new + grid, 2, 1)
    [order] = [o for o in (await matters.client.get("/api/v1/matters/workorders", params={"limit": 500},
                                                     headers=staff)).json() if o["work_order_id"] == order_id]
    assert order["community_code"] == new
    street = matters.staff(second)
    assert order_id in await _orders(matters, street)
    for path in (f"votes/{vote_id}", f"workorders/{order_id}", dispatched):
        assert (await matters.client.get(f"/api/v1/matters/{path}", headers=street)).status_code == 200, path
    [task] = (await matters.client.get(f"/api/v1/matters/{dispatched}/tasks", headers=staff)).json()
    assert task["responsible_code"] == new
    assert new in await _burden(matters, matters.staff(second))

    # The old street's staff no longer see any of it.
    gone = matters.staff(first)
    assert set(ours) & await _listed(matters, gone) == set()
    assert order_id not in await _orders(matters, gone)
    assert (await matters.client.get(f"/api/v1/matters/{voted}", headers=gone)).status_code == 404
    assert (await matters.client.get(f"/api/v1/matters/votes/{vote_id}", headers=gone)).status_code == 404
    assert (await matters.client.get(f"/api/v1/matters/workorders/{order_id}", headers=gone)).status_code == 404
    refused = await matters.client.post(f"/api/v1/matters/{raised}/transitions", json={"action": "accept"}, headers=gone)
    assert refused.status_code == 404
    assert {old, new} & await _burden(matters, gone) == set()
    # A token issued before the move names the community by its old code: it is the same community, read as today.
    before = matters.staff(old)
    assert set(ours) <= await _listed(matters, before) and order_id in await _orders(matters, before)
    assert (await matters.client.get(f"/api/v1/matters/{voted}", headers=before)).json()["unit_code"] == new + grid

    # Delivered again (the inbox absorbs it) and sent again (a fresh event id: the handler changes nothing more).
    _, again = await registry.send(moved, move)
    await eventually(lambda: _processed(matters, again), timeout=60)
    assert await _codes(matters, ours, department) == codes

    # The households vote on under their new codes: the one that voted cannot vote again, the other's ballot counts
    # (named by the code its app and token still knew), and the community's staff close the vote; the street's staff
    # take up the resident's matter and the department answers its order.
    home_codes = [new + h.code[len(old):] for h in homes]
    repeat = await matters.client.post(f"/api/v1/matters/votes/{vote_id}/ballots", json={"choice": "against"},
                                       headers=matters.resident(homes[0].representative, home_codes[0]))
    assert repeat.status_code == 409 and repeat.json()["voter_key"] == home_codes[0], repeat.text
    # A sign-in sheet printed before the move names the household by its old code: it is the same household, which
    # voted online already (not one outside the electorate).
    paper = await matters.client.post(f"/api/v1/matters/votes/{vote_id}/offline-tallies", headers=staff, json={
        "votes_for": 1, "votes_against": 0, "abstain": 0, "sign_in_ref": "签到表-1", "attendee_keys": [homes[0].code]})
    assert paper.status_code == 422 and paper.json()["rule"] == "vote.offline_attendee_already_voted", paper.text
    assert paper.json()["already_voted"] == [home_codes[0]]
    second_ballot = await matters.client.post(
        f"/api/v1/matters/votes/{vote_id}/ballots", json={"choice": "for", "household_code": homes[1].code},
        headers=matters.resident(homes[1].representative, homes[1].code))
    assert second_ballot.status_code == 201 and second_ballot.json()["voter_key"] == home_codes[1], second_ballot.text
    closed = await matters.client.post(f"/api/v1/matters/votes/{vote_id}/close", headers=staff)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["present"], closed.json()["votes_for"], closed.json()["passed"]) == (2, 2, True)
    accepted = await matters.client.post(f"/api/v1/matters/{raised}/transitions", json={"action": "accept"},
                                         headers=street)
    assert accepted.status_code == 200, accepted.text
    answered = await matters.client.post(f"/api/v1/matters/workorders/{order_id}/answer", json={"answer": "已疏通"},
                                         headers=matters.department(department))
    assert answered.status_code == 200 and answered.json()["community_code"] == new, answered.text
    feed = (await matters.client.get("/api/v1/matters/workorders/feed", headers=matters.department(department))).json()
    assert [i["community_code"] for i in feed["items"] if i["work_order_id"] == order_id] == [new, new]

    # Moved on again: the chain ends at today's code, and what still names the first code lands there too.
    [chained] = await registry.send(reg.UnitMoved(unit_id=community_id, old_code=new, new_code=newest,
                                                  new_parent_code=third, effective_on=date(2026, 11, 18)))
    await eventually(lambda: _processed(matters, chained), timeout=60)
    staff = matters.staff(newest)
    assert set(ours) <= await _listed(matters, matters.staff(third)) and set(ours) <= await _listed(matters, staff)
    gone = matters.staff(second)
    assert set(ours) & await _listed(matters, gone) == set() and order_id not in await _orders(matters, gone)
    for before in (matters.staff(old), matters.staff(new)):  # tokens issued before either move
        assert set(ours) <= await _listed(matters, before)
    vote = (await matters.client.get(f"/api/v1/matters/votes/{vote_id}", headers=staff)).json()
    assert vote["scope_code"] == newest + grid
    # A registry event sent before the moves (a department bound to the community by its first code) and a resident
    # whose token still names the first household code.
    [assigned] = await registry.send(reg.DepartmentAssigned(department_code=late_department, community_code=old,
                                                            active=True, effective_on=date(2026, 11, 1)))
    await eventually(lambda: _processed(matters, assigned), timeout=60)
    resp = await matters.client.post(f"/api/v1/matters/{raised}/workorders", headers=staff,
                                     json={"department_code": late_department})
    assert resp.status_code == 201 and resp.json()["community_code"] == newest, resp.text
    resp = await matters.client.post("/api/v1/matters/", headers=matters.resident(homes[0].representative, homes[0].code),
                                     json={"title": "小区路灯不亮", "description": "夜间出行不便", "category": "city_management"})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["community_code"], resp.json()["unit_code"]) == (newest, newest)
    late = resp.json()["matter_id"]
    resp = await matters.client.post("/api/v1/matters/department-tasks", headers=matters.department(department),
                                     json={"community_code": old, "catalogue_code": "X001", "title": "高龄补贴审核"})
    assert resp.status_code == 201 and resp.json()["community_code"] == newest, resp.text
    assert late in await _listed(matters, staff) and newest in await _burden(matters, matters.staff(third))
    assert {old, new, newest} & await _burden(matters, matters.staff(second)) == set()
    template = (await matters.client.get(f"/api/v1/matters/templates/communities/{old}", headers=staff)).json()
    assert (template["community_code"], template["chosen"]) == (newest, True)  # read by the code it had first
    # Nothing is left under the earlier codes, in any column or timeline entry.
    assert _left_under(await _codes(matters, [*ours, late], department), old, new) == []
    assert await matters.sql("SELECT 1 FROM community_template WHERE community_code IN (:a, :b)", a=old, b=new) == []


async def test_a_grid_moved_to_another_community_takes_its_matters_there_and_ends_their_open_orders(matters, registry):
    [street] = _streets(1)
    here, there = (street + f"{n:03d}" for n in random.sample(range(100, 1000), 2))
    grid_id, department, other = uuid.uuid4(), _department(), _department()
    await registry.send(_unit(street, "370705"), _unit(here, street), _unit(there, street),
                        _unit(here + "001", here, grid_id),
                        *(reg.DepartmentAssigned(department_code=d, community_code=c, active=True,
                                                 effective_on=date(2026, 1, 1)) for d, c in ((department, here),
                                                                                            (other, there))))
    await eventually(lambda: _known(matters, here + "001"), timeout=60)

    async def assigned():
        return len(await matters.sql("SELECT 1 FROM replica_department_assignment WHERE department_code IN (:a, :b)",
                                     a=department, b=other)) == 2

    await eventually(assigned)
    at_grid = (await matters.raise_matter(here, unit_code=here + "001", title="井盖破损"))["matter_id"]
    at_community = (await matters.raise_matter(here, title="社区广场照明"))["matter_id"]
    orders = {}
    for matter_id in (at_grid, at_community):
        await matters.move(matter_id, here, "accept")
        resp = await matters.client.post(f"/api/v1/matters/{matter_id}/workorders", headers=matters.staff(here))
        assert resp.status_code == 201, resp.text
        orders[matter_id] = resp.json()["work_order_id"]

    [moved] = await registry.send(reg.UnitMoved(unit_id=grid_id, old_code=here + "001", new_code=there + "007",
                                                new_parent_code=there, effective_on=MOVED_ON))
    await eventually(lambda: _processed(matters, moved), timeout=60)

    # The grid's matter is the other community's now; the community's own matter stays. The order sent for the grid's
    # matter went to the first community's department (部门包居): it is cancelled, and stays with the community that
    # sent it, whose department's feed says so and which no longer reads the matter.
    detail = (await matters.client.get(f"/api/v1/matters/{at_grid}", headers=matters.staff(there))).json()
    assert (detail["community_code"], detail["unit_code"]) == (there, there + "007")
    assert orders[at_grid] not in await _orders(matters, matters.staff(there))
    assert await _listed(matters, matters.staff(here)) & {at_grid, at_community} == {at_community}
    assert await _orders(matters, matters.staff(here)) & set(orders.values()) == set(orders.values())
    stored = await matters.sql("SELECT work_order_id::text, status, community_code FROM work_order WHERE matter_id IN (:a, :b)",
                               a=at_grid, b=at_community)
    assert {(r.work_order_id, r.status, r.community_code) for r in stored} == {
        (orders[at_grid], "cancelled", here), (orders[at_community], "dispatched", here)}
    feed = (await matters.client.get("/api/v1/matters/workorders/feed", params={"limit": 50},
                                     headers=matters.department(department))).json()
    assert [(i["work_order_id"], i["action"]) for i in feed["items"] if i["work_order_id"] == orders[at_grid]] == [
        (orders[at_grid], "dispatch"), (orders[at_grid], "cancel")]
    assert (await matters.client.get(f"/api/v1/matters/{at_grid}", headers=matters.department(department))).status_code == 404
    assert at_grid in await _listed(matters, matters.staff(there + "007"))
    # Its staff now dispatch it to their own community's department too.
    resp = await matters.client.post(f"/api/v1/matters/{at_grid}/workorders", headers=matters.staff(there),
                                     json={"department_code": other})
    assert resp.status_code == 201 and resp.json()["community_code"] == there, resp.text


async def test_a_matter_raised_while_its_community_moves_is_re_coded_with_the_move(matters, registry, clock):
    first, second = _streets(2)
    segment = f"{random.randint(100, 999):03d}"
    old, new, community_id = first + segment, second + segment, uuid.uuid4()
    await registry.send(_unit(first, "370705"), _unit(second, "370705"), _unit(old, first, community_id))
    await eventually(lambda: _known(matters, old), timeout=60)

    staff = Principal(sub="staff-visit", grants=[Grant(role="community_staff", scope=old)])
    data = MatterCreate(title="垃圾清运不及时", description="小区垃圾桶满溢", category="city_management", unit_code=old)
    async with transaction(matters.app.state.sessions) as session:
        # A raise in a transaction already begun (the caller's scopes re-read, an integration's checks) holds the lock
        # until that transaction ends.
        await session.execute(text("SELECT 1"))
        matter, _, _ = await MattersService(session, matters.settings).raise_matter(Context(staff, clock.now), data)
        assert matter.unit_code == old
        # The move arrives while the matter is being written under the old code: it waits for the write to commit.
        [moved] = await registry.send(reg.UnitMoved(unit_id=community_id, old_code=old, new_code=new,
                                                    new_parent_code=second, effective_on=MOVED_ON))

        await eventually(lambda: _waiting_for_the_move_lock(matters), timeout=60)
        assert not await _processed(matters, moved)
    await eventually(lambda: _processed(matters, moved), timeout=60)
    detail = await matters.client.get(f"/api/v1/matters/{matter.matter_id}", headers=matters.staff(new))
    assert detail.status_code == 200 and (detail.json()["community_code"], detail.json()["unit_code"]) == (new, new)
    # Raised after the move by staff whose token still names the old code: written under the new one.
    late = await matters.client.post("/api/v1/matters/", headers=matters.staff(old), json={
        "title": "健身器材损坏", "description": "需要维修", "category": "property_management", "unit_code": old})
    assert late.status_code == 201 and (late.json()["community_code"], late.json()["unit_code"]) == (new, new)


async def test_rows_left_under_codes_that_moved_before_the_service_followed_moves_are_re_coded_by_its_migration(infra):
    url = infra.database_url("matters_moves_migration")
    await drop_database(url)
    await ensure_database(url)
    old, new = "370705901123", "370705902123"  # a community the replica saw move to another street
    grid, moved_grid = "370705901200001", "370705901300007"  # a grid it saw move to another community
    home, person = old + "00100101" + "0001", str(uuid.uuid4())
    at_community, at_grid, vote_id, order_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime(2026, 11, 20, tzinfo=UTC)
    try:
        await upgrade_async("matters", url, "matters_0012")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.execute("SET session_replication_role = replica")  # only the rows the migration reads
            await conn.executemany("INSERT INTO replica_code_move (old_code, new_code) VALUES ($1, $2)",
                                   [(old, new), (grid, moved_grid)])
            for matter_id, unit, household in ((at_community, old + "001", home), (at_grid, grid + "001", None)):
                await conn.execute(
                    "INSERT INTO matter (matter_id, community_code, unit_code, scope_level, title, description, category,"
                    " nature, state, raised_via, proposer_sub, proposer_kind, proposer_household_code)"
                    " VALUES ($1, $2, $3, 'grid', 't', 'd', 'city_management', 'general', 'deciding', 'app', 's', 'user',"
                    " $4)", matter_id, unit[:12], unit, household)
            await conn.execute(
                "INSERT INTO matter_transition (matter_id, to_state, action, actor_sub, details, at)"
                " VALUES ($1, 'raised', 'place', 's', $2, $3)",
                at_community, f'{{"from_unit_code": "{old}", "to_unit_code": "{old}001"}}', now)
            await conn.execute(
                "INSERT INTO vote (vote_id, matter_id, scope_code, rule_version, rule, secret, status, base_size,"
                " opens_at, opened_by) VALUES ($1, $2, $3, 'household-2018', '{}', false, 'open', 2, $4, 's')",
                vote_id, at_community, old + "001", now)
            await conn.executemany(
                "INSERT INTO vote_elector (vote_id, voter_key, household_code, caster_ids) VALUES ($1, $2, $3, $4)",
                [(vote_id, home, home, [person]), (vote_id, person, old + "001001010002", [person])])
            await conn.execute("INSERT INTO ballot (vote_id, voter_key, cast_by, via, cast_at)"
                               " VALUES ($1, $2, $3, 'online', $4)", vote_id, home, person, now)
            for matter_id, community in ((at_community, old), (at_grid, grid[:12])):
                await conn.execute(
                    "INSERT INTO work_order (work_order_id, matter_id, department_code, community_code, status,"
                    " dispatched_at, due_at) VALUES ($1, $2, 'D1', $3, 'dispatched', $4, $4)",
                    order_id if matter_id == at_community else uuid.uuid4(), matter_id, community, now)
            await conn.execute(
                "INSERT INTO work_order_change (work_order_id, matter_id, department_code, community_code, action,"
                " status, due_at, warning, at) VALUES ($1, $2, 'D1', $3, 'dispatch', 'dispatched', $4, 'none', $4)",
                order_id, at_community, old, now)
            await conn.execute(
                "INSERT INTO implementation_task (task_id, matter_id, title, responsible_kind, responsible_code,"
                " budget_cents, due_at, created_by) VALUES ($1, $2, 't', 'community', $3, 0, $4, 's')",
                uuid.uuid4(), at_community, old, now)
            await conn.execute(
                "INSERT INTO department_task (task_id, department_code, community_code, title, admitted, reason,"
                " submitted_at) VALUES ($1, 'D1', $2, 't', true, 'r', $3)", uuid.uuid4(), old, now)
            # A template chosen under the new code already (after the move) stays; the one under the old code goes.
            await conn.executemany("INSERT INTO community_template (community_code, template_code, chosen_by)"
                                   " VALUES ($1, $2, 's')", [(old, "weiwan-five-democracy"),
                                                             (new, "nanhu-household-decision")])
        finally:
            await conn.close()

        await upgrade_async("matters", url, "matters_0013")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            matters = {r["matter_id"]: tuple(r)[1:] for r in await conn.fetch(
                "SELECT matter_id, community_code, unit_code, proposer_household_code FROM matter")}
            assert matters == {at_community: (new, new + "001", new + home[12:]),
                               at_grid: (moved_grid[:12], moved_grid + "001", None)}
            details = await conn.fetchval("SELECT details::text FROM matter_transition")
            assert json.loads(details) == {"from_unit_code": new, "to_unit_code": new + "001"}
            assert await conn.fetchval("SELECT scope_code FROM vote") == new + "001"
            electors = {tuple(r) for r in await conn.fetch("SELECT voter_key, household_code FROM vote_elector")}
            assert electors == {(new + home[12:], new + home[12:]), (person, new + "001001010002")}
            assert await conn.fetchval("SELECT voter_key FROM ballot") == new + home[12:]
            orders = {r["matter_id"]: r["community_code"]
                      for r in await conn.fetch("SELECT matter_id, community_code FROM work_order")}
            assert orders == {at_community: new, at_grid: moved_grid[:12]}
            for table, column in (("work_order_change", "community_code"), ("implementation_task", "responsible_code"),
                                  ("department_task", "community_code")):
                assert await conn.fetchval(f"SELECT {column} FROM {table}") == new, table
            templates = {tuple(r) for r in await conn.fetch("SELECT community_code, template_code FROM community_template")}
            assert templates == {(new, "nanhu-household-decision")}
        finally:
            await conn.close()
    finally:
        await drop_database(url)


async def test_a_matter_raised_while_a_move_is_being_recorded_waits_for_it_and_is_written_under_the_new_code(
        matters, clock):
    first, second = _streets(2)
    segment = f"{random.randint(100, 999):03d}"
    old, new = first + segment, second + segment
    staff = Principal(sub="staff-district", grants=[Grant(role="community_staff", scope="370705")])
    data = MatterCreate(title="楼道灯不亮", description="三楼楼道", category="city_management", unit_code=old)
    # The move's transaction holds the lock exclusively and has recorded the move, not yet committed.
    async with transaction(matters.app.state.sessions) as moving:
        await CodeMoveRepository(moving).lock_for_move()
        await moving.execute(text("INSERT INTO replica_code_move (old_code, new_code) VALUES (:old, :new)"),
                             {"old": old, "new": new})

        async def raise_it():
            async with transaction(matters.app.state.sessions) as session:
                return (await MattersService(session, matters.settings).raise_matter(Context(staff, clock.now), data))[0]

        raising = asyncio.create_task(raise_it())

        await eventually(lambda: _waiting_for_the_move_lock(matters), timeout=30)
        assert not raising.done()
    # The codes are read once the lock is granted, after the move committed (not as they were when the raise began).
    matter = await raising
    assert (matter.community_code, matter.unit_code) == (new, new)
    [row] = await matters.sql("SELECT community_code, unit_code FROM matter WHERE matter_id = :m", m=matter.matter_id)
    assert tuple(row) == (new, new)
    # The raise's one statement, which took the codes as today's, wrote nothing under the old code.
    written = await matters.sql("SELECT unit_code FROM matter WHERE unit_code IN (:old, :new)", old=old, new=new)
    assert [tuple(r) for r in written] == [(new,)]
