"""The mediation ladder through the gateway: intake, consent, escalation, confidentiality, statistics."""

from __future__ import annotations

import random
import uuid


def fresh_grid() -> str:
    return f"8{random.randrange(10**5):05d}{random.randrange(1, 100):03d}{random.randrange(1, 200):03d}001"


async def test_case_goes_up_the_ladder_through_the_gateway_and_stays_confidential(stack):
    grid = fresh_grid()
    community, street = grid[:12], grid[:9]
    staff = stack.client(stack.token("grid_manager", grid))
    body = {"place_code": grid, "dispute_type": "property_management", "description": "物业费争议",
            "parties": [{"person_id": str(uuid.uuid4())},
                        {"outside": {"full_name": "钱七", "phone": "13700137000"}, "role": "respondent"}]}
    async with staff:
        resp = await staff.post("/api/v1/mediation/cases", json=body)
        assert resp.status_code == 201, resp.text
        case = resp.json()
        for party in case["parties"]:
            resp = await staff.post(f"/api/v1/mediation/cases/{case['id']}/consents",
                                    json={"party_id": party["party_id"], "decision": "given"})
        assert resp.json()["status"] == "mediating"
        resp = await staff.post(f"/api/v1/mediation/cases/{case['id']}/escalation", json={"reason": "物业拒不到场"})
        assert resp.json()["level"] == "community"
        assert (await staff.get(f"/api/v1/mediation/cases/{case['id']}")).status_code == 404

    async with stack.client(stack.token("community_staff", community)) as supervisor:
        resp = await supervisor.get(f"/api/v1/mediation/cases/{case['id']}")
        assert resp.status_code == 200 and resp.json()["parties"][1]["outside"]["full_name"] == "钱七"
    async with stack.client(stack.token("mediator", f"{community}002", sub=str(uuid.uuid4()))) as other:
        assert (await other.get(f"/api/v1/mediation/cases/{case['id']}")).status_code == 404
    async with stack.client() as anonymous:
        assert (await anonymous.get(f"/api/v1/mediation/cases/{case['id']}")).status_code == 401
    async with stack.client(stack.token("resident", grid)) as resident:
        assert (await resident.get(f"/api/v1/mediation/cases/{case['id']}")).status_code == 404
        resp = await resident.get("/api/v1/mediation/statistics", params={
            "scope": street, "period_start": "2020-01-01T00:00:00+08:00", "period_end": "2100-01-01T00:00:00+08:00"})
        assert resp.status_code == 200
        assert resp.json()["current"]["opened"] == 1 and resp.json()["current"]["escalations"] == 1
        assert "钱七" not in resp.text and case["id"] not in resp.text
