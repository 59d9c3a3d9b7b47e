"""One scenario per community template, through the gateway over real HTTP (由民做主 end to end).

The registry replica of the matters service is fed through the broker: registry events are produced on the
registry topics and the running matters service's consumer applies them.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta

from sqlalchemy import text

from services.registry import events as reg
from youmin.kit.db import make_engine
from youmin.kit.events import Envelope
from youmin.kit.kafka import make_producer
from youmin.testing import eventually

ON = date(2026, 11, 1)


def _community() -> str:
    return f"370705{random.randrange(10**6):06d}"


def _household(community: str, n: int) -> str:
    return f"{community}00100101{n:04d}"


async def _publish(infra, *events) -> None:
    producer = make_producer(infra.bootstrap, idempotence=False, client_id="e2e-matters")
    await producer.start()
    try:
        for event in events:
            env = Envelope.of(event)
            await producer.send_and_wait(env.topic, value=env.value(), key=env.key.encode(), headers=env.headers())
    finally:
        await producer.stop()


async def _replicated(infra, query: str, expected: int, **params) -> None:
    engine = make_engine(infra.database_url("matters"), pool_size=1)
    try:
        async def check() -> bool:
            async with engine.connect() as conn:
                return (await conn.scalar(text(query), params)) == expected

        await eventually(check, timeout=60)
    finally:
        await engine.dispose()


async def _households(infra, community: str, count: int, *, proxies: bool = False) -> list[tuple[str, str, str | None]]:
    """Publishes `count` households (one adult representative each, optionally a proxy); waits for the replica."""
    made, events = [], []
    for n in range(1, count + 1):
        code, rep = _household(community, n), str(uuid.uuid4())
        proxy = str(uuid.uuid4()) if proxies else None
        events.append(reg.ResidencyChanged(person_id=rep, household_code=code, adult=True, effective_on=ON))
        events.append(reg.HouseholdRepresentativeSet(household_code=code, representative_person_id=rep,
                                                     proxy_person_ids=[proxy] if proxy else [], effective_on=ON))
        made.append((code, rep, proxy))
    await _publish(infra, *events)
    await _replicated(infra, "SELECT count(*) FROM replica_household WHERE household_code LIKE :p", count, p=community + "%")
    return made


async def _ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json()


async def _choose(stack, community: str, template: str) -> None:
    async with stack.client(stack.token("community_staff", community)) as staff:
        body = await _ok(await staff.put(f"/api/v1/matters/templates/communities/{community}", json={"template_code": template}))
        assert body["chosen"] is True


async def _rate_all(stack, community: str, matter_id: str, scores: list[int]) -> dict:
    result = {}
    for n, score in enumerate(scores, start=1):
        async with stack.client(stack.token("resident", _household(community, n), sub=str(uuid.uuid4()))) as resident:
            result = await _ok(await resident.post(f"/api/v1/matters/{matter_id}/ratings", json={"score": score}), 201)
    return result


async def test_weiwan_five_democracy_from_proposal_to_review(stack, infra):
    community = _community()
    await _choose(stack, community, "weiwan-five-democracy")
    homes = await _households(infra, community, 4)
    code, rep, _ = homes[0]
    async with stack.client(stack.token("resident", code, sub=rep)) as resident:
        matter = await _ok(await resident.post("/api/v1/matters/", json={
            "title": "小区增设电动车充电棚", "description": "楼下充电不安全", "category": "public_safety"}), 201)
    assert matter["stage"]["title"] == "民主提议"
    matter_id = matter["matter_id"]
    async with stack.client(stack.token("community_staff", community)) as staff:
        await _ok(await staff.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": "accept"}))
        routed = await _ok(await staff.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": "route"}))
        assert (routed["channel"], routed["stage"]["title"]) == ("residents_meeting", "民主商议")
        vote = await _ok(await staff.post(f"/api/v1/matters/{matter_id}/votes", json={}), 201)
        assert (vote["base_size"], vote["rule_version"]) == (4, "urcol-2018")
    for code, rep, _ in homes[:3]:
        async with stack.client(stack.token("resident", code, sub=rep)) as resident:
            receipt = await _ok(await resident.post(f"/api/v1/matters/votes/{vote['vote_id']}/ballots", json={"choice": "for"}), 201)
            checked = await _ok(await resident.get(f"/api/v1/matters/votes/{vote['vote_id']}/receipts/{receipt['receipt']}"))
            assert checked["counted"] is True
    async with stack.client(stack.token("community_staff", community)) as staff:
        result = await _ok(await staff.post(f"/api/v1/matters/votes/{vote['vote_id']}/close"))
        assert (result["quorum_met"], result["passed"], result["votes_for"]) == (True, True, 3)
        await _ok(await staff.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": "start_implementation"}))
        task = await _ok(await staff.post(f"/api/v1/matters/{matter_id}/tasks", json={
            "title": "搭建充电棚", "responsible_kind": "community", "budget_cents": 5_000_000,
            "due_on": (date.today() + timedelta(days=40)).isoformat()}), 201)
        await _ok(await staff.post(f"/api/v1/matters/tasks/{task['task_id']}/progress", json={"percent": 100, "note": "完工"}))
        evaluating = await _ok(await staff.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": "start_evaluation"}))
        assert evaluating["stage"]["title"] == "民主评议"
    closed = await _rate_all(stack, community, matter_id, [1, 1, 2, 2, 3])
    assert (closed["outcome"], closed["state"]) == ("close", "closed")


async def test_xingfujie_four_matters_with_an_offline_meeting_a_department_and_a_redo(stack, infra):
    community, department = _community(), f"D{uuid.uuid4().hex[:6].upper()}"
    await _choose(stack, community, "xingfujie-four-matters")
    homes = await _households(infra, community, 3)
    await _publish(infra, reg.DepartmentAssigned(department_code=department, community_code=community, active=True, effective_on=ON))
    await _replicated(infra, "SELECT count(*) FROM replica_department_assignment WHERE community_code = :c", 1, c=community)
    async with stack.client(stack.token("community_staff", community)) as staff:
        matter = await _ok(await staff.post("/api/v1/matters/", json={
            "title": "背街小巷路面破损", "description": "雨天积水", "category": "city_management", "unit_code": community}), 201)
        matter_id = matter["matter_id"]
        for step in ({"action": "accept"}, {"action": "route", "channel": "deliberation", "reason": "需与物业协商"},
                     {"action": "start_deliberation"}):
            moved = await _ok(await staff.post(f"/api/v1/matters/{matter_id}/transitions", json=step))
        assert moved["stage"]["title"] == "民主议事"
        vote = await _ok(await staff.post(f"/api/v1/matters/{matter_id}/votes", json={"secret": True}), 201)
        await _ok(await staff.post(f"/api/v1/matters/votes/{vote['vote_id']}/offline-tallies", json={
            "votes_for": 2, "votes_against": 0, "abstain": 0, "sign_in_ref": "居民议事会签到表",
            "attendee_keys": [homes[0][1], homes[1][1]]}), 201)
        result = await _ok(await staff.post(f"/api/v1/matters/votes/{vote['vote_id']}/close"))
        assert (result["present"], result["passed"]) == (2, True)
        order = await _ok(await staff.post(f"/api/v1/matters/{matter_id}/workorders"), 201)
        assert order["department_code"] == department
    async with stack.client(stack.token("district_staff", "370705")) as admin:
        key = await _ok(await admin.post(f"/liaison/v1/admin/departments/{department}/keys", json={"label": "e2e"}), 201)
    async with stack.client() as dept:
        dept.headers["x-api-key"] = key["api_key"]
        # The feed shows a change once every older transaction on the server has ended (the xmin horizon),
        # so a reader polls, as a department's integration does.
        async def first_page():
            page = await _ok(await dept.get("/liaison/v1/workorders", params={"after": 0}))
            return page if page["items"] else None

        feed = await eventually(first_page, timeout=30)
        assert [i["work_order_id"] for i in feed["items"]] == [order["work_order_id"]]
        await _ok(await dept.post(f"/liaison/v1/workorders/{order['work_order_id']}/sign"))
        answered = await _ok(await dept.post(f"/liaison/v1/workorders/{order['work_order_id']}/answer",
                                             json={"answer": "已安排维修"}))
        assert answered["status"] == "answered"
        async def later_page():
            page = await _ok(await dept.get("/liaison/v1/workorders", params={"after": feed["next_cursor"]}))
            return page if len(page["items"]) >= 2 else None

        later = await eventually(later_page, timeout=30)
        assert [i["action"] for i in later["items"]] == ["sign", "answer"]
    async with stack.client(stack.token("community_staff", community)) as staff:
        for action in ("start_implementation", "start_evaluation"):
            await _ok(await staff.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": action}))
    reopened = await _rate_all(stack, community, matter_id, [5, 4, 1, 1, 4])
    assert (reopened["outcome"], reopened["state"]) == ("reopen", "reopened")


async def test_nanhu_household_decision_by_representatives_and_proxies(stack, infra):
    community = _community()
    await _choose(stack, community, "nanhu-household-decision")
    homes = await _households(infra, community, 3, proxies=True)
    async with stack.client(stack.token("community_staff", community)) as staff:
        matter = await _ok(await staff.post("/api/v1/matters/", json={
            "title": "老旧小区改造加装电梯", "description": "一单元加装电梯", "category": "old_estate_renovation",
            "unit_code": community, "major": True, "key_project": True}), 201)
        matter_id = matter["matter_id"]
        for action in ("accept", "route"):
            await _ok(await staff.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": action}))
        vote = await _ok(await staff.post(f"/api/v1/matters/{matter_id}/votes", json={}), 201)
        assert (vote["rule_version"], vote["base_size"]) == ("household-2018-major", 3)
    casts = [(homes[0], homes[0][1], "for"), (homes[1], homes[1][2], "for"), (homes[2], homes[2][2], "against")]
    for (code, _, _), person, choice in casts:
        async with stack.client(stack.token("resident", code, sub=person)) as voter:
            await _ok(await voter.post(f"/api/v1/matters/votes/{vote['vote_id']}/ballots", json={"choice": choice}), 201)
    async with stack.client(stack.token("resident", homes[0][0], sub=homes[0][2])) as proxy_again:
        second = await proxy_again.post(f"/api/v1/matters/votes/{vote['vote_id']}/ballots", json={"choice": "against"})
        assert second.status_code == 409
    async with stack.client(stack.token("community_staff", community)) as staff:
        result = await _ok(await staff.post(f"/api/v1/matters/votes/{vote['vote_id']}/close"))
        # Two of three households present in favour: 2/3 meets "三分之二以上".
        assert (result["quorum_met"], result["passed"], result["votes_for"], result["votes_against"]) == (True, True, 2, 1)
        detail = await _ok(await staff.get(f"/api/v1/matters/{matter_id}"))
        assert (detail["state"], detail["stage"]["title"]) == ("decided", "户决表决")
        stats = await _ok(await staff.get("/api/v1/matters/stats", params={"community_code": community, "key_project": True}))
        assert stats["by_community"][0]["key_projects"] == 1
