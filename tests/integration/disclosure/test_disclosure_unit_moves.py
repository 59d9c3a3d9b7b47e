"""A community moved to another street (registry unit.moved, through the broker) takes its disclosure along."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime

from sqlalchemy import text

from services.disclosure.rules.cadence import SHANGHAI
from services.matters import events as matters
from services.mediation import events as mediation
from services.registry import events as registry
from youmin.testing import eventually

POSTED = datetime(2026, 11, 5, 10, tzinfo=SHANGHAI)
REPORTED = datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)


async def items_of(disclosure, unit: str, **params) -> list[dict]:
    resp = await disclosure.client.get("/public/v1/items", params={"unit": unit, "limit": 200, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def mediation_opened(disclosure, unit: str) -> int:
    resp = await disclosure.client.get("/public/v1/statistics/mediation",
                                       params={"unit": unit, "period": "2026-11", "outcome": "opened"})
    assert resp.status_code == 200, resp.text
    return sum(row["count"] for row in resp.json()["rows"])


async def listed_under(disclosure, parent: str, code: str) -> bool:
    resp = await disclosure.client.get("/public/v1/units", params={"parent": parent})
    return code in {u["code"] for u in resp.json()["units"]}


async def cadence(disclosure, street: str) -> dict:
    resp = await disclosure.client.get("/api/v1/disclosure/reports/cadence", params={"unit_code": street},
                                       headers=disclosure.token("street_staff", street))
    assert resp.status_code == 200, resp.text
    return resp.json()


def listed_in(report: dict) -> set[str]:
    return {*report["compliant"], *(row["community_code"] for row in report["overdue"])}


def opened(place: str) -> mediation.CaseOpened:
    return mediation.CaseOpened(case_id=uuid.uuid4(), place_code=place, level="grid", dispute_type="neighbour",
                                opened_at=POSTED)


async def test_a_community_moved_to_another_street_takes_its_disclosure_along(disclosure, clock):
    # Streets 055-059 are this test's own; the community keeps one segment through its moves, for readability.
    first, second, third = (f"370705{n:03d}" for n in random.sample(range(55, 60), 3))
    segment = f"{random.randint(100, 999):03d}"
    old, new, newest = first + segment, second + segment, third + segment
    community_id = uuid.uuid4()
    for code, parent, level, unit_id in ((first, "370705", "street", uuid.uuid4()),
                                         (second, "370705", "street", uuid.uuid4()),
                                         (third, "370705", "street", uuid.uuid4()),
                                         (old, first, "community", community_id),
                                         (old + "001", old, "grid", uuid.uuid4())):
        await disclosure.send(registry.UnitCreated(unit_id=unit_id, unit_code=code, parent_code=parent, level=level,
                                                   unit_name=f"单位{code[-3:]}", effective_on=date(2026, 1, 1)))
    await eventually(lambda: listed_under(disclosure, old, old + "001"))

    # Before the move: the community keeps up its disclosure, a resident asks, and at its grid a matter is decided, a
    # dispute is opened and a grid manager takes up duty.
    clock.set(POSTED)
    staff = disclosure.token("community_staff", old)
    for kind in ("party", "residents"):
        resp = await disclosure.client.post("/api/v1/disclosure/items", headers=staff, json={
            "unit_code": old, "kind": kind, "category": "notice", "title": "季度公开", "body": "内容"})
        assert resp.status_code == 201, resp.text
    notice = resp.json()
    resp = await disclosure.client.post("/api/v1/disclosure/finance-statements", headers=staff, json={
        "unit_code": old, "period": "2026-10",
        "lines": [{"fund_type": "other", "income_cents": 0, "expenditure_cents": 0, "balance_cents": 0}]})
    assert resp.status_code == 201, resp.text
    question = await disclosure.client.post(
        f"/api/v1/disclosure/items/{notice['id']}/questions", json={"body": "经费从哪里出？"},
        headers=disclosure.token("resident", old + "001002010101", sub=f"resident-{uuid.uuid4().hex[:6]}"))
    assert question.status_code == 201, question.text
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterDecided(
        matter_id=matter_id, community_code=old, unit_code=old + "001", category="facilities",
        channel="residents_meeting", public_title="修缮3号楼雨棚", rule_version="urco-2018", quorum_met=True,
        passed=True, base_size=120, present=80, votes_for=61, votes_against=12, abstain=7, decided_at=POSTED))
    await disclosure.send(opened(old + "001"))
    await disclosure.send(registry.RoleGranted(grant_id=uuid.uuid4(), person_id=uuid.uuid4(), role="grid_manager",
                                               scope_code=old + "001", effective_on=date(2026, 11, 1)))
    # A dispute opened where the grid will be, counted before this service learns of the move: the counts meet.
    await disclosure.send(opened(new + "001"))

    async def counted():
        return await mediation_opened(disclosure, old) == 1 and await mediation_opened(disclosure, new) == 1

    await eventually(counted)
    for category in ("matter_decision", "duty_change"):
        await eventually(lambda: items_of(disclosure, old, category=category))
    before = {i["id"]: i["category"] for i in await items_of(disclosure, old)}
    assert sorted(before.values()) == ["duty_change", "finance_statement", "matter_decision", "mediation_statistics",
                                       "notice", "notice"]

    move = registry.UnitMoved(unit_id=community_id, old_code=old, new_code=new, new_parent_code=second,
                              effective_on=date(2026, 11, 15))
    envelope = await disclosure.send(move)
    # Delivered twice (the inbox absorbs it), and sent twice (the handler must change nothing more).
    await disclosure.producer.send_and_wait(envelope.topic, value=envelope.value(), key=envelope.key.encode(),
                                            headers=envelope.headers())
    await disclosure.send(move)  # a fresh event id each time it is sent
    await eventually(lambda: listed_under(disclosure, second, new))

    moved = await items_of(disclosure, new)
    assert await items_of(disclosure, old) == []
    # Every item followed, the statistics counted under both codes are one item, and the other is taken down.
    stats = [i for i in moved if i["category"] == "mediation_statistics"]
    assert len(stats) == 1 and stats[0]["content"]["by_level"]["grid"]["opened"] == 2
    assert {i["id"] for i in moved if i["category"] != "mediation_statistics"} == {
        id_ for id_, category in before.items() if category != "mediation_statistics"}
    assert all(i["community_code"] == new for i in moved)
    [decision] = [i for i in moved if i["category"] == "matter_decision"]
    [duty] = [i for i in moved if i["category"] == "duty_change"]
    assert decision["unit_code"] == duty["unit_code"] == duty["content"]["scope_code"] == new + "001"
    assert await mediation_opened(disclosure, new) == 2 and await mediation_opened(disclosure, old) == 0
    matter = (await disclosure.client.get(f"/public/v1/matters/{matter_id}")).json()
    assert (matter["community_code"], matter["unit_code"]) == (new, new + "001")
    asked = await disclosure.client.get("/api/v1/disclosure/questions", params={"unit_code": new},
                                        headers=disclosure.token("community_staff", new))
    assert [q["id"] for q in asked.json()] == [question.json()["id"]]

    # The new street's report counts what the community disclosed; the old street no longer lists it.
    clock.set(REPORTED)
    assert new in (await cadence(disclosure, second))["compliant"]
    assert listed_in(await cadence(disclosure, first)) & {old, new} == set()

    # Moved on again: the chain ends at today's code, and events naming the first code land there too.
    await disclosure.send(registry.UnitMoved(unit_id=community_id, old_code=new, new_code=newest, new_parent_code=third,
                                             effective_on=date(2026, 11, 18)))
    await eventually(lambda: listed_under(disclosure, third, newest))
    assert await items_of(disclosure, new) == []
    assert {i["id"] for i in await items_of(disclosure, newest)} == {i["id"] for i in moved}
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=old, task_id=uuid.uuid4(),
                                                        percent=30, budget_cents=1000, spent_cents=300, at=REPORTED))
    await disclosure.send(opened(old + "001"))

    async def late_events_landed():
        progress = await items_of(disclosure, newest, category="matter_progress")
        return progress if progress and await mediation_opened(disclosure, newest) == 3 else None

    [progress] = await eventually(late_events_landed)
    assert progress["unit_code"] == newest + "001"
    assert len(await items_of(disclosure, newest, category="mediation_statistics")) == 1
    assert await items_of(disclosure, old) == [] and await items_of(disclosure, new) == []
    matter = (await disclosure.client.get(f"/public/v1/matters/{matter_id}")).json()
    assert (matter["community_code"], matter["unit_code"]) == (newest, newest + "001")
    assert listed_in(await cadence(disclosure, second)) & {old, new, newest} == set()
    assert newest in (await cadence(disclosure, third))["compliant"]
    # Nothing is left under the earlier codes, the withdrawn statistics item included.
    async with disclosure.app.state.sessions() as session:
        for table, column in (("disclosure_item", "unit_code"), ("disclosure_item", "community_code"),
                              ("supervision_question", "unit_code"), ("public_matter", "unit_code"),
                              ("public_matter", "community_code"), ("mediation_tally", "unit_code")):
            left = await session.scalar(
                text(f"SELECT count(*) FROM {table} WHERE {column} LIKE :a OR {column} LIKE :b"),
                {"a": old + "%", "b": new + "%"})
            assert left == 0, (table, column)


async def _units(disclosure, rows) -> None:
    for code, parent, level, unit_id in rows:
        await disclosure.send(registry.UnitCreated(unit_id=unit_id, unit_code=code, parent_code=parent, level=level,
                                                   unit_name=f"单位{code[-3:]}", effective_on=date(2026, 1, 1)))


async def test_staff_posting_with_a_token_from_before_a_move_post_where_the_unit_is_today(disclosure):
    first, second = (f"370705{n:03d}" for n in random.sample(range(60, 65), 2))
    segment = f"{random.randint(100, 999):03d}"
    old, new, community_id = first + segment, second + segment, uuid.uuid4()
    await _units(disclosure, [(first, "370705", "street", uuid.uuid4()), (second, "370705", "street", uuid.uuid4()),
                              (old, first, "community", community_id)])
    await eventually(lambda: listed_under(disclosure, first, old))
    await disclosure.send(registry.UnitMoved(unit_id=community_id, old_code=old, new_code=new, new_parent_code=second,
                                             effective_on=date(2026, 11, 15)))
    await eventually(lambda: listed_under(disclosure, second, new))
    staff = disclosure.token("community_staff", old)  # issued before the move
    for named in (old, new):
        resp = await disclosure.client.post("/api/v1/disclosure/items", headers=staff, json={
            "unit_code": named, "kind": "residents", "category": "notice", "title": "季度公开", "body": "内容"})
        assert resp.status_code == 201 and resp.json()["unit_code"] == new, resp.text
    item_id = resp.json()["id"]
    # The same token reads the staff views, and a resident's token from before the move questions the item.
    for path, params in (("/api/v1/disclosure/items", {"unit_code": old}), ("/api/v1/disclosure/items", {"unit_code": new}),
                         (f"/api/v1/disclosure/items/{item_id}", {}), ("/api/v1/disclosure/questions", {"unit_code": old})):
        read = await disclosure.client.get(path, params=params, headers=staff)
        assert read.status_code == 200, (path, params, read.text)
    resident = disclosure.token("resident", old + "001001010101")
    asked = await disclosure.client.post(f"/api/v1/disclosure/items/{item_id}/questions", headers=resident,
                                         json={"body": "请问公开内容何时更新？"})
    assert asked.status_code == 201, asked.text
    report = await cadence(disclosure, second)
    assert new in listed_in(report)
    # The old address (a printed QR code, a feed subscription) leads to the community where it is now.
    page = await disclosure.client.get(f"/portal/units/{old}", follow_redirects=False)
    assert page.status_code == 301 and page.headers["location"] == f"/portal/units/{new}"
    feed = await disclosure.client.get(f"/public/v1/units/{old}/feed.atom", follow_redirects=False)
    assert feed.status_code == 301 and feed.headers["location"] == f"/public/v1/units/{new}/feed.atom"
    made_up = await disclosure.client.get(f"/portal/units/{second}999")  # no such community: not an empty board
    assert made_up.status_code == 404


async def test_a_grid_whose_move_arrives_before_its_communitys_earlier_move_ends_where_the_registry_put_it(disclosure):
    # The registry moves a community to another street, then its grid to a community of a third street; the grid's
    # move (keyed by the grid) is consumed first.
    s1, s2, s3 = (f"370705{n:03d}" for n in random.sample(range(65, 70), 3))
    segment = f"{random.randint(100, 999):03d}"
    c1, c1n, c2 = s1 + segment, s2 + segment, s3 + segment
    community_id, grid_id = uuid.uuid4(), uuid.uuid4()
    await _units(disclosure, [(s1, "370705", "street", uuid.uuid4()), (s2, "370705", "street", uuid.uuid4()),
                              (s3, "370705", "street", uuid.uuid4()), (c1, s1, "community", community_id),
                              (c2, s3, "community", uuid.uuid4()), (c1 + "001", c1, "grid", grid_id)])
    await eventually(lambda: listed_under(disclosure, c1, c1 + "001"))
    posted = await disclosure.client.post("/api/v1/disclosure/items", headers=disclosure.token("community_staff", c1),
                                          json={"unit_code": c1 + "001", "kind": "residents", "category": "notice",
                                                "title": "网格公开", "body": "内容"})
    assert posted.status_code == 201, posted.text
    await disclosure.send(registry.UnitMoved(unit_id=grid_id, old_code=c1n + "001", new_code=c2 + "002",
                                             new_parent_code=c2, effective_on=date(2026, 3, 1)))
    await disclosure.send(registry.UnitMoved(unit_id=community_id, old_code=c1, new_code=c1n, new_parent_code=s2,
                                             effective_on=date(2026, 2, 1)))
    await eventually(lambda: listed_under(disclosure, s2, c1n))
    assert await listed_under(disclosure, c2, c2 + "002") and not await listed_under(disclosure, c1n, c1n + "001")
    assert [i["id"] for i in await items_of(disclosure, c2 + "002")] == [posted.json()["id"]]


async def test_a_grid_taken_along_by_its_old_communitys_later_move_ends_where_the_registry_put_it(disclosure):
    # The registry moves grid C out of community U, then U to another street; U's move is consumed first and takes C
    # along, C's own move then takes C (and its items) on from there.
    s1, s2, s3 = (f"370705{n:03d}" for n in random.sample(range(70, 75), 3))
    segment = f"{random.randint(100, 999):03d}"
    u, u_new, other = s1 + segment, s2 + segment, s3 + segment
    u_id, grid_id = uuid.uuid4(), uuid.uuid4()
    await _units(disclosure, [(s1, "370705", "street", uuid.uuid4()), (s2, "370705", "street", uuid.uuid4()),
                              (s3, "370705", "street", uuid.uuid4()), (u, s1, "community", u_id),
                              (other, s3, "community", uuid.uuid4()), (u + "001", u, "grid", grid_id)])
    await eventually(lambda: listed_under(disclosure, u, u + "001"))
    posted = await disclosure.client.post("/api/v1/disclosure/items", headers=disclosure.token("community_staff", u),
                                          json={"unit_code": u + "001", "kind": "residents", "category": "notice",
                                                "title": "网格公开", "body": "内容"})
    assert posted.status_code == 201, posted.text
    await disclosure.send(registry.UnitMoved(unit_id=u_id, old_code=u, new_code=u_new, new_parent_code=s2,
                                             effective_on=date(2026, 3, 1)))
    await disclosure.send(registry.UnitMoved(unit_id=grid_id, old_code=u + "001", new_code=other + "001",
                                             new_parent_code=other, effective_on=date(2026, 2, 1)))
    await eventually(lambda: listed_under(disclosure, other, other + "001"))
    assert not await listed_under(disclosure, u_new, u_new + "001")
    assert [i["id"] for i in await items_of(disclosure, other + "001")] == [posted.json()["id"]]
    assert await items_of(disclosure, u_new) == []
