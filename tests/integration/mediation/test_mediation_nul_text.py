"""Text carrying a NUL character (which PostgreSQL refuses) is a 422 naming the field, never a 500."""

from __future__ import annotations


async def test_a_nul_character_in_a_case_description_is_a_422_naming_it(h):
    place = await h.place()
    resp = await h.client.post("/api/v1/mediation/cases", headers=h.staff("grid_manager", place.grid), json={
        "place_code": place.grid, "dispute_type": "family", "description": "楼上漏水\u0000",
        "parties": [{"person_id": place.residents["a"]}, {"person_id": place.residents["b"]}],
    })
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == ["description"]


async def test_a_nul_character_in_an_outside_partys_name_is_a_422_naming_it(h):
    place = await h.place()
    resp = await h.client.post("/api/v1/mediation/cases", headers=h.staff("grid_manager", place.grid), json={
        "place_code": place.grid, "dispute_type": "family", "description": "x",
        "parties": [{"person_id": place.residents["a"]}, {"outside": {"full_name": "王\u0000五"}}],
    })
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["parties.1.outside.full_name"]
