"""A department lists the implementation tasks it carries out (GET /api/v1/matters/tasks/assigned): its own only,
newest first, paged, with the ids it reports progress and spending on."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from services.registry import events as reg
from youmin.kit.calendar import LOCAL_TZ

# A Monday; the tasks are due well after it, so none is warned.
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=LOCAL_TZ)
DUE_ON = "2026-12-31"
ASSIGNED = "/api/v1/matters/tasks/assigned"
FIELDS = {"task_id", "matter_id", "community_code", "title", "percent", "budget_cents", "spent_cents", "due_at",
          "warning", "completed_at", "created_at"}


def _department() -> str:
    return f"D{uuid.uuid4().hex[:8].upper()}"  # the database is shared by the whole run: a department of the test's own


async def _community_with(matters, *departments: str) -> str:
    community = matters.new_community()
    await matters.seed(*(reg.DepartmentAssigned(department_code=d, community_code=community, active=True,
                                                effective_on=date(2026, 1, 1)) for d in departments))
    return community


async def _decided(matters, community: str) -> str:
    matter = await matters.raise_matter(community)
    await matters.move(matter["matter_id"], community, "accept",
                       {"action": "route", "channel": "deliberation", "reason": "协商"},
                       "start_deliberation", "start_decision", {"action": "decide", "reason": "议事会一致同意"})
    return matter["matter_id"]


async def _task(matters, clock, matter_id: str, community: str, kind: str, code: str | None, title: str,
                budget_cents: int = 0) -> str:
    clock.now += timedelta(minutes=1)  # each task a minute after the last: "newest first" is then one order
    made = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=matters.staff(community), json={
        "title": title, "responsible_kind": kind, "responsible_code": code, "budget_cents": budget_cents,
        "due_on": DUE_ON})
    assert made.status_code == 201, made.text
    return made.json()["task_id"]


async def _listed(matters, department: str, **params) -> dict:
    resp = await matters.client.get(ASSIGNED, params=params, headers=matters.department(department))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_a_department_lists_only_the_tasks_it_carries_out_newest_first_with_their_progress(matters, clock):
    ours, theirs = _department(), _department()
    community = await _community_with(matters, ours, theirs)
    clock.now = MONDAY
    matter_id = await _decided(matters, community)
    first = await _task(matters, clock, matter_id, community, "department", ours, "修复道路", budget_cents=5_000_000)
    await _task(matters, clock, matter_id, community, "department", theirs, "更换路灯")
    await _task(matters, clock, matter_id, community, "community", None, "通知居民绕行")
    await _task(matters, clock, matter_id, community, "social_organisation", ours, "志愿者疏导交通")
    second = await _task(matters, clock, matter_id, community, "department", ours, "清运建筑垃圾")

    page = await _listed(matters, ours)
    assert [t["task_id"] for t in page["items"]] == [second, first] and page["total"] == 2
    listed = page["items"][1]
    assert set(listed) == FIELDS
    assert (listed["matter_id"], listed["community_code"], listed["title"], listed["percent"], listed["budget_cents"],
            listed["spent_cents"], listed["warning"], listed["completed_at"]) == (
        matter_id, community, "修复道路", 0, 5_000_000, 0, "none", None)
    assert datetime.fromisoformat(listed["created_at"]) == MONDAY + timedelta(minutes=1)
    assert datetime.fromisoformat(listed["due_at"]).astimezone(LOCAL_TZ).date() == date(2026, 12, 31)

    # It reports progress on one by the listed id, and the list shows it; at 100% the task is finished.
    clock.now += timedelta(hours=1)
    for task_id, percent in ((first, 40), (second, 100)):
        done = await matters.client.post(f"/api/v1/matters/tasks/{task_id}/progress",
                                         headers=matters.department(ours), json={"percent": percent, "note": "施工中"})
        assert done.status_code == 200, done.text
    by_id = {t["task_id"]: t for t in (await _listed(matters, ours))["items"]}
    assert (by_id[first]["percent"], by_id[first]["completed_at"]) == (40, None)
    assert by_id[second]["percent"] == 100
    assert datetime.fromisoformat(by_id[second]["completed_at"]) == clock.now
    opened, finished = await _listed(matters, ours, status="open"), await _listed(matters, ours, status="finished")
    assert ([t["task_id"] for t in opened["items"]], opened["total"]) == ([first], 1)
    assert ([t["task_id"] for t in finished["items"]], finished["total"]) == ([second], 1)

    # The other department sees its own task alone.
    other = await _listed(matters, theirs)
    assert [t["title"] for t in other["items"]] == ["更换路灯"] and other["total"] == 1


async def test_a_department_with_no_tasks_gets_an_empty_page(matters):
    assert await _listed(matters, _department()) == {"items": [], "total": 0}


async def test_the_department_pages_through_its_tasks_without_gaps_or_repeats(matters, clock):
    department = _department()
    community = await _community_with(matters, department)
    clock.now = MONDAY
    made = []
    for n in range(2):  # over two matters: the list is the department's, not a matter's
        matter_id = await _decided(matters, community)
        for i in range(3):
            made.append(await _task(matters, clock, matter_id, community, "department", department, f"工序 {n}-{i}"))
    seen, offset = [], 0
    while True:
        page = await _listed(matters, department, limit=4, offset=offset)
        assert page["total"] == 6 and len(page["items"]) <= 4
        if not page["items"]:
            break
        seen += [t["task_id"] for t in page["items"]]
        offset += len(page["items"])
    assert seen == made[::-1]
    assert [t["task_id"] for t in (await _listed(matters, department, limit=2, offset=1))["items"]] == made[::-1][1:3]


async def test_only_a_department_lists_assigned_tasks(matters, clock):
    department = _department()
    community = await _community_with(matters, department)
    clock.now = MONDAY
    matter_id = await _decided(matters, community)
    await _task(matters, clock, matter_id, community, "department", department, "修复道路")
    for headers in (matters.staff(community), matters.headers("district", [("district_staff", "370705")]),
                    matters.resident(str(uuid.uuid4()), matters.household(community, 1)),
                    matters.headers("svc", [], kind="service"),
                    matters.headers("nameless", [], kind="department")):
        resp = await matters.client.get(ASSIGNED, headers=headers)
        assert resp.status_code == 403, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")


async def test_a_bad_query_is_a_422_naming_the_parameter(matters):
    for params, field in (({"status": "done"}, "status"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset")):
        resp = await matters.client.get(ASSIGNED, params=params, headers=matters.department(_department()))
        assert resp.status_code == 422, resp.text
        assert [e["field"] for e in resp.json()["errors"]] == [field], resp.text


async def test_the_open_list_leaves_out_the_tasks_of_ended_matters(matters, clock):
    # A matter ended with a task short of 100% (closed before rating waited for its tasks): nothing more is reported
    # on the task (409), so it is no longer the department's open work.
    ours = _department()
    community = await _community_with(matters, ours)
    clock.now = MONDAY
    live, ended = await _decided(matters, community), await _decided(matters, community)
    kept = await _task(matters, clock, live, community, "department", ours, "修复道路")
    left = await _task(matters, clock, ended, community, "department", ours, "清理河道")
    await matters.sql("UPDATE matter SET state = 'closed' WHERE matter_id = CAST(:m AS uuid) RETURNING matter_id", m=ended)
    assert [t["task_id"] for t in (await _listed(matters, ours, status="open"))["items"]] == [kept]
    page = await _listed(matters, ours)
    assert [t["task_id"] for t in page["items"]] == [left, kept] and page["total"] == 2
    assert (await _listed(matters, ours, status="open"))["total"] == 1
