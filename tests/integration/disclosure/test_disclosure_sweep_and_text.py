"""The overdue-question sweep is district-wide, so only the district (or a service) may run it; and text carrying
a NUL character (which PostgreSQL refuses) is a 422 naming the field, never a 500."""

from __future__ import annotations

from datetime import datetime

import pytest

from disclosure_helpers import new_community
from services.disclosure.rules.cadence import SHANGHAI
from youmin.kit.auth import mint_token

SWEEP = "/api/v1/disclosure/supervision/sweep"
LONG_AGO = datetime(2020, 1, 1, 8, tzinfo=SHANGHAI)  # nothing is overdue yet: the sweep flags nothing of others'


@pytest.mark.parametrize(("role", "scope"), [
    ("street_staff", "street"), ("street_staff", "community"), ("district_staff", "other_district"),
    ("admin", "community"), ("community_staff", "community"), ("resident", "household"),
])
async def test_the_sweep_refuses_callers_below_the_district(disclosure, clock, role, scope):
    clock.set(LONG_AGO)
    community = new_community()
    code = {"street": community[:9], "community": community, "household": community + "001002010101",
            "other_district": "370702"}[scope]
    resp = await disclosure.client.post(SWEEP, headers=disclosure.token(role, code))
    assert resp.status_code == 403, resp.text


@pytest.mark.parametrize("role", ["district_staff", "admin"])
async def test_district_staff_run_the_sweep(disclosure, clock, role):
    clock.set(LONG_AGO)
    resp = await disclosure.client.post(SWEEP, headers=disclosure.token(role, "370705"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["flagged"] == []


async def test_a_service_runs_the_sweep(disclosure, clock):
    clock.set(LONG_AGO)
    token = mint_token(disclosure.settings, "svc:scheduler", [], kind="service")
    resp = await disclosure.client.post(SWEEP, headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("field", ["title", "body", "people"])
async def test_a_nul_character_in_a_posted_item_is_a_422_naming_the_field(disclosure, field):
    community = new_community()
    body = {"unit_code": community, "kind": "residents", "category": "notice", "title": "停车位分配方案",
            "body": "方案见附件。", "people": []}
    body[field] = ["张\u0000"] if field == "people" else "方案\u0000见附件"
    resp = await disclosure.client.post("/api/v1/disclosure/items", json=body,
                                        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == [field]


@pytest.mark.parametrize(("path", "param"), [
    ("/public/v1/items", "category"), ("/public/v1/matters", "stage"), ("/public/v1/statistics/mediation", "level"),
    ("/public/v1/statistics/mediation", "outcome"), ("/public/v1/statistics/mediation", "dispute_type"),
])
async def test_a_nul_character_in_a_public_query_is_a_422_naming_it(disclosure, path, param):
    resp = await disclosure.client.get(path, params={"unit": new_community(), param: "x\u0000"})
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == [param]
