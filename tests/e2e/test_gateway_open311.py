"""Open311 GeoReport v2 round trip through the gateway over the real matters service."""

from __future__ import annotations

import random
import uuid
import xml.etree.ElementTree as ET

import httpx

from youmin.testing import eventually


async def new_community_with_department(stack) -> tuple[str, str, str]:
    """Creates a community under street 370705001 and an API key for a department; returns (community, dept, key)."""
    admin = stack.token("admin", "370705", sub="e2e-admin")
    department = f"D{uuid.uuid4().hex[:8]}"
    async with stack.client(admin) as client:
        for code, parent, name in (("370705", None, "奎文区"), ("370705001", "370705", "东关街道")):
            made = await client.post("/api/v1/registry/units", json={"code": code, "parent_code": parent, "name": name})
            assert made.status_code in (201, 409) or "code.duplicate" in made.text, made.text
        for _ in range(20):
            community = f"370705001{random.randint(100, 199)}"
            resp = await client.post("/api/v1/registry/units", json={"code": community, "parent_code": "370705001",
                                                                     "name": f"测试社区{community[-3:]}"})
            if resp.status_code == 201:
                break
        assert resp.status_code == 201, resp.text
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
            "lat": "36.7069", "long": "119.1617", "first_name": "张", "last_name": "三", "phone": "13900001111",
            "email": "zhangsan@example.com"})
        return resp if resp.status_code == 201 else None

    resp = await eventually(attempt, timeout=30, interval=0.2)
    return resp.json()[0]


async def test_open311_round_trip_create_find_and_see_status_change(stack):
    community, _, key = await new_community_with_department(stack)
    async with stack.client() as client:
        created = await raise_by_open311(client, key, "小区门口垃圾桶满溢，无人清运", community)
        request_id, token = created["service_request_id"], created["token"]

        by_token = (await client.get(f"/open311/v2/tokens/{token}.json")).json()
        assert by_token == [{"service_request_id": request_id, "token": token}]

        found = (await client.get("/open311/v2/requests.json", params={
            "service_request_id": request_id, "service_code": "environmental_sanitation", "status": "open"})).json()
        assert [r["service_request_id"] for r in found] == [request_id]
        assert found[0]["status"] == "open"
        # The reporter's contact details never come back (nor go anywhere else).
        assert "13900001111" not in str(found) and "zhangsan" not in str(found)
        closed_now = (await client.get("/open311/v2/requests.json", params={"service_request_id": request_id,
                                                                          "status": "closed"})).json()
        assert closed_now == []

        staff = stack.token("community_staff", community, sub="e2e-staff")
        async with stack.client(staff) as staff_client:
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
