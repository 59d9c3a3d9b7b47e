"""The department-liaison feed through the gateway: stable order, no gaps or repeats while orders arrive; actions."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx

from youmin.kit.auth import mint_token
from youmin.kit.calendar import LOCAL_TZ
from youmin.testing import eventually

from .test_gateway_open311 import new_community_with_department, raise_by_open311


class HonourRetryAfter(httpx.AsyncBaseTransport):
    """Waits as the gateway's 429 says: the whole suite calls the stack from one address and shares its bucket."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        while True:
            response = await self.inner.handle_async_request(request)
            if response.status_code != 429:
                return response
            await response.aread()
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))

    async def aclose(self) -> None:
        await self.inner.aclose()


def client_of(stack, token: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30, transport=HonourRetryAfter())


async def _assigned_department(stack, community: str, nth: int = 0) -> tuple[str, str]:
    """Binds the registry's `nth` department to the community and gives it an API key."""
    admin = stack.token("admin", "370705", sub="e2e-admin")
    async with stack.client(admin) as client:
        departments = (await client.get("/api/v1/registry/departments")).json()
        assert len(departments) > nth, "the registry lists too few departments"
        code = departments[nth]["department_code"]
        resp = await client.put(f"/api/v1/registry/departments/{code}/assignments", json={"community_code": community})
        assert resp.status_code == 204, resp.text
        key = await client.post(f"/liaison/v1/admin/departments/{code}/keys", json={"label": "feed"},
                                headers={"authorization": f"Bearer {stack.token('district_staff', '370705')}"})
    return code, key.json()["api_key"]


async def test_feed_pages_in_a_stable_order_without_gaps_or_repeats_under_concurrent_dispatches(stack):
    community, _, raise_key = await new_community_with_department(stack)
    department, key = await _assigned_department(stack, community)
    headers = {"x-api-key": key}
    staff = stack.token("community_staff", community, sub="e2e-dispatcher")
    async with client_of(stack) as client, client_of(stack, staff) as staff_client:
        start = (await client.get("/liaison/v1/workorders", params={"limit": 500}, headers=headers)).json()
        cursor = int(start["next_cursor"])
        while start["items"]:  # skip what the department already had
            start = (await client.get("/liaison/v1/workorders", params={"after": cursor, "limit": 500},
                                      headers=headers)).json()
            cursor = int(start["next_cursor"])
        matters = [(await raise_by_open311(client, raise_key, f"路灯不亮 {i}", community))["service_request_id"]
                   for i in range(12)]

        async def dispatch(matter_id: str) -> str | None:
            resp = await staff_client.post(f"/api/v1/matters/{matter_id}/workorders", json={"department_code": department})
            return resp.json()["work_order_id"] if resp.status_code == 201 else None

        async def first_dispatch() -> str | None:
            resp = await staff_client.post(f"/api/v1/matters/{matters[0]}/workorders", json={"department_code": department})
            first_dispatch.last = resp.text
            return resp.json()["work_order_id"] if resp.status_code == 201 else None

        # The matters service learns the department's assignment from the registry's events.
        first = await eventually(first_dispatch, timeout=30, interval=0.2)
        matters = matters[1:]

        async def dispatch_all() -> list[str | None]:
            return await asyncio.gather(*(dispatch(m) for m in matters))

        seen: list[dict] = []

        async def read_page() -> None:
            nonlocal cursor
            page = (await client.get("/liaison/v1/workorders", params={"after": cursor, "limit": 3},
                                     headers=headers)).json()
            seen.extend(page["items"])
            cursor = int(page["next_cursor"])

        writer = asyncio.create_task(dispatch_all())
        while not writer.done():
            await read_page()
        dispatched = [first] + [w for w in await writer if w]
        assert len(dispatched) == len(matters) + 1, "every dispatch should succeed"

        async def caught_up():
            await read_page()
            return {i["work_order_id"] for i in seen if i["action"] == "dispatch"} >= set(dispatched)

        await eventually(caught_up, timeout=30, interval=0.1)
        cursors = [int(i["cursor"]) for i in seen]
        assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors), "order unstable or repeats"
        assert [i["work_order_id"] for i in seen if i["action"] == "dispatch"].count(dispatched[0]) == 1
        assert {i["department_code"] for i in seen} == {department}

        # The department acts on one of them through the liaison API.
        order = dispatched[0]
        signed = await client.post(f"/liaison/v1/workorders/{order}/sign", headers=headers)
        assert signed.status_code == 200, signed.text
        again = await client.post(f"/liaison/v1/workorders/{order}/sign", headers=headers)
        assert again.status_code == 409 and "allowed" in again.json()
        answered = await client.post(f"/liaison/v1/workorders/{order}/answer", json={"answer": "已修复"}, headers=headers)
        assert answered.status_code == 200, answered.text


