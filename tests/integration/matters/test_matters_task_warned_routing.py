"""A task's deadline warning names its responsible body, so it can be routed to the department or community carrying
the task out; a social organisation's name (free text) stays off the bus."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime

from services.matters.scheduler import sweep_deadlines
from services.registry import events as reg
from youmin.kit.calendar import LOCAL_TZ

# The last working day before Thursday 2026-10-08 (the National Day holiday lies between): a task due then is yellow.
YELLOW_DAY = datetime(2026, 9, 30, 9, 0, tzinfo=LOCAL_TZ)
DUE_ON = "2026-10-08"


async def _decided(matters, community: str) -> str:
    matter = await matters.raise_matter(community)
    await matters.move(matter["matter_id"], community, "accept",
                       {"action": "route", "channel": "deliberation", "reason": "协商"},
                       "start_deliberation", "start_decision", {"action": "decide", "reason": "议事会一致同意"})
    return matter["matter_id"]


async def _task(matters, matter_id: str, community: str, kind: str, code: str | None) -> str:
    made = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=matters.staff(community), json={
        "title": "修缮", "responsible_kind": kind, "responsible_code": code, "budget_cents": 0, "due_on": DUE_ON})
    assert made.status_code == 201 and made.json()["warning"] == "yellow", made.text
    return made.json()["task_id"]


async def _warnings(matters, matter_id: str, task_id: str) -> list[dict]:
    return [d for t, d in await matters.events_of(matter_id)
            if t.endswith("task.warned.v1") and d["task_id"] == task_id]


async def test_a_department_tasks_warnings_name_the_department_from_yellow_to_its_report_of_completion(matters, clock):
    community, department = matters.new_community(), f"D{uuid.uuid4().hex[:8].upper()}"
    await matters.seed(reg.DepartmentAssigned(department_code=department, community_code=community, active=True,
                                              effective_on=date(2026, 1, 1)))
    clock.now = YELLOW_DAY
    matter_id = await _decided(matters, community)
    task_id = await _task(matters, matter_id, community, "department", department)
    await sweep_deadlines(matters.app.state.sessions, matters.settings, datetime(2026, 10, 9, 8, 0, tzinfo=LOCAL_TZ))
    # The department itself reports the task finished (late): its warning ends.
    clock.now = datetime(2026, 10, 9, 10, 0, tzinfo=LOCAL_TZ)
    done = await matters.client.post(f"/api/v1/matters/tasks/{task_id}/progress",
                                     headers=matters.department(department), json={"percent": 100, "note": "完工"})
    assert done.status_code == 200, done.text
    warned = await _warnings(matters, matter_id, task_id)
    assert [(w["warning"], w["responsible_kind"], w["responsible_code"]) for w in warned] == [
        ("yellow", "department", department), ("red", "department", department), ("none", "department", department)]


async def test_a_community_tasks_warning_names_the_unit_carrying_it_out(matters, clock):
    community = matters.new_community()
    clock.now = YELLOW_DAY
    matter_id = await _decided(matters, community)
    task_id = await _task(matters, matter_id, community, "community", None)
    [warned] = await _warnings(matters, matter_id, task_id)
    assert (warned["warning"], warned["responsible_kind"], warned["responsible_code"]) == (
        "yellow", "community", community)


async def test_a_social_organisations_name_stays_off_the_bus_its_kind_alone_goes(matters, clock):
    community = matters.new_community()
    clock.now = YELLOW_DAY
    matter_id = await _decided(matters, community)
    name = "志愿队 联系13912345678"
    task_id = await _task(matters, matter_id, community, "social_organisation", name)
    await sweep_deadlines(matters.app.state.sessions, matters.settings, datetime(2026, 10, 9, 8, 0, tzinfo=LOCAL_TZ))
    warned = await _warnings(matters, matter_id, task_id)
    assert [(w["warning"], w["responsible_kind"], w["responsible_code"]) for w in warned] == [
        ("yellow", "social_organisation", None), ("red", "social_organisation", None)]
    assert not any("志愿队" in json.dumps(w, ensure_ascii=False) or "13912345678" in json.dumps(w) for w in warned)
