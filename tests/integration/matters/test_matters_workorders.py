"""Department work orders (部门包居): dispatch from the replica, working-day rules, the feed, the sweeper."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime

from services.matters.scheduler import sweep_deadlines
from services.matters.service import Context, MattersService
from services.registry import events as reg
from youmin.kit.auth import Grant, Principal
from youmin.kit.calendar import LOCAL_TZ
from youmin.kit.db import transaction
from youmin.kit.events import Envelope
from youmin.kit.kafka import make_producer
from youmin.testing import eventually

# The day before the National Day holiday (2026-10-01..07, make-up workday Saturday 2026-10-10).
BEFORE_HOLIDAY = datetime(2026, 9, 30, 10, 0, tzinfo=LOCAL_TZ)


def _department() -> str:
    return f"D{uuid.uuid4().hex[:8].upper()}"


async def _assigned(matters, community: str, department: str) -> None:
    await matters.seed(reg.DepartmentAssigned(department_code=department, community_code=community, active=True,
                                              effective_on=date(2026, 1, 1)))


async def _dispatched(matters, community: str, department: str, title: str = "下水道堵塞") -> tuple[str, dict]:
    matter = await matters.raise_matter(community, title=title)
    await matters.move(matter["matter_id"], community, "accept")
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/workorders", headers=matters.staff(community))
    assert resp.status_code == 201, resp.text
    return matter["matter_id"], resp.json()


async def test_a_work_order_goes_to_the_department_assigned_through_registry_events(matters, infra):
    community, department = matters.new_community(), _department()
    env = Envelope.of(reg.DepartmentAssigned(department_code=department, community_code=community, active=True,
                                             effective_on=date(2026, 1, 1)))
    producer = make_producer(infra.bootstrap, idempotence=False, client_id="matters-test")
    await producer.start()
    try:
        await producer.send_and_wait(env.topic, value=env.value(), key=env.key.encode(), headers=env.headers())
    finally:
        await producer.stop()

    async def replicated():
        rows = await matters.sql("SELECT 1 FROM replica_department_assignment WHERE community_code = :c AND active", c=community)
        return bool(rows)

    await eventually(replicated, timeout=60)
    matter_id, order = await _dispatched(matters, community, department)
    assert (order["department_code"], order["status"], order["matter_id"]) == (department, "dispatched", matter_id)
    published = [d for t, d in await matters.events_of(matter_id) if t.endswith("workorder.changed.v1")]
    assert published[0]["action"] == "dispatch" and published[0]["department_code"] == department


async def test_dispatch_without_an_assigned_department_is_refused(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/workorders", headers=matters.staff(community))
    assert resp.status_code == 422 and resp.json()["rule"] == "workorder.no_department_assigned"


async def test_the_answer_deadline_counts_five_working_days_across_a_holiday(matters, clock):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    clock.now = BEFORE_HOLIDAY
    _, order = await _dispatched(matters, community, department)
    # Oct 8, 9, 10 (make-up Saturday), 12, 13: the end of Tuesday 2026-10-13.
    assert datetime.fromisoformat(order["due_at"]).astimezone(LOCAL_TZ).date() == date(2026, 10, 13)


async def test_a_send_back_after_two_working_days_is_refused_with_the_rule(matters, clock):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    clock.now = BEFORE_HOLIDAY
    _, late = await _dispatched(matters, community, department)
    _, early = await _dispatched(matters, community, department, title="另一个工单")
    clock.now = datetime(2026, 10, 9, 17, 0, tzinfo=LOCAL_TZ)  # the 2nd working day: still in time
    ok = await matters.client.post(f"/api/v1/matters/workorders/{early['work_order_id']}/return",
                                   json={"reason": "不属于本部门职责"}, headers=matters.department(department))
    assert ok.status_code == 200 and ok.json()["status"] == "returned"
    clock.now = datetime(2026, 10, 10, 9, 0, tzinfo=LOCAL_TZ)
    refused = await matters.client.post(f"/api/v1/matters/workorders/{late['work_order_id']}/return",
                                        json={"reason": "不属于本部门职责"}, headers=matters.department(department))
    assert refused.status_code == 422 and refused.json()["rule"] == "workorder.sendback_window_closed"


async def test_sign_extend_once_up_to_ten_days_and_answer(matters, clock):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    clock.now = BEFORE_HOLIDAY
    _, order = await _dispatched(matters, community, department)
    url = f"/api/v1/matters/workorders/{order['work_order_id']}"
    headers = matters.department(department)
    assert (await matters.client.post(f"{url}/sign", headers=headers)).json()["status"] == "signed"
    again = await matters.client.post(f"{url}/sign", headers=headers)
    assert again.status_code == 409 and again.json()["allowed"] == ["answer", "extend", "return"]
    too_long = await matters.client.post(f"{url}/extend", json={"workdays": 11, "reason": "需协调"}, headers=headers)
    assert too_long.status_code == 422 and too_long.json()["rule"] == "workorder.extension_too_long"
    assert too_long.json()["field"] == "workdays"
    extended = await matters.client.post(f"{url}/extend", json={"workdays": 10, "reason": "需协调"}, headers=headers)
    assert extended.status_code == 200
    assert datetime.fromisoformat(extended.json()["due_at"]).astimezone(LOCAL_TZ).date() == date(2026, 10, 27)
    second = await matters.client.post(f"{url}/extend", json={"workdays": 1, "reason": "再延"}, headers=headers)
    assert second.status_code == 422 and second.json()["rule"] == "workorder.extension_already_used"
    answered = await matters.client.post(f"{url}/answer", json={"answer": "已疏通"}, headers=headers)
    assert answered.json()["status"] == "answered"


async def test_a_neighbour_reads_a_departments_answer_masked_and_staff_read_it_as_written(matters):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    _, order = await _dispatched(matters, community, department)
    url = f"/api/v1/matters/workorders/{order['work_order_id']}"
    answer = "已电话联系反映人李秀英（13912345678），管道已疏通"
    await matters.client.post(f"{url}/answer", json={"answer": answer}, headers=matters.department(department))
    neighbour = matters.resident(str(uuid.uuid4()), matters.household(community, 7))
    seen = await matters.client.get(url, headers=neighbour)
    assert seen.status_code == 200, seen.text
    assert "李秀英" not in seen.json()["answer"] and "13912345678" not in seen.json()["answer"]
    assert "管道已疏通" in seen.json()["answer"]
    assert (await matters.client.get(url, headers=matters.staff(community))).json()["answer"] == answer


async def test_a_matter_has_one_open_order_per_department_at_a_time(matters):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    matter_id, order = await _dispatched(matters, community, department)
    url = f"/api/v1/matters/{matter_id}/workorders"
    again = await asyncio.gather(*[matters.client.post(url, headers=matters.staff(community)) for _ in range(3)])
    assert [r.status_code for r in again] == [409] * 3 and again[0].json()["rule"] == "workorder.already_open"
    await matters.client.post(f"/api/v1/matters/workorders/{order['work_order_id']}/answer", json={"answer": "已处理"},
                              headers=matters.department(department))
    assert (await matters.client.post(url, headers=matters.staff(community))).status_code == 201
    orders = await matters.sql("SELECT status FROM work_order WHERE matter_id = :m ORDER BY dispatched_at, status",
                               m=matter_id)
    assert sorted(o.status for o in orders) == ["answered", "dispatched"]


async def test_an_ended_matter_cancels_its_open_orders_and_the_sweeper_leaves_them(matters, clock):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    clock.now = BEFORE_HOLIDAY
    matter = await matters.raise_matter(community)
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/workorders", headers=matters.staff(community))
    order = resp.json()
    await matters.move(matter["matter_id"], community, {"action": "reject", "reason": "不属于社区事务"})
    stored = await matters.sql("SELECT status FROM work_order WHERE work_order_id = :w", w=order["work_order_id"])
    assert stored[0].status == "cancelled"
    headers = matters.department(department)
    feed = (await matters.client.get("/api/v1/matters/workorders/feed", params={"limit": 50}, headers=headers)).json()
    assert [i["action"] for i in feed["items"]] == ["dispatch", "cancel"]
    sign = await matters.client.post(f"/api/v1/matters/workorders/{order['work_order_id']}/sign", headers=headers)
    assert sign.status_code == 409 and sign.json()["allowed"] == []
    await sweep_deadlines(matters.app.state.sessions, matters.settings, datetime(2026, 10, 20, 9, 0, tzinfo=LOCAL_TZ))
    swept = await matters.sql("SELECT warning FROM work_order WHERE work_order_id = :w", w=order["work_order_id"])
    assert swept[0].warning == "none"
    changes = [d["action"] for t, d in await matters.events_of(matter["matter_id"]) if t.endswith("workorder.changed.v1")]
    assert changes == ["dispatch", "cancel"]


async def test_another_department_cannot_touch_the_order(matters):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    _, order = await _dispatched(matters, community, department)
    resp = await matters.client.post(f"/api/v1/matters/workorders/{order['work_order_id']}/sign",
                                     headers=matters.department(_department()))
    assert resp.status_code == 404


async def test_the_sweeper_raises_yellow_then_red_by_working_days(matters, clock):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    clock.now = BEFORE_HOLIDAY
    matter_id, order = await _dispatched(matters, community, department)
    sessions, settings = matters.app.state.sessions, matters.settings

    async def warning() -> str:
        return (await matters.sql("SELECT warning FROM work_order WHERE work_order_id = :w", w=order["work_order_id"]))[0].warning

    await sweep_deadlines(sessions, settings, datetime(2026, 10, 11, 23, 0, tzinfo=LOCAL_TZ))  # Sunday before Monday
    assert await warning() == "none"
    await sweep_deadlines(sessions, settings, datetime(2026, 10, 12, 9, 0, tzinfo=LOCAL_TZ))  # the working day before
    assert await warning() == "yellow"
    await sweep_deadlines(sessions, settings, datetime(2026, 10, 14, 0, 1, tzinfo=LOCAL_TZ))  # first overdue day
    assert await warning() == "red"
    warnings = [d["warning"] for t, d in await matters.events_of(matter_id) if t.endswith("workorder.changed.v1")]
    assert warnings == ["none", "yellow", "red"]
    # Answered (late), it runs against no deadline any more: the red warning ends with it, in the feed too.
    clock.now = datetime(2026, 10, 14, 10, 0, tzinfo=LOCAL_TZ)
    answered = await matters.client.post(f"/api/v1/matters/workorders/{order['work_order_id']}/answer",
                                         json={"answer": "已处理"}, headers=matters.department(department))
    assert answered.status_code == 200, answered.text
    assert answered.json()["warning"] == "none" and await warning() == "none"
    changes = [(d["action"], d["warning"]) for t, d in await matters.events_of(matter_id)
               if t.endswith("workorder.changed.v1")]
    assert changes[-1] == ("answer", "none")


async def test_the_feed_pages_in_order_with_a_stable_cursor(matters):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    orders = [(await _dispatched(matters, community, department, title=f"工单{i}"))[1] for i in range(3)]
    headers = matters.department(department)
    await matters.client.post(f"/api/v1/matters/workorders/{orders[0]['work_order_id']}/sign", headers=headers)

    async def visible() -> bool:
        # A change shows once every older transaction on the server has ended (the xmin horizon).
        page = (await matters.client.get("/api/v1/matters/workorders/feed", params={"limit": 10}, headers=headers)).json()
        return len(page["items"]) == 4

    await eventually(visible)
    first = (await matters.client.get("/api/v1/matters/workorders/feed", params={"after": 0, "limit": 2}, headers=headers)).json()
    rest = (await matters.client.get("/api/v1/matters/workorders/feed", params={"after": first["next_cursor"], "limit": 10},
                                     headers=headers)).json()
    seen = [(i["work_order_id"], i["action"]) for i in first["items"] + rest["items"]]
    assert seen == [(o["work_order_id"], "dispatch") for o in orders] + [(orders[0]["work_order_id"], "sign")]
    cursors = [int(i["cursor"]) for i in first["items"] + rest["items"]]
    assert cursors == sorted(cursors) and len(set(cursors)) == 4
    empty = (await matters.client.get("/api/v1/matters/workorders/feed", params={"after": rest["next_cursor"]},
                                      headers=headers)).json()
    assert empty == {"items": [], "next_cursor": rest["next_cursor"]}


async def test_the_feed_waits_for_an_uncommitted_change_instead_of_skipping_it(matters, clock):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    matter = await matters.raise_matter(community, title="晚提交的工单")
    headers = matters.department(department)
    sessions = matters.app.state.sessions
    principal = Principal(sub="staff-x", grants=[Grant(role="community_staff", scope=community)])
    async with transaction(sessions) as session:
        await MattersService(session, matters.settings).dispatch(Context(principal, clock.now), uuid.UUID(matter["matter_id"]), None)
        hidden = (await matters.client.get("/api/v1/matters/workorders/feed", headers=headers)).json()
        assert hidden["items"] == [] and hidden["next_cursor"] == "0"

    async def shown():
        page = (await matters.client.get("/api/v1/matters/workorders/feed", headers=headers)).json()
        return page["items"]

    assert [i["matter_id"] for i in await eventually(shown)] == [matter["matter_id"]]


async def test_the_feed_is_for_departments_only(matters):
    resp = await matters.client.get("/api/v1/matters/workorders/feed", headers=matters.staff(matters.new_community()))
    assert resp.status_code == 403


async def test_staff_list_the_work_orders_of_their_communities(matters):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    _, order = await _dispatched(matters, community, department)
    listed = await matters.client.get("/api/v1/matters/workorders", params={"department": department, "status": "dispatched"},
                                      headers=matters.staff(community))
    assert [o["work_order_id"] for o in listed.json()] == [order["work_order_id"]]
    other = await matters.client.get("/api/v1/matters/workorders", params={"department": department},
                                     headers=matters.staff(matters.new_community()))
    assert other.json() == []


async def test_work_orders_dispatched_at_one_instant_page_without_repeats(matters, clock):
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    clock.now = BEFORE_HOLIDAY
    dispatched = {(await _dispatched(matters, community, department, title=f"事项{n}"))[1]["work_order_id"]
                  for n in range(6)}
    paged = []
    for offset in range(6):
        page = await matters.client.get("/api/v1/matters/workorders", params={"limit": 1, "offset": offset},
                                        headers=matters.staff(community))
        paged += [o["work_order_id"] for o in page.json()]
    assert len(paged) == 6 and set(paged) == dispatched




def _units(*codes: str) -> list[reg.UnitCreated]:
    """Registry units (with their parents) as the replica learns them."""
    levels = {9: "street", 12: "community", 15: "grid", 18: "building", 20: "unit"}
    return [reg.UnitCreated(unit_id=uuid.uuid4(), unit_code=code, parent_code=None, level=levels[len(code)],
                            effective_on=date(2026, 1, 1)) for code in codes]


async def test_a_request_placed_at_the_street_for_triage_is_placed_in_its_community_and_dispatched(matters):
    """A department bound to two communities of a street sends a location-only request: it waits at the street;
    the street's staff place it (and correct the placement); the community's staff then route and dispatch it."""
    first = matters.new_community()
    second = first[:9] + f"{(int(first[9:]) + 1) % 1000:03d}"
    street, grid, department = first[:9], first + "002", _department()
    units = _units(street, first, second, grid, second + "001", grid + "001", grid + "00101")
    await matters.seed(*units)
    await matters.seed(reg.UnitRetired(unit_id=units[4].unit_id, unit_code=second + "001", effective_on=date(2026, 2, 1)))
    for community in (first, second):
        await _assigned(matters, community, department)
    resp = await matters.client.post("/api/v1/matters/", headers=matters.department(department), json={
        "title": "井盖缺失", "description": "路口井盖缺失，夜间危险", "category": "public_safety",
        "latitude": 36.7, "longitude": 119.1, "address_string": "某路口"})
    assert resp.status_code == 201, resp.text
    matter_id, raised_at = resp.json()["matter_id"], resp.json()["state_entered_at"]
    assert (resp.json()["unit_code"], resp.json()["community_code"]) == (street, street)
    assert resp.json()["allowed_actions"] == ["withdraw"]  # the department raised it; the street's staff place it
    seen_by_street = await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.staff(street))
    assert "place" in seen_by_street.json()["allowed_actions"]

    place = f"/api/v1/matters/{matter_id}/transitions"
    community_staff = matters.staff(first)
    assert (await matters.client.post(place, json={"action": "place", "unit_code": grid},
                                      headers=community_staff)).status_code == 404  # not theirs yet
    resident = matters.resident(str(uuid.uuid4()), first + "00100101" + "0001")
    refused = await matters.client.post(place, json={"action": "place", "unit_code": grid}, headers=resident)
    assert refused.status_code in (403, 404)
    street_staff = matters.staff(street)
    for body, rule in (({"action": "place"}, "place_unit_required"),
                       ({"action": "place", "unit_code": street}, "place_same_unit"),
                       ({"action": "place", "unit_code": grid + "00101" + "0001"}, "place_too_fine"),
                       ({"action": "place", "unit_code": first + "009"}, "place_unit_unknown"),
                       ({"action": "place", "unit_code": second + "001"}, "place_unit_unknown")):  # retired
        bad = await matters.client.post(place, json=body, headers=street_staff)
        assert bad.status_code == 422 and bad.json()["field"] == "unit_code" and bad.json()["rule"] == f"matter.{rule}", bad.text
    malformed = await matters.client.post(place, json={"action": "place", "unit_code": "3707"}, headers=street_staff)
    assert malformed.status_code == 422 and [e["field"] for e in malformed.json()["errors"]] == ["unit_code"]
    beyond = await matters.client.post(place, json={"action": "place", "unit_code": first}, headers=matters.staff(second))
    assert beyond.status_code == 404  # the second community's staff do not cover the street

    # A wrong placement is put right by the street, which covers both communities.
    wrong = await matters.client.post(place, json={"action": "place", "unit_code": second}, headers=street_staff)
    assert wrong.status_code == 200 and wrong.json()["community_code"] == second, wrong.text
    placed = await matters.client.post(place, json={"action": "place", "unit_code": grid}, headers=street_staff)
    assert placed.status_code == 200, placed.text
    assert (placed.json()["unit_code"], placed.json()["community_code"], placed.json()["status"]) == (grid, first, "open")
    assert placed.json()["state_entered_at"] == raised_at  # still waiting for triage since it was raised
    detail = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=community_staff)).json()
    steps = [t for t in detail["timeline"] if t["action"] == "place"]
    assert [(t["from_state"], t["to_state"]) for t in steps] == [("raised", "raised")] * 2
    assert [t["details"] for t in steps] == [{"from_unit_code": street, "to_unit_code": second},
                                             {"from_unit_code": second, "to_unit_code": grid}]
    assert (await matters.client.get(f"/api/v1/matters/{matter_id}",
                                     headers=matters.staff(second))).status_code == 404
    outside = await matters.client.post(place, json={"action": "place", "unit_code": second},
                                        headers=community_staff)
    assert outside.status_code == 403 and outside.json()["scope"] == second  # the community cannot send it away

    await matters.move(matter_id, first, "accept")
    order = await matters.client.post(f"/api/v1/matters/{matter_id}/workorders", headers=community_staff)
    assert order.status_code == 201, order.text
    assert (order.json()["department_code"], order.json()["community_code"]) == (department, first)
    await matters.move(matter_id, first, {"action": "route"})
    late = await matters.client.post(place, json={"action": "place", "unit_code": grid + "001"}, headers=community_staff)
    assert late.status_code == 409 and "place" not in late.json()["allowed"]

    moves = [d for t, d in await matters.events_of(matter_id) if t.endswith("matter.transitioned.v1")]
    assert [(d["action"], d["community_code"]) for d in moves] == [
        ("place", second), ("place", first), ("accept", first), ("route", first)]


async def test_a_department_reads_its_own_order_on_a_matter_but_not_another_departments(matters):
    # Two departments hold orders on one matter: each reads its own, never the other's (whose answer may name people).
    community, mine, theirs = matters.new_community(), _department(), _department()
    await _assigned(matters, community, mine)
    await _assigned(matters, community, theirs)
    matter = await matters.raise_matter(community, title="下水道堵塞")
    await matters.move(matter["matter_id"], community, "accept")
    orders = {}
    for department in (mine, theirs):
        resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/workorders",
                                         json={"department_code": department}, headers=matters.staff(community))
        assert resp.status_code == 201 and resp.json()["department_code"] == department, resp.text
        orders[department] = resp.json()
    my_order, their_order = orders[mine], orders[theirs]
    read = lambda order, headers: matters.client.get(f"/api/v1/matters/workorders/{order['work_order_id']}", headers=headers)
    assert (await read(my_order, matters.department(mine))).status_code == 200
    assert (await read(their_order, matters.department(mine))).status_code == 404
    assert (await read(my_order, matters.department(theirs))).status_code == 404
    assert (await read(their_order, matters.staff(community))).status_code == 200


async def test_placing_a_matter_in_another_community_ends_the_orders_sent_for_the_first(matters):
    # 部门包居: a department works for the communities it is assigned to; once the street places the matter in another
    # community, the first community's department no longer holds it, and that community's staff dispatch afresh.
    first = matters.new_community()
    second = first[:9] + f"{(int(first[9:]) + 1) % 1000:03d}"
    street, here, there = first[:9], _department(), _department()
    await matters.seed(*_units(street, first, second))
    await _assigned(matters, first, here)
    await _assigned(matters, second, there)
    matter_id, order = await _dispatched(matters, first, here)
    placed = await matters.client.post(f"/api/v1/matters/{matter_id}/transitions",
                                       json={"action": "place", "unit_code": second}, headers=matters.staff(street))
    assert placed.status_code == 200 and placed.json()["community_code"] == second, placed.text
    stored = await matters.sql("SELECT status FROM work_order WHERE work_order_id = :w", w=order["work_order_id"])
    assert stored[0].status == "cancelled"
    sign = await matters.client.post(f"/api/v1/matters/workorders/{order['work_order_id']}/sign",
                                     headers=matters.department(here))
    assert sign.status_code == 409
    feed = (await matters.client.get("/api/v1/matters/workorders/feed", params={"limit": 50},
                                     headers=matters.department(here))).json()
    assert [i["action"] for i in feed["items"]] == ["dispatch", "cancel"]
    again = await matters.client.post(f"/api/v1/matters/{matter_id}/workorders", headers=matters.staff(second))
    assert again.status_code == 201 and again.json()["department_code"] == there, again.text


async def test_a_department_raises_a_matter_only_at_a_current_registry_unit(matters):
    community, department = matters.new_community(), _department()
    await matters.seed(*_units(community[:9], community, community + "001"))
    await _assigned(matters, community, department)
    body = {"title": "井盖缺失", "description": "路口井盖缺失", "category": "public_safety"}
    for code in ("110101001001", community + "009"):  # outside the district; not in the registry
        resp = await matters.client.post("/api/v1/matters/", headers=matters.department(department),
                                         json={**body, "unit_code": code})
        assert resp.status_code == 422 and resp.json()["rule"] == "matter.unit_unknown", resp.text
    resp = await matters.client.post("/api/v1/matters/", headers=matters.department(department),
                                     json={**body, "unit_code": community + "001"})
    assert resp.status_code == 201 and resp.json()["community_code"] == community, resp.text


async def test_a_department_that_sent_its_order_back_no_longer_reads_the_matter(matters):
    # A misrouted order sent back leaves the department no business with the matter (nor its resident's text).
    community, department = matters.new_community(), _department()
    await _assigned(matters, community, department)
    matter_id, order = await _dispatched(matters, community, department, title="三楼住户王芳电话13800138000反映漏水")
    headers = matters.department(department)
    assert (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=headers)).status_code == 200
    listed = await matters.client.get("/api/v1/matters/", params={"community_code": community}, headers=headers)
    assert [m["matter_id"] for m in listed.json()["items"]] == [matter_id]
    returned = await matters.client.post(f"/api/v1/matters/workorders/{order['work_order_id']}/return",
                                         json={"reason": "不属于本部门职责"}, headers=headers)
    assert returned.status_code == 200, returned.text
    assert (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=headers)).status_code == 404
    listed = await matters.client.get("/api/v1/matters/", params={"community_code": community}, headers=headers)
    assert listed.status_code == 200 and listed.json()["items"] == []
    # Its own order it still reads: what it did, and when.
    mine = await matters.client.get(f"/api/v1/matters/workorders/{order['work_order_id']}", headers=headers)
    assert mine.status_code == 200 and mine.json()["status"] == "returned"