async def test_task_without_a_catalogue_item_is_refused_with_the_reason(stack):
    community, _, _ = await new_community_with_department(stack)
    _, key = await _assigned_department(stack, community)
    async with stack.client() as client:
        resp = await client.post("/liaison/v1/tasks", json={"community_code": community, "title": "统计辖区门店"},
                                 headers={"x-api-key": key})
    assert resp.status_code == 422
    assert resp.json()["rule"].startswith("admission.")


async def _dispatched_orders(stack, count: int) -> tuple[str, str, str, list[str]]:
    """Raises matters in a fresh community and dispatches each to the community's department.

    Returns (community, department, the department's API key, the work order ids)."""
    community, _, raise_key = await new_community_with_department(stack)
    department, key = await _assigned_department(stack, community)
    staff = stack.token("community_staff", community, sub="e2e-dispatcher")
    orders: list[str] = []
    async with client_of(stack) as client, client_of(stack, staff) as staff_client:
        for i in range(count):
            matter = (await raise_by_open311(client, raise_key, f"井盖缺失 {i}", community))["service_request_id"]

            async def dispatch(matter_id: str = matter) -> str | None:
                resp = await staff_client.post(f"/api/v1/matters/{matter_id}/workorders",
                                               json={"department_code": department})
                return resp.json()["work_order_id"] if resp.status_code == 201 else None

            # The matters service learns the department's assignment from the registry's events.
            orders.append(await eventually(dispatch, timeout=30, interval=0.2))
    return community, department, key, orders


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _feed_actions(client: httpx.AsyncClient, key: str, order: str) -> list[str]:
    """The actions the department's feed lists for one work order, in feed order."""
    items, cursor = [], None
    while True:
        params = {"limit": 500} | ({"after": cursor} if cursor is not None else {})
        page = (await client.get("/liaison/v1/workorders", params=params, headers={"x-api-key": key})).json()
        if not page["items"]:
            return [i["action"] for i in items if i["work_order_id"] == order]
        items.extend(page["items"])
        cursor = page["next_cursor"]


async def test_department_takes_its_one_extension_through_the_liaison_api(stack):
    community, _, key, [order] = await _dispatched_orders(stack, 1)
    headers = {"x-api-key": key}
    staff = stack.token("community_staff", community, sub="e2e-watcher")
    async with client_of(stack) as client, client_of(stack, staff) as staff_client:
        before = (await staff_client.get(f"/api/v1/matters/workorders/{order}")).json()
        too_long = await client.post(f"/liaison/v1/workorders/{order}/extend", json={"workdays": 11, "reason": "需协调"},
                                     headers=headers)
        assert too_long.status_code == 422 and "workdays" in too_long.text

        extended = await client.post(f"/liaison/v1/workorders/{order}/extend",
                                     json={"workdays": 3, "reason": "需协调供水公司"}, headers=headers)
        assert extended.status_code == 200, extended.text
        body = extended.json()
        assert (body["extensions_used"], body["extended_workdays"]) == (1, 3)
        assert _at(body["due_at"]) > _at(before["due_at"])
        again = await client.post(f"/liaison/v1/workorders/{order}/extend", json={"workdays": 1, "reason": "再延"},
                                  headers=headers)
        assert again.status_code == 422 and again.json()["rule"] == "workorder.extension_already_used"

        # The community sees the new deadline; the department's feed records the extension.
        seen = (await staff_client.get(f"/api/v1/matters/workorders/{order}")).json()
        assert _at(seen["due_at"]) == _at(body["due_at"]) and seen["extensions_used"] == 1
        assert await _feed_actions(client, key, order) == ["dispatch", "extend"]


