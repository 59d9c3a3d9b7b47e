"""Open311 GeoReport v2 round trip through the gateway over the real matters service."""

from __future__ import annotations

import json
import random
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import text

from youmin.kit.db import make_engine
from youmin.testing import eventually


STREETS = {"370705001": "东关街道", "370705002": "大虞街道"}


async def new_community(stack, street: str = "370705001") -> str:
    """Creates a fresh community under a street of district 370705 (and the street, if missing); returns its code."""
    admin = stack.token("admin", "370705", sub="e2e-admin")
    async with stack.client(admin) as client:
        for code, parent, name in (("370705", None, "奎文区"), (street, "370705", STREETS.get(street, "测试街道"))):
            made = await client.post("/api/v1/registry/units", json={"code": code, "parent_code": parent, "name": name})
            assert made.status_code in (201, 409) or "code.duplicate" in made.text, made.text
        for _ in range(20):
            community = f"{street}{random.randint(100, 199)}"
            resp = await client.post("/api/v1/registry/units", json={"code": community, "parent_code": street,
                                                                     "name": f"测试社区{community[-3:]}"})
            if resp.status_code == 201:
                break
        assert resp.status_code == 201, resp.text
    return community


async def new_community_with_department(stack) -> tuple[str, str, str]:
    """Creates a community under street 370705001 and an API key for a department; returns (community, dept, key)."""
    community = await new_community(stack)
    department = f"D{uuid.uuid4().hex[:8]}"
    async with stack.client() as client:
        key = await client.post(f"/liaison/v1/admin/departments/{department}/keys", json={"label": "e2e"},
                                headers={"authorization": f"Bearer {stack.token('district_staff', '370705')}"})
        assert key.status_code == 201, key.text
    return community, department, key.json()["api_key"]


async def raise_by_open311(client: httpx.AsyncClient, key: str, description: str, community: str) -> dict:
    """POSTs a request, retrying while the matters service has not yet learnt the new community from the registry."""

    async def attempt():
        resp = await client.post("/open311/v2/requests.json", data={
            "api_key": key, "service_code": "environmental_sanitation", "description": description,
            "address_id": community,
            "lat": "36.7069", "long": "119.1617", "first_name": "三", "last_name": "张", "phone": "13900001111",
            "email": "zhangsan@example.com"})
        return resp if resp.status_code == 201 else None

    resp = await eventually(attempt, timeout=30, interval=0.2)
    return resp.json()[0]


async def test_open311_round_trip_create_find_and_see_status_change(stack):
    community, _, key = await new_community_with_department(stack)
    async with stack.client() as client:
        created = await raise_by_open311(client, key, "幸福小区5号楼2单元302室门口垃圾桶满溢，无人清运。我是张三，邮箱 "
                                         "zhangsan@example.com", community)
        request_id, token = created["service_request_id"], created["token"]

        by_token = (await client.get(f"/open311/v2/tokens/{token}.json")).json()
        assert by_token == [{"service_request_id": request_id, "token": token}]

        found = (await client.get("/open311/v2/requests.json", params={
            "service_request_id": request_id, "service_code": "environmental_sanitation", "status": "open"})).json()
        assert [r["service_request_id"] for r in found] == [request_id]
        assert found[0]["status"] == "open"
        # Without dates, the last 90 days: today's request is there; a range long past has none of it.
        recent = (await client.get("/open311/v2/requests.json", params={"service_code": "environmental_sanitation"})).json()
        assert request_id in [r["service_request_id"] for r in recent]
        past = (await client.get("/open311/v2/requests.json", params={
            "service_code": "environmental_sanitation", "end_date": "2020-01-01T00:00:00+08:00"})).json()
        assert request_id not in [r["service_request_id"] for r in past]
        # The reporter's contact details never come back (nor go anywhere else), even when the description repeats them.
        assert "13900001111" not in str(found) and "zhangsan" not in str(found) and "张三" not in str(found)
        assert found[0]["description"].endswith("我是张某，邮箱 z***@example.com")
        closed_now = (await client.get("/open311/v2/requests.json", params={"service_request_id": request_id,
                                                                          "status": "closed"})).json()
        assert closed_now == []

        staff = stack.token("community_staff", community, sub="e2e-staff")
        async with stack.client(staff) as staff_client:
            stored = (await staff_client.get(f"/api/v1/matters/{request_id}")).json()
            assert "张三" not in stored["description"] + stored["title"] and "zhangsan" not in stored["description"]
            # Where: for the staff who handle it, not for the public (a home's address).
            assert "5号楼2单元302室" in stored["description"] and "302室" not in str(found)
            resp = await staff_client.post(f"/api/v1/matters/{request_id}/transitions",
                                           json={"action": "reject", "reason": "已由物业当日清运"})
            assert resp.status_code == 200, resp.text

        one = (await client.get(f"/open311/v2/requests/{request_id}.json")).json()[0]
        assert one["status"] == "closed"
        assert one["agency_responsible"]
        xml = await client.get(f"/open311/v2/requests/{request_id}.xml")
        assert ET.fromstring(xml.content).find("request").findtext("status") == "closed"
        closed = (await client.get("/open311/v2/requests.json", params={"service_request_id": request_id,
                                                                      "status": "closed"})).json()
        assert [r["service_request_id"] for r in closed] == [request_id]


