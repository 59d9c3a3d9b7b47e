"""Carrying out and rating (民事民办、民事民评), admission of department tasks, and statistics."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from services.matters.scheduler import sweep_deadlines
from services.registry import events as reg
from youmin.kit.calendar import LOCAL_TZ


async def _decided(matters, community: str, **raise_kw) -> str:
    """A matter decided by its staff through a deliberation channel (no vote)."""
    matter = await matters.raise_matter(community, **raise_kw)
    await matters.move(matter["matter_id"], community, "accept", {"action": "route", "channel": "deliberation", "reason": "协商"},
                       "start_deliberation", "start_decision", {"action": "decide", "reason": "议事会一致同意"})
    return matter["matter_id"]


async def _evaluating(matters, community: str) -> str:
    matter_id = await _decided(matters, community)
    await matters.move(matter_id, community, "start_implementation", "start_evaluation")
    return matter_id


async def _rate(matters, matter_id: str, community: str, n: int, score: int):
    person = str(uuid.uuid4())
    return await matters.client.post(f"/api/v1/matters/{matter_id}/ratings", json={"score": score},
                                     headers=matters.resident(person, matters.household(community, n)))


async def test_a_task_tracks_budget_spending_and_dated_progress(matters, clock):
    community = matters.new_community()
    matter_id = await _decided(matters, community)
    staff = matters.staff(community)
    created = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff, json={
        "title": "更换路灯", "responsible_kind": "community", "budget_cents": 1_200_000,
        "due_on": (clock.now + timedelta(days=30)).date().isoformat()})
    assert created.status_code == 201, created.text
    task_id = created.json()["task_id"]
    await matters.client.post(f"/api/v1/matters/tasks/{task_id}/spending", headers=staff,
                              json={"item": "灯具采购", "amount_cents": 450_000,
                                    "spent_on": clock.now.astimezone(LOCAL_TZ).date().isoformat()})
    progressed = await matters.client.post(f"/api/v1/matters/tasks/{task_id}/progress", headers=staff,
                                           json={"percent": 40, "note": "灯具已到货"})
    assert (progressed.json()["percent"], progressed.json()["spent_cents"]) == (40, 450_000)
    # The answer shows the update just recorded (and the spending before it), as the task list will.
    assert [(p["percent"], p["note"]) for p in progressed.json()["progress"]] == [(40, "灯具已到货")]
    assert [s["item"] for s in progressed.json()["spending"]] == ["灯具采购"]
    tasks = (await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=staff)).json()
    assert tasks[0]["responsible_code"] == community and [p["percent"] for p in tasks[0]["progress"]] == [40]
    assert [s["item"] for s in tasks[0]["spending"]] == ["灯具采购"]
    updates = [d for t, d in await matters.events_of(matter_id) if t.endswith("progress_updated.v1")]
    assert [(u["percent"], u["spent_cents"]) for u in updates] == [(0, 450_000), (40, 450_000)]


async def test_a_neighbour_reads_a_tasks_lines_with_the_names_and_numbers_in_them_masked(matters, clock):
    community = matters.new_community()
    matter_id = await _decided(matters, community)
    staff = matters.staff(community)
    task_id = (await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff, json={
        "title": "更换路灯", "responsible_kind": "community", "budget_cents": 1_200_000,
        "due_on": (clock.now + timedelta(days=30)).date().isoformat()})).json()["task_id"]
    await matters.client.post(f"/api/v1/matters/tasks/{task_id}/spending", headers=staff, json={
        "item": "付李秀英劳务费", "amount_cents": 45_000, "spent_on": clock.now.astimezone(LOCAL_TZ).date().isoformat()})
    await matters.client.post(f"/api/v1/matters/tasks/{task_id}/progress", headers=staff,
                              json={"percent": 40, "note": "联系电话13912345678，灯具已到货"})
    neighbour = matters.resident(str(uuid.uuid4()), matters.household(community, 7))
    [seen] = (await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=neighbour)).json()
    assert "李秀英" not in seen["spending"][0]["item"] and seen["spending"][0]["amount_cents"] == 45_000
    assert "13912345678" not in seen["progress"][0]["note"] and "灯具已到货" in seen["progress"][0]["note"]
    [full] = (await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=staff)).json()
    assert full["spending"][0]["item"] == "付李秀英劳务费"


async def test_tasks_wait_for_a_decision(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/tasks", headers=matters.staff(community), json={
        "title": "x", "responsible_kind": "community", "budget_cents": 0, "due_on": "2027-01-01"})
    assert resp.status_code == 422 and resp.json()["rule"] == "task.matter_not_decided"


async def test_a_task_deadline_warns_yellow_the_working_day_before_and_red_after(matters, clock):
    community = matters.new_community()
    clock.now = datetime(2026, 9, 28, 9, 0, tzinfo=LOCAL_TZ)
    matter_id = await _decided(matters, community)
    created = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=matters.staff(community), json={
        "title": "修缮", "responsible_kind": "community", "budget_cents": 0, "due_on": "2026-10-08"})
    task_id = created.json()["task_id"]

    async def warning() -> str:
        return (await matters.sql("SELECT warning FROM implementation_task WHERE task_id = :t", t=task_id))[0].warning

    # The working day before Thursday 2026-10-08 is Wednesday 2026-09-30 (the holiday lies between).
    await sweep_deadlines(matters.app.state.sessions, matters.settings, datetime(2026, 9, 29, 12, 0, tzinfo=LOCAL_TZ))
    assert await warning() == "none"
    await sweep_deadlines(matters.app.state.sessions, matters.settings, datetime(2026, 9, 30, 8, 0, tzinfo=LOCAL_TZ))
    assert await warning() == "yellow"
    await sweep_deadlines(matters.app.state.sessions, matters.settings, datetime(2026, 10, 9, 8, 0, tzinfo=LOCAL_TZ))
    assert await warning() == "red"
    warned = [d["warning"] for t, d in await matters.events_of(matter_id) if t.endswith("task.warned.v1")]
    assert warned == ["yellow", "red"]
    # Finished (late), it is overdue no more; taken back below 100%, it is red again at once.
    clock.now = datetime(2026, 10, 9, 10, 0, tzinfo=LOCAL_TZ)
    url = f"/api/v1/matters/tasks/{task_id}/progress"
    done = await matters.client.post(url, headers=matters.staff(community), json={"percent": 100, "note": "完工"})
    assert done.json()["warning"] == "none" and await warning() == "none"
    reopened = await matters.client.post(url, headers=matters.staff(community), json={"percent": 90, "note": "返工"})
    assert reopened.json()["warning"] == "red"
    warned = [d["warning"] for t, d in await matters.events_of(matter_id) if t.endswith("task.warned.v1")]
    assert warned == ["yellow", "red", "none", "red"]


async def test_a_task_added_inside_its_yellow_window_is_warned_at_once(matters, clock):
    community = matters.new_community()
    clock.now = datetime(2026, 9, 30, 9, 0, tzinfo=LOCAL_TZ)  # the last working day before Thursday 2026-10-08
    matter_id = await _decided(matters, community)
    created = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=matters.staff(community), json={
        "title": "修缮", "responsible_kind": "community", "budget_cents": 0, "due_on": "2026-10-08"})
    assert created.status_code == 201 and created.json()["warning"] == "yellow", created.text
    warned = [(d["warning"], d["task_id"]) for t, d in await matters.events_of(matter_id) if t.endswith("task.warned.v1")]
    assert warned == [("yellow", created.json()["task_id"])]
    # The sweeper finds the level announced already, and says nothing more until red.
    await sweep_deadlines(matters.app.state.sessions, matters.settings, datetime(2026, 10, 8, 12, 0, tzinfo=LOCAL_TZ))
    await sweep_deadlines(matters.app.state.sessions, matters.settings, datetime(2026, 10, 9, 8, 0, tzinfo=LOCAL_TZ))
    warned = [d["warning"] for t, d in await matters.events_of(matter_id) if t.endswith("task.warned.v1")]
    assert warned == ["yellow", "red"]


async def test_enough_good_ratings_close_the_matter(matters):
    community = matters.new_community()
    matter_id = await _evaluating(matters, community)
    outcomes = [(await _rate(matters, matter_id, community, n, score)).json()["outcome"] for n, score in enumerate([1, 2, 3, 4, 1])]
    assert outcomes == ["wait", "wait", "wait", "wait", "close"]
    detail = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.staff(community))).json()
    assert detail["state"] == "closed" and detail["timeline"][-1]["actor"] == "system:evaluation"


async def test_staff_close_an_evaluation_only_once_the_residents_had_their_time(matters, clock):
    community = matters.new_community()
    clock.now = datetime(2026, 11, 2, 9, 0, tzinfo=LOCAL_TZ)
    matter_id = await _evaluating(matters, community)
    url = f"/api/v1/matters/{matter_id}/transitions"
    clock.now += timedelta(days=14, hours=23)
    early = await matters.client.post(url, json={"action": "close"}, headers=matters.staff(community))
    assert early.status_code == 422 and early.json()["rule"] == "matter.evaluation_open"
    assert early.json()["evaluation_ends_at"].startswith("2026-11-17T01:00:00")
    clock.now += timedelta(hours=1)
    late = await matters.client.post(url, json={"action": "close", "reason": "评议期满，参评不足"},
                                     headers=matters.staff(community))
    assert late.status_code == 200 and late.json()["state"] == "closed"
    # The rating's result is published as a rating that ends it is (the disclosure board posts it).
    evaluated = [d for t, d in await matters.events_of(matter_id) if t.endswith("evaluated.v1")]
    assert [(d["outcome"], d["ratings"], d["bad"]) for d in evaluated] == [("close", 0, 0)]


async def test_staff_cannot_close_over_too_few_ratings_that_are_dissatisfied(matters, clock):
    # A building unit with three raters never reaches the five ratings that decide: their dissatisfaction still holds.
    community = matters.new_community()
    clock.now = datetime(2026, 11, 2, 9, 0, tzinfo=LOCAL_TZ)
    matter_id = await _evaluating(matters, community)
    for n, score in enumerate([5, 5, 1]):
        assert (await _rate(matters, matter_id, community, n, score)).json()["outcome"] == "wait"
    clock.now += timedelta(days=16)
    url = f"/api/v1/matters/{matter_id}/transitions"
    refused = await matters.client.post(url, json={"action": "close"}, headers=matters.staff(community))
    assert refused.status_code == 422 and refused.json()["rule"] == "matter.evaluation_dissatisfied", refused.text
    reopened = await matters.client.post(url, json={"action": "reopen", "reason": "居民不满意"},
                                         headers=matters.staff(community))
    assert reopened.status_code == 200 and reopened.json()["state"] == "reopened", reopened.text
    evaluated = [d for t, d in await matters.events_of(matter_id) if t.endswith("evaluated.v1")]
    assert [(d["outcome"], d["ratings"], d["bad"]) for d in evaluated] == [
        ("wait", 1, 1), ("wait", 2, 2), ("wait", 3, 2), ("reopen", 3, 2)]  # 5: 非常不满意


async def test_a_bad_share_above_the_threshold_reopens_the_work(matters):
    community = matters.new_community()
    matter_id = await _evaluating(matters, community)
    for n, score in enumerate([4, 5, 1, 2]):
        await _rate(matters, matter_id, community, n, score)
    last = (await _rate(matters, matter_id, community, 9, 2)).json()
    assert (last["outcome"], last["state"], last["bad"]) == ("reopen", "reopened", 2)
    evaluated = [d for t, d in await matters.events_of(matter_id) if t.endswith("evaluated.v1")]
    assert evaluated[-1]["outcome"] == "reopen" and abs(evaluated[-1]["bad_share"] - 0.4) < 1e-9
    # 重办: the work is redone and rated afresh in a new round.
    await matters.move(matter_id, community, "start_implementation", "start_evaluation")
    fresh = (await _rate(matters, matter_id, community, 1, 1)).json()
    assert (fresh["evaluation_round"], fresh["ratings"]) == (2, 1)


async def test_a_resident_rates_once_and_only_in_scope(matters):
    community = matters.new_community()
    matter_id = await _evaluating(matters, community)
    person = str(uuid.uuid4())
    home = matters.household(community, 1)
    first = await matters.client.post(f"/api/v1/matters/{matter_id}/ratings", json={"score": 2},
                                      headers=matters.resident(person, home))
    again = await matters.client.post(f"/api/v1/matters/{matter_id}/ratings", json={"score": 5},
                                      headers=matters.resident(person, home))
    assert first.status_code == 201 and again.status_code == 409
    outsider = await matters.client.post(f"/api/v1/matters/{matter_id}/ratings", json={"score": 5},
                                         headers=matters.staff(community))
    assert outsider.status_code == 403
    bad = await matters.client.post(f"/api/v1/matters/{matter_id}/ratings", json={"score": 6},
                                    headers=matters.resident(str(uuid.uuid4()), home))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "score"


async def test_a_department_task_without_a_catalogue_item_is_refused_and_recorded(matters):
    community, department = matters.new_community(), f"D{uuid.uuid4().hex[:6]}"
    await _community_in_replica(matters, community)
    headers = matters.department(department)
    missing = await matters.client.post("/api/v1/matters/department-tasks", headers=headers,
                                        json={"community_code": community, "title": "填报统计表"})
    assert missing.status_code == 422 and missing.json()["rule"] == "admission.catalogue_code_missing"
    unknown = await matters.client.post("/api/v1/matters/department-tasks", headers=headers,
                                        json={"community_code": community, "catalogue_code": "X999", "title": "创城迎检台账"})
    assert unknown.status_code == 422 and unknown.json()["rule"] == "admission.not_in_catalogue"
    assert "X999" in unknown.json()["detail"]
    admitted = await matters.client.post("/api/v1/matters/department-tasks", headers=headers,
                                         json={"community_code": community, "catalogue_code": "x001", "title": "低保初审",
                                               "due_on": "2026-12-31"})
    assert admitted.status_code == 201 and admitted.json()["catalogue_code"] == "X001"
    published = [t for t, _ in await matters.events_of(missing.json()["task_id"])]
    assert published == ["gov.youmin.matters.task.refused.v1"]
    burden = (await matters.client.get("/api/v1/matters/department-tasks/burden", headers=matters.staff(community))).json()
    assert [(r["community_code"], r["admitted"], r["refused"]) for r in burden["items"]] == [(community, 1, 2)]


async def _community_in_replica(matters, community: str) -> None:
    await matters.seed(reg.UnitCreated(unit_id=uuid.uuid4(), unit_code=community, parent_code=community[:9],
                                       level="community", effective_on=date(2026, 1, 1)))


async def test_a_department_task_is_admitted_only_into_a_registry_community_and_before_its_deadline(matters, clock):
    department = matters.department(f"D{uuid.uuid4().hex[:6]}")
    body = {"catalogue_code": "X001", "title": "低保初审"}
    unknown = await matters.client.post("/api/v1/matters/department-tasks", headers=department,
                                        json={**body, "community_code": "370705999999"})
    assert unknown.status_code == 422 and unknown.json()["rule"] == "admission.community_unknown", unknown.text
    assert unknown.json()["field"] == "community_code"
    community = matters.new_community()
    await _community_in_replica(matters, community)
    late = await matters.client.post("/api/v1/matters/department-tasks", headers=department, json={
        **body, "community_code": community, "due_on": (clock.now - timedelta(days=2)).date().isoformat()})
    assert late.status_code == 422 and late.json()["field"] == "due_on", late.text
    counted = await matters.client.get("/api/v1/matters/department-tasks/burden", headers=matters.staff(community))
    assert counted.json()["items"] == []


async def test_a_task_goes_only_to_a_department_bound_to_the_community_and_stops_with_the_matter(matters):
    community = matters.new_community()
    matter_id = await _decided(matters, community)
    staff = matters.staff(community)
    task = {"title": "修路", "responsible_kind": "department", "responsible_code": "NOT-ASSIGNED", "budget_cents": 100,
            "due_on": "2027-12-31"}
    refused = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff, json=task)
    assert refused.status_code == 422 and refused.json()["rule"] in ("task.department_not_assigned",
                                                                     "task.no_department_assigned"), refused.text
    made = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff,
                                     json={**task, "responsible_kind": "community", "responsible_code": None})
    assert made.status_code == 201, made.text
    done = await matters.client.post(f"/api/v1/matters/tasks/{made.json()['task_id']}/progress", headers=staff,
                                     json={"percent": 100, "note": "完工"})
    assert done.status_code == 200, done.text
    await matters.move(matter_id, community, "start_implementation", "start_evaluation")
    for n in range(1, 6):
        assert (await _rate(matters, matter_id, community, n, 1)).status_code == 201  # 1: 非常满意
    assert (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=staff)).json()["state"] == "closed"
    after = await matters.client.post(f"/api/v1/matters/tasks/{made.json()['task_id']}/progress", headers=staff,
                                      json={"percent": 0, "note": "补录"})
    assert after.status_code == 409, after.text


async def test_the_residents_rate_the_work_once_every_task_is_finished(matters):
    community = matters.new_community()
    matter_id = await _decided(matters, community)
    staff = matters.staff(community)
    tasks = []
    for title in ("更换路灯", "清理线缆"):
        made = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff, json={
            "title": title, "responsible_kind": "community", "budget_cents": 100, "due_on": "2027-12-31"})
        assert made.status_code == 201, made.text
        tasks.append(made.json()["task_id"])
    await matters.move(matter_id, community, "start_implementation")
    progress = f"/api/v1/matters/tasks/{tasks[0]}/progress"
    assert (await matters.client.post(progress, headers=staff, json={"percent": 100, "note": "完工"})).status_code == 200
    refused = await matters.client.post(f"/api/v1/matters/{matter_id}/transitions", headers=staff,
                                        json={"action": "start_evaluation"})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert (problem["rule"], problem["field"], problem["unfinished"]) == ("task.unfinished", "action", [tasks[1]])
    matter = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=staff)).json()
    assert matter["state"] == "implementing"

    second = f"/api/v1/matters/tasks/{tasks[1]}/progress"
    assert (await matters.client.post(second, headers=staff, json={"percent": 100, "note": "完工"})).status_code == 200
    await matters.move(matter_id, community, "start_evaluation")
    matter = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=staff)).json()
    assert matter["state"] == "evaluating"
    # Under the residents' rating, a task is not taken back below 100% (that is 重办); reported done again, it is.
    back = await matters.client.post(second, headers=staff, json={"percent": 60, "note": "返工"})
    assert back.status_code == 409 and back.json()["rule"] == "task.under_evaluation", back.text
    assert (await matters.client.post(second, headers=staff, json={"percent": 100, "note": "验收"})).status_code == 200
    tasks_now = (await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=staff)).json()
    assert [t["percent"] for t in tasks_now] == [100, 100]


async def test_a_finished_task_reported_again_keeps_the_time_it_was_finished(matters, clock):
    community = matters.new_community()
    matter_id = await _decided(matters, community)
    staff = matters.staff(community)
    made = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff, json={
        "title": "更换路灯", "responsible_kind": "community", "budget_cents": 100,
        "due_on": (clock.now + timedelta(days=10)).date().isoformat()})
    progress = f"/api/v1/matters/tasks/{made.json()['task_id']}/progress"
    assert (await matters.client.post(progress, headers=staff, json={"percent": 100, "note": "完工"})).status_code == 200
    finished = await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=staff)
    first = finished.json()[0]["completed_at"]
    assert first is not None
    clock.now += timedelta(days=20)  # past the deadline: the inspection reports it again
    assert (await matters.client.post(progress, headers=staff, json={"percent": 100, "note": "验收合格"})).status_code == 200
    again = (await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=staff)).json()[0]
    assert again["completed_at"] == first
    # Taken back below 100%, it is unfinished again; finished later, it is finished then.
    assert (await matters.client.post(progress, headers=staff, json={"percent": 90, "note": "返工"})).status_code == 200
    assert (await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=staff)).json()[0]["completed_at"] is None
    assert (await matters.client.post(progress, headers=staff, json={"percent": 100, "note": "完工"})).status_code == 200
    last = (await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=staff)).json()[0]["completed_at"]
    assert last is not None and last != first


async def test_a_community_task_is_carried_out_by_the_community_or_one_of_its_units(matters):
    community = matters.new_community()
    other = matters.new_community()
    matter_id = await _decided(matters, community)
    staff = matters.staff(community)
    task = {"title": "修路", "responsible_kind": "community", "budget_cents": 100, "due_on": "2027-12-31"}
    household = matters.household(community, 1)
    for code in ("张三 13912345678", other, household, community + "x"):
        refused = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff,
                                            json={**task, "responsible_code": code})
        assert refused.status_code == 422, (code, refused.text)
        assert (refused.json()["rule"], refused.json()["field"]) == ("task.community_code_invalid", "responsible_code")
    grid = household[:len(community) + 3]
    for code, expected in ((None, community), (community, community), (grid, grid)):
        made = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff,
                                         json={**task, "responsible_code": code})
        assert made.status_code == 201, made.text
        assert made.json()["responsible_code"] == expected


async def test_only_staff_flag_a_key_project_or_a_major_matter(matters):
    community = matters.new_community()
    home = matters.household(community, 1)
    for flag in ("key_project", "major"):
        resp = await matters.client.post("/api/v1/matters/", headers=matters.resident("p-1", home), json={
            "title": "加装电梯", "description": "x", "category": "old_estate_renovation", flag: True})
        assert resp.status_code == 403 and resp.json()["field"] == flag, resp.text
    staff = await matters.raise_matter(community, key_project=True, major=True)
    assert staff["key_project"] and staff["major"]


async def test_department_tasks_come_from_departments_only(matters):
    community = matters.new_community()
    resp = await matters.client.post("/api/v1/matters/department-tasks", headers=matters.staff(community),
                                     json={"community_code": community, "catalogue_code": "Z01", "title": "x"})
    assert resp.status_code == 403


async def test_statistics_give_counts_and_median_days_per_stage(matters, clock):
    community = matters.new_community()
    await matters.seed(reg.UnitCreated(unit_id=uuid.uuid4(), unit_code=community + "001", parent_code=community,
                                       level="grid", effective_on=date(2026, 1, 1)))
    start = datetime(2026, 11, 2, 9, 0, tzinfo=LOCAL_TZ)
    for days in (2, 4, 9):
        clock.now = start
        matter = await matters.raise_matter(community, title=f"重点项目{days}", key_project=True, category="old_estate_renovation")
        if days == 4:  # placed at its grid after a day: still one stay in triage, of 4 days
            clock.now = start + timedelta(days=1)
            await matters.move(matter["matter_id"], community, {"action": "place", "unit_code": community + "001"})
        clock.now = start + timedelta(days=days)
        await matters.move(matter["matter_id"], community, "accept")
    clock.now = start
    await matters.raise_matter(community, title="普通事项", category="environmental_sanitation")
    stats = (await matters.client.get("/api/v1/matters/stats", params={"community_code": community},
                                      headers=matters.staff(community))).json()
    raised = next(s for s in stats["by_state"] if s["state"] == "raised")
    assert (raised["entered"], raised["current"], raised["median_days"], raised["stage"]) == (4, 1, 4.0, "proposal")
    by_category = {c["category"]: (c["matters"], c["key_projects"]) for c in stats["by_category"]}
    assert by_category == {"old_estate_renovation": (3, 3), "environmental_sanitation": (1, 0)}
    assert stats["by_community"] == [{"community_code": community, "matters": 4, "key_projects": 3, "open": 4}]
    key_only = (await matters.client.get("/api/v1/matters/stats", params={"community_code": community, "key_project": True},
                                         headers=matters.staff(community))).json()
    assert key_only["by_community"][0]["matters"] == 3


async def test_a_stage_stay_runs_across_its_states_and_a_rerouting(matters, clock):
    community = matters.new_community()
    start = datetime(2026, 11, 2, 9, 0, tzinfo=LOCAL_TZ)
    clock.now = start
    matter = await matters.raise_matter(community, title="楼道堆物清理")
    steps = [(1, "accept"), (3, {"action": "route", "channel": "deliberation", "reason": "协商"}),
             (5, {"action": "route", "channel": "residents_meeting", "reason": "改由居民会议"}),
             (6, "start_deliberation"), (10, "start_decision")]
    for day, action in steps:
        clock.now = start + timedelta(days=day)
        await matters.move(matter["matter_id"], community, action)
    stats = (await matters.client.get("/api/v1/matters/stats", params={"community_code": community},
                                      headers=matters.staff(community))).json()
    by_stage = {s["stage"]: (s["entered"], s["current"], s["median_days"]) for s in stats["by_stage"]}
    # 提议 raised→accepted→routed: 3 days; 商议 routed, re-routed, deliberating→deciding: 7 days; 决议: under way.
    assert by_stage == {"proposal": (1, 0, 3.0), "consultation": (1, 0, 7.0), "resolution": (1, 1, None)}
    assert [s["template_code"] for s in stats["by_stage"]] == ["weiwan-five-democracy"] * 3
    assert [s["stage_title"] for s in stats["by_stage"]] == ["民主提议", "民主商议", "民主决议"]
    # Per state too, the re-routing does not cut the stay in routed in two: one stay, of 3 days (day 3 to day 6).
    routed = next(s for s in stats["by_state"] if s["state"] == "routed")
    assert (routed["entered"], routed["current"], routed["median_days"]) == (1, 0, 3.0)


async def test_stage_statistics_over_communities_follow_each_communitys_template(matters):
    nanhu, default = matters.new_community(), matters.new_community()
    staff = matters.staff(nanhu)
    await matters.client.put(f"/api/v1/matters/templates/communities/{nanhu}", headers=staff,
                             json={"template_code": "nanhu-household-decision"})
    await matters.raise_matter(nanhu)
    await matters.raise_matter(default)
    both = matters.headers("staff-two", [("community_staff", nanhu), ("community_staff", default)])
    stats = (await matters.client.get("/api/v1/matters/stats", headers=both)).json()
    stages = sorted((s["template_code"], s["stage"], s["stage_title"], s["current"]) for s in stats["by_stage"])
    assert stages == [("nanhu-household-decision", "proposal", "户代表提议", 1),
                      ("weiwan-five-democracy", "proposal", "民主提议", 1)]
    assert stats["template_code"] is None and all(s["stage"] is None for s in stats["by_state"])


_ = date


async def test_spending_is_recorded_once_spent_not_ahead(matters, clock):
    community = matters.new_community()
    clock.now = datetime(2026, 11, 20, 23, 30, tzinfo=LOCAL_TZ)  # still the 20th in China, already the 21st nowhere
    matter_id = await _decided(matters, community)
    staff = matters.staff(community)
    task = (await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff, json={
        "title": "更换路灯", "responsible_kind": "community", "budget_cents": 100, "due_on": "2026-12-31"})).json()
    url = f"/api/v1/matters/tasks/{task['task_id']}/spending"
    ahead = await matters.client.post(url, headers=staff, json={"item": "灯具", "amount_cents": 10, "spent_on": "2026-11-21"})
    assert ahead.status_code == 422 and ahead.json()["field"] == "spent_on"
    today = await matters.client.post(url, headers=staff, json={"item": "灯具", "amount_cents": 10, "spent_on": "2026-11-20"})
    assert today.status_code == 200 and today.json()["spent_cents"] == 10
    before = await matters.client.post(url, headers=staff, json={"item": "灯具", "amount_cents": 10, "spent_on": "0001-01-01"})
    assert before.status_code == 422 and before.json()["rule"] == "task.spending_before_matter", before.text


async def test_a_neighbour_reads_a_social_organisations_name_with_a_number_in_it_masked(matters, clock):
    community = matters.new_community()
    matter_id = await _decided(matters, community)
    staff = matters.staff(community)
    made = await matters.client.post(f"/api/v1/matters/{matter_id}/tasks", headers=staff, json={
        "title": "邻里互助", "responsible_kind": "social_organisation", "responsible_code": "志愿队 联系13912345678",
        "budget_cents": 0, "due_on": (clock.now + timedelta(days=30)).date().isoformat()})
    assert made.status_code == 201, made.text
    neighbour = matters.resident(str(uuid.uuid4()), matters.household(community, 7))
    [seen] = (await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=neighbour)).json()
    assert "13912345678" not in seen["responsible_code"] and "志愿队" in seen["responsible_code"]
    [full] = (await matters.client.get(f"/api/v1/matters/{matter_id}/tasks", headers=staff)).json()
    assert full["responsible_code"] == "志愿队 联系13912345678"