async def test_department_sends_a_misrouted_work_order_back_through_the_liaison_api(stack):
    community, _, key, [order] = await _dispatched_orders(stack, 1)
    headers = {"x-api-key": key}
    _, _, other_key = await new_community_with_department(stack)
    staff = stack.token("community_staff", community, sub="e2e-watcher")
    async with client_of(stack) as client, client_of(stack, staff) as staff_client:
        # Another department's key cannot touch the order.
        foreign = await client.post(f"/liaison/v1/workorders/{order}/return", json={"reason": "不归我管"},
                                    headers={"x-api-key": other_key})
        assert foreign.status_code == 404

        returned = await client.post(f"/liaison/v1/workorders/{order}/return", json={"reason": "应由区住建局办理"},
                                     headers=headers)
        assert returned.status_code == 200, returned.text
        assert returned.json()["status"] == "returned"
        assert returned.json()["return_reason"] == "应由区住建局办理"
        # A returned order takes no further action.
        sign = await client.post(f"/liaison/v1/workorders/{order}/sign", headers=headers)
        assert sign.status_code == 409 and sign.json()["allowed"] == []

        seen = (await staff_client.get(f"/api/v1/matters/workorders/{order}")).json()
        assert (seen["status"], seen["return_reason"]) == ("returned", "应由区住建局办理")
        assert await _feed_actions(client, key, order) == ["dispatch", "return"]


async def test_an_answer_or_reason_of_spaces_alone_is_refused_and_leaves_the_order_open(stack):
    community, department, key, [order] = await _dispatched_orders(stack, 1)
    headers = {"x-api-key": key}
    staff = stack.token("community_staff", community, sub="e2e-watcher")
    blank = " \u3000\t "
    actions = [("answer", {"answer": blank}, "answer"), ("extend", {"workdays": 2, "reason": blank}, "reason"),
               ("return", {"reason": blank}, "reason")]
    # The matters service refuses it too, for a caller that reaches it other than through the gateway.
    token = mint_token(stack.settings, f"department:{department}", [], kind="department", department=department)
    async with client_of(stack) as client, client_of(stack, staff) as staff_client, \
            httpx.AsyncClient(base_url=stack.service_urls["matters"], timeout=30,
                              headers={"authorization": f"Bearer {token}"}) as matters:
        signed = await client.post(f"/liaison/v1/workorders/{order}/sign", headers=headers)
        assert signed.status_code == 200, signed.text
        for action, body, field in actions:
            for resp in (await client.post(f"/liaison/v1/workorders/{order}/{action}", json=body, headers=headers),
                         await matters.post(f"/api/v1/matters/workorders/{order}/{action}", json=body)):
                assert resp.status_code == 422, (action, resp.text)
                assert resp.headers["content-type"].startswith("application/problem+json")
                assert [e["field"] for e in resp.json()["errors"]] == [field], (action, resp.text)

        seen = (await staff_client.get(f"/api/v1/matters/workorders/{order}")).json()
        assert (seen["status"], seen["extensions_used"]) == ("signed", 0)
        assert await _feed_actions(client, key, order) == ["dispatch", "sign"]
        # Words around the spaces are the answer, trimmed; the order is answered then.
        answered = await client.post(f"/liaison/v1/workorders/{order}/answer", json={"answer": "  已修复 "},
                                     headers=headers)
        assert answered.status_code == 200, answered.text
        assert answered.json()["status"] == "answered"


async def test_task_citing_a_catalogue_item_is_admitted_and_shows_in_the_communitys_burden(stack):
    community, _, _ = await new_community_with_department(stack)
    _, key = await _assigned_department(stack, community)
    staff = stack.token("community_staff", community, sub="e2e-burden")
    async with client_of(stack) as client, client_of(stack, staff) as staff_client:
        resp = await client.post("/liaison/v1/tasks", json={"community_code": community, "catalogue_code": "x001",
                                                            "title": "低保申请初审"}, headers={"x-api-key": key})
        assert resp.status_code == 201, resp.text
        task = resp.json()
        assert (task["admitted"], task["catalogue_code"], task["community_code"]) == (True, "X001", community)
        assert "X001" in task["reason"]
        burden = (await staff_client.get("/api/v1/matters/department-tasks/burden")).json()["items"]
    assert [(row["admitted"], row["refused"]) for row in burden if row["community_code"] == community] == [(1, 0)]