async def test_open311_unknown_request_is_a_standard_404(stack):
    async with stack.client() as client:
        resp = await client.get(f"/open311/v2/requests/{uuid.uuid4()}.json")
    assert resp.status_code == 404
    assert resp.json()[0]["code"] == 404


async def _replicated_assignments(infra, department: str, expected: int) -> None:
    """Waits until the matters service's replica holds the department's active assignments."""
    engine = make_engine(infra.database_url("matters"), pool_size=1)
    try:
        async def check() -> bool:
            async with engine.connect() as conn:
                return await conn.scalar(text(
                    "SELECT count(*) FROM replica_department_assignment WHERE department_code = :d AND active"),
                    {"d": department}) == expected

        await eventually(check, timeout=60)
    finally:
        await engine.dispose()


async def _department_bound_to(stack, infra, communities: list[str]) -> str:
    """Binds a department bound to nothing yet to the communities; returns its API key."""
    admin = stack.token("admin", "370705", sub="e2e-admin")
    async with stack.client(admin) as client:
        free = [d["department_code"] for d in (await client.get("/api/v1/registry/departments")).json()
                if not d["community_codes"]]
        assert free, "every registry department is bound already"
        department = random.choice(free)
        for community in communities:
            resp = await client.put(f"/api/v1/registry/departments/{department}/assignments",
                                    json={"community_code": community})
            assert resp.status_code == 204, resp.text
        key = await client.post(f"/liaison/v1/admin/departments/{department}/keys", json={"label": "open311"},
                                headers={"authorization": f"Bearer {stack.token('district_staff', '370705')}"})
        assert key.status_code == 201, key.text
    await _replicated_assignments(infra, department, len(communities))
    return key.json()["api_key"]


@pytest.mark.parametrize(("streets", "placed_at"), [(("370705001", "370705001"), "370705001"),
                                                   (("370705001", "370705002"), "370705")])
async def test_location_only_request_is_placed_at_the_unit_covering_the_departments_communities(
        stack, infra, streets, placed_at):
    communities = [await new_community(stack, street) for street in streets]
    key = await _department_bound_to(stack, infra, communities)
    async with stack.client() as client:
        resp = await client.post("/open311/v2/requests.json", data={
            "api_key": key, "service_code": "public_safety", "description": "路口井盖缺失，夜间危险",
            "lat": "36.7069", "long": "119.1617", "address_string": "奎文区东关街道胜利东街100号"})
        assert resp.status_code == 201, resp.text
        request_id = resp.json()[0]["service_request_id"]

        [one] = (await client.get(f"/open311/v2/requests/{request_id}.json")).json()
        # The street both communities lie in, or the district: the request waits there for triage.
        assert (one["address_id"], one["status"], one["service_code"]) == (placed_at, "open", "public_safety")
        assert one["address"] is None and "胜利东街" not in resp.text + str(one)
        found = (await client.get("/open311/v2/requests.json", params={"service_request_id": request_id})).json()
        assert [r["service_request_id"] for r in found] == [request_id]

    # Staff covering that unit triage it; a community's staff below it do not see it.
    triage = stack.token("street_staff" if len(placed_at) == 9 else "district_staff", placed_at, sub="e2e-triage")
    async with stack.client(triage) as triage_client:
        matter = await triage_client.get(f"/api/v1/matters/{request_id}")
        assert matter.status_code == 200 and matter.json()["unit_code"] == placed_at
        accepted = await triage_client.post(f"/api/v1/matters/{request_id}/transitions", json={"action": "accept"})
        assert accepted.status_code == 200, accepted.text
    below = stack.token("community_staff", communities[0], sub="e2e-community")
    async with stack.client(below) as community_client:
        assert (await community_client.get(f"/api/v1/matters/{request_id}")).status_code == 404

    # The triage places it in the community it is about (once the community has reached the matters service);
    # that community's staff take it from there, and the Open311 view follows.
    async with stack.client(triage) as triage_client:
        async def placed():
            resp = await triage_client.post(f"/api/v1/matters/{request_id}/transitions",
                                            json={"action": "place", "unit_code": communities[0]})
            return resp if resp.status_code == 200 else None

        placed_matter = (await eventually(placed, timeout=60, interval=0.5)).json()
    assert (placed_matter["community_code"], placed_matter["state"]) == (communities[0], "accepted")
    async with stack.client(below) as community_client:
        assert (await community_client.get(f"/api/v1/matters/{request_id}")).status_code == 200
    async with stack.client() as client:
        [one] = (await client.get(f"/open311/v2/requests/{request_id}.json")).json()
    assert (one["address_id"], one["status"]) == (communities[0], "open")