async def _decided_with_tasks(client: httpx.AsyncClient, staff_client: httpx.AsyncClient, raise_key: str,
                              community: str, department: str) -> tuple[str, str, str]:
    """Raises a matter, decides it by deliberation and gives it a task carried out by the department and one by the
    community. Returns (matter, the department's task, the community's task)."""
    matter = (await raise_by_open311(client, raise_key, "小区北门道路破损", community))["service_request_id"]
    for step in ("accept", {"action": "route", "channel": "deliberation", "reason": "协商"}, "start_deliberation",
                 "start_decision", {"action": "decide", "reason": "议事会一致同意"}):
        moved = await staff_client.post(f"/api/v1/matters/{matter}/transitions",
                                        json=step if isinstance(step, dict) else {"action": step})
        assert moved.status_code == 200, moved.text
    due_on = (datetime.now(LOCAL_TZ) + timedelta(days=30)).date().isoformat()

    async def department_task() -> str | None:
        # The matters service learns the department's assignment from the registry's events.
        resp = await staff_client.post(f"/api/v1/matters/{matter}/tasks", json={
            "title": "修复道路", "responsible_kind": "department", "responsible_code": department,
            "budget_cents": 5_000_000, "due_on": due_on})
        return resp.json()["task_id"] if resp.status_code == 201 else None

    ours = await eventually(department_task, timeout=30, interval=0.2)
    theirs = await staff_client.post(f"/api/v1/matters/{matter}/tasks", json={
        "title": "通知居民绕行", "responsible_kind": "community", "budget_cents": 0, "due_on": due_on})
    assert theirs.status_code == 201, theirs.text
    return matter, ours, theirs.json()["task_id"]


async def test_the_department_carrying_out_a_task_reports_its_progress_and_spending_through_the_liaison_api(stack):
    community, _, raise_key = await new_community_with_department(stack)
    department, key = await _assigned_department(stack, community)
    _, _, other_key = await new_community_with_department(stack)
    headers = {"x-api-key": key}
    staff = stack.token("community_staff", community, sub="e2e-implementer")
    async with client_of(stack) as client, client_of(stack, staff) as staff_client:
        matter, task, community_task = await _decided_with_tasks(client, staff_client, raise_key, community, department)
        today = datetime.now(LOCAL_TZ).date().isoformat()

        progressed = await client.post(f"/liaison/v1/implementation-tasks/{task}/progress",
                                       json={"percent": 40, "note": " 路基已铺 "}, headers=headers)
        assert progressed.status_code == 200, progressed.text
        assert progressed.json()["percent"] == 40
        assert [(p["percent"], p["note"]) for p in progressed.json()["progress"]] == [(40, "路基已铺")]
        spent = await client.post(f"/liaison/v1/implementation-tasks/{task}/spending", headers=headers,
                                  json={"item": "沥青采购", "amount_cents": 1_250_000, "spent_on": today})
        assert spent.status_code == 200, spent.text
        assert (spent.json()["spent_cents"], spent.json()["percent"]) == (1_250_000, 40)
        # A rule of the matters service comes back as it answers, naming the field.
        ahead = (datetime.now(LOCAL_TZ) + timedelta(days=2)).date().isoformat()
        future = await client.post(f"/liaison/v1/implementation-tasks/{task}/spending", headers=headers,
                                   json={"item": "预付款", "amount_cents": 100, "spent_on": ahead})
        assert future.status_code == 422, future.text
        assert (future.json()["rule"], future.json()["field"]) == ("task.spending_in_future", "spent_on")

        # Neither another department nor this one reaches a task it does not carry out.
        for target, api_key in ((task, other_key), (community_task, key)):
            for kind, body in (("progress", {"percent": 90, "note": "冒报"}),
                               ("spending", {"item": "冒报", "amount_cents": 1, "spent_on": today})):
                refused = await client.post(f"/liaison/v1/implementation-tasks/{target}/{kind}", json=body,
                                            headers={"x-api-key": api_key})
                assert refused.status_code == 404, (target, kind, refused.text)
                assert refused.headers["content-type"].startswith("application/problem+json")
        bad = await client.post(f"/liaison/v1/implementation-tasks/{task}/progress",
                                json={"percent": 101, "note": "超额"}, headers=headers)
        assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["percent"], bad.text

        # The community reads what the department reported, and nothing else was written.
        tasks = {t["task_id"]: t for t in (await staff_client.get(f"/api/v1/matters/{matter}/tasks")).json()}
        ours, theirs = tasks[task], tasks[community_task]
        assert (ours["responsible_kind"], ours["responsible_code"]) == ("department", department)
        assert (ours["percent"], ours["spent_cents"]) == (40, 1_250_000)
        assert [(p["percent"], p["note"]) for p in ours["progress"]] == [(40, "路基已铺")]
        assert [(s["item"], s["amount_cents"], s["spent_on"]) for s in ours["spending"]] == [
            ("沥青采购", 1_250_000, today)]
        assert (theirs["percent"], theirs["spent_cents"], theirs["progress"], theirs["spending"]) == (0, 0, [], [])