async def test_location_only_request_of_a_single_community_department_is_placed_in_it(stack, infra):
    community = await new_community(stack)
    key = await _department_bound_to(stack, infra, [community])
    async with stack.client() as client:
        resp = await client.post("/open311/v2/requests.json", data={
            "api_key": key, "service_code": "city_management", "description": "人行道被占用",
            "address_string": "奎文区某路口"})
        assert resp.status_code == 201, resp.text
        [one] = (await client.get(f"/open311/v2/requests/{resp.json()[0]['service_request_id']}.json")).json()
    assert one["address_id"] == community


async def test_location_only_request_of_a_department_bound_to_no_community_names_address_id(stack):
    _, _, key = await new_community_with_department(stack)  # a department the registry does not bind anywhere
    async with stack.client() as client:
        resp = await client.post("/open311/v2/requests.json", data={
            "api_key": key, "service_code": "city_management", "description": "人行道被占用", "lat": "36.7",
            "long": "119.1"})
    assert resp.status_code == 400
    assert resp.json()[0]["description"].startswith("address_id:")


async def test_start_and_end_date_filter_requests_by_when_they_were_raised(stack):
    community, _, key = await new_community_with_department(stack)
    async with stack.client() as client:
        request_id = (await raise_by_open311(client, key, "楼道堆放杂物", community))["service_request_id"]
        [one] = (await client.get(f"/open311/v2/requests/{request_id}.json")).json()
        raised = datetime.fromisoformat(one["requested_datetime"])

        async def found(**window: datetime) -> list[str]:
            params = {"service_request_id": request_id} | {k: v.isoformat() for k, v in window.items()}
            resp = await client.get("/open311/v2/requests.json", params=params)
            assert resp.status_code == 200, resp.text
            return [r["service_request_id"] for r in resp.json()]

        minute = timedelta(minutes=1)
        assert await found(start_date=raised - minute, end_date=raised + minute) == [request_id]
        assert await found(start_date=raised - minute) == [request_id]
        assert await found(start_date=raised + minute) == []
        assert await found(end_date=raised - minute) == []
        # Offsets other than UTC name the same instants.
        shanghai = timezone(timedelta(hours=8))
        assert await found(start_date=(raised - minute).astimezone(shanghai),
                           end_date=(raised + minute).astimezone(shanghai)) == [request_id]
        assert await found(end_date=(raised - minute).astimezone(shanghai)) == []


async def test_status_notes_name_the_last_status_change_without_staffs_words(stack):
    community, _, key = await new_community_with_department(stack)
    async with stack.client() as client:
        request_id = (await raise_by_open311(client, key, "小区路灯不亮", community))["service_request_id"]
        [before] = (await client.get(f"/open311/v2/requests/{request_id}.json")).json()
        assert before["status_notes"]  # the stage it waits in

        staff = stack.token("community_staff", community, sub="e2e-staff")
        async with stack.client(staff) as staff_client:
            # A bare name (no cue word beside it) would pass the masking: staff's words are not published at all.
            resp = await staff_client.post(f"/api/v1/matters/{request_id}/transitions",
                                           json={"action": "reject", "reason_code": "out_of_scope",
                                                 "reason": "已联系王建国，供电公司明日更换灯泡，联系电话13900001111"})
            assert resp.status_code == 200, resp.text

        answer = await client.get(f"/open311/v2/requests/{request_id}.json")
        [after] = answer.json()
        assert after["status"] == "closed"
        assert after["status_notes"] == "不予受理：不属于社区议事范围"
        for words in ("王建国", "供电公司明日更换灯泡", "13900001111"):
            assert words not in json.dumps(after, ensure_ascii=False)
        xml = await client.get(f"/open311/v2/requests/{request_id}.xml")
        assert ET.fromstring(xml.content).find("request").findtext("status_notes") == "不予受理：不属于社区议事范围"
        assert "王建国" not in xml.text