async def _all_implementation_tasks(client: httpx.AsyncClient, headers: dict[str, str], page_size: int,
                                    **params: str) -> list[dict]:
    """Every implementation task listed for the department, page by page; no page repeats one of another."""
    seen: list[dict] = []
    while True:
        page = await client.get("/liaison/v1/implementation-tasks", headers=headers,
                                params={**params, "limit": page_size, "offset": len(seen)})
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= page_size
        if not page.json()["items"]:
            assert page.json()["total"] == len(seen)
            return seen
        seen += page.json()["items"]
        assert len({t["task_id"] for t in seen}) == len(seen), "a task listed twice"


async def test_the_department_lists_the_implementation_tasks_it_carries_out_and_reports_on_one_by_its_id(stack):
    community, _, raise_key = await new_community_with_department(stack)
    department, key = await _assigned_department(stack, community)
    second, second_key = await _assigned_department(stack, community, nth=1)
    _, _, taskless_key = await new_community_with_department(stack)
    headers = {"x-api-key": key}
    staff = stack.token("community_staff", community, sub="e2e-implementer")
    async with client_of(stack) as client, client_of(stack, staff) as staff_client:
        matter, task, community_task = await _decided_with_tasks(client, staff_client, raise_key, community, department)
        due_on = (datetime.now(LOCAL_TZ) + timedelta(days=30)).date().isoformat()

        async def second_departments_task() -> str | None:
            resp = await staff_client.post(f"/api/v1/matters/{matter}/tasks", json={
                "title": "更换路灯", "responsible_kind": "department", "responsible_code": second,
                "budget_cents": 0, "due_on": due_on})
            return resp.json()["task_id"] if resp.status_code == 201 else None

        theirs = await eventually(second_departments_task, timeout=30, interval=0.2)

        # The department's own tasks only (other tests give it tasks too), newest first: ours is the newest.
        listed = await _all_implementation_tasks(client, headers, page_size=2)
        assert listed[0]["task_id"] == task
        assert not {community_task, theirs} & {t["task_id"] for t in listed}
        assert (listed[0]["matter_id"], listed[0]["community_code"], listed[0]["title"], listed[0]["percent"],
                listed[0]["budget_cents"], listed[0]["spent_cents"], listed[0]["completed_at"]) == (
            matter, community, "修复道路", 0, 5_000_000, 0, None)
        assert listed == await _all_implementation_tasks(client, headers, page_size=500)  # pages are one list
        second_lists = [t["task_id"] for t in await _all_implementation_tasks(client, {"x-api-key": second_key}, 500)]
        assert second_lists.count(theirs) == 1 and task not in second_lists
        taskless = await client.get("/liaison/v1/implementation-tasks", headers={"x-api-key": taskless_key})
        assert taskless.json() == {"items": [], "total": 0}, taskless.text

        # It reports on the task by the listed id, and the list shows the new percent.
        progressed = await client.post(f"/liaison/v1/implementation-tasks/{listed[0]['task_id']}/progress",
                                       json={"percent": 60, "note": "路面已修复过半"}, headers=headers)
        assert progressed.status_code == 200, progressed.text
        first = (await client.get("/liaison/v1/implementation-tasks", params={"limit": 1}, headers=headers)).json()
        assert [(t["task_id"], t["percent"]) for t in first["items"]] == [(task, 60)]
        assert task in {t["task_id"] for t in await _all_implementation_tasks(client, headers, 500, status="open")}
        assert task not in {t["task_id"] for t in await _all_implementation_tasks(client, headers, 500,
                                                                                   status="finished")}

        # /liaison/v1/tasks are the tasks a department pushes to communities (准入): no report goes there.
        old = await client.post(f"/liaison/v1/tasks/{task}/progress", json={"percent": 70, "note": "旧路径"},
                                headers=headers)
        assert old.status_code in (404, 405), old.text
        tasks = {t["task_id"]: t for t in (await staff_client.get(f"/api/v1/matters/{matter}/tasks")).json()}
        assert [p["percent"] for p in tasks[task]["progress"]] == [60]
