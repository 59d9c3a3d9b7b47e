"""The coverage report through the API: liaison departments, legal advisers, 六有, staffing ratios, contacts."""

from __future__ import annotations

from conftest import new_id_number

from services.registry.rules.roles import SIX_HAVES

API = "/api/v1/registry"


async def coverage(registry, scope, headers=None):
    response = await registry.client.get(f"{API}/coverage", params={"scope": scope}, headers=headers or registry.admin)
    assert response.status_code == 200, response.text
    return response.json()


async def test_community_without_liaison_department_leaves_the_list_once_assigned(registry):
    community = await registry.fresh_community()
    assert (await coverage(registry, community))["communities_without_liaison"] == {"count": 1, "items": [community]}
    assigned = await registry.client.put(f"{API}/departments/D05/assignments", json={"community_code": community},
                                         headers=registry.admin)
    assert assigned.status_code == 204
    assert (await coverage(registry, community))["communities_without_liaison"]["count"] == 0
    departments = (await registry.client.get(f"{API}/departments", headers=registry.admin)).json()
    assert len(departments) == 53
    assert community in next(d for d in departments if d["department_code"] == "D05")["community_codes"]


async def test_grid_branch_missing_evidence_fails_six_haves(registry):
    grid = await registry.fresh_grid()
    checklist = {item: {"met": True, "evidence": "照片与台账"} for item in SIX_HAVES}
    checklist["venue"] = {"met": True, "evidence": ""}
    response = await registry.client.put(f"{API}/units/{grid}/party-org", json={"name": "一网格大支部", "six_haves": checklist},
                                         headers=registry.admin)
    assert response.status_code == 200 and response.json()["kind"] == "big_branch"
    assert response.json()["six_haves_missing"] == ["venue"]
    report = await coverage(registry, grid[:12])
    assert report["grid_branches_failing_six_haves"] == [{"grid_code": grid, "missing": ["venue"]}]


async def test_six_haves_on_a_community_committee_is_refused_naming_the_rule(registry):
    community = await registry.fresh_community()
    response = await registry.client.put(f"{API}/units/{community}/party-org",
                                         json={"name": "大党委", "six_haves": {"funds": {"met": True, "evidence": "x"}}},
                                         headers=registry.admin)
    assert response.status_code == 422 and response.json()["rule"] == "party_org.six_haves_grid_only"


async def test_grid_without_manager_is_over_ratio_and_household_without_contact_is_listed(registry):
    grid = await registry.fresh_grid()
    household = grid + "001010101"
    for code, name in ((grid + "001", "1号楼"), (grid + "00101", "1单元"), (household, "0101")):
        await registry.create_unit(code, name)
    report = await coverage(registry, grid[:12])
    assert report["grids_over_ratio"]["items"] == [grid]
    assert report["households_without_party_contact"] == {"count": 1, "items": [household]}
    assert report["communities_without_legal_adviser"]["items"] == [grid[:12]]
    member = (await registry.client.post(f"{API}/people", json={"name": "党员甲", "id_number": new_id_number()},
                                         headers=registry.admin)).json()
    granted = (await registry.client.post(f"{API}/grants", json={"person_id": member["person_id"], "role": "party_member",
                                                                 "scope_code": grid}, headers=registry.admin)).json()
    linked = await registry.client.post(f"{API}/households/{household}/contacts", json={"person_id": member["person_id"]},
                                        headers=registry.admin)
    assert linked.status_code == 204
    assert (await coverage(registry, grid[:12]))["households_without_party_contact"]["count"] == 0
    # The member's party role ends: the household has no party-member contact any more.
    await registry.client.post(f"{API}/grants/{granted['grant_id']}/revoke", headers=registry.admin)
    assert (await coverage(registry, grid[:12]))["households_without_party_contact"]["count"] == 1


async def test_resident_cannot_read_the_coverage_of_the_community(registry):
    grid = await registry.fresh_grid()
    response = await registry.client.get(f"{API}/coverage", params={"scope": grid[:12]},
                                         headers=registry.auth("resident", grid + "001010101"))
    assert response.status_code == 403


async def test_a_visiting_cadre_is_staff_covering_the_household_while_they_hold_the_role(registry):
    grid = await registry.fresh_grid()
    household = grid + "001010101"
    for code, name in ((grid + "001", "1号楼"), (grid + "00101", "1单元"), (household, "0101")):
        await registry.create_unit(code, name)

    async def person(name: str) -> str:
        return (await registry.client.post(f"{API}/people", json={"name": name, "id_number": new_id_number()},
                                           headers=registry.admin)).json()["person_id"]

    async def grant(person_id: str, role: str, scope: str) -> dict:
        return (await registry.client.post(f"{API}/grants", json={"person_id": person_id, "role": role,
                                                                  "scope_code": scope}, headers=registry.admin)).json()

    async def visit(person_id: str):
        return await registry.client.post(f"{API}/households/{household}/contacts",
                                          json={"person_id": person_id, "kind": "visiting_cadre"}, headers=registry.admin)

    neighbour, elsewhere, manager = await person("邻居"), await person("外网格员"), await person("本网格员")
    other_grid = await registry.fresh_grid()
    await grant(elsewhere, "grid_manager", other_grid)
    for who in (neighbour, elsewhere):  # no cadre's role; a cadre of another grid
        refused = await visit(who)
        assert refused.status_code == 422, refused.text
        assert (refused.json()["rule"], refused.json()["field"]) == ("contact.not_a_cadre", "person_id")
    managing = await grant(manager, "grid_manager", grid)
    assert (await visit(manager)).status_code == 204
    assert (await coverage(registry, grid[:12]))["households_without_visiting_cadre"]["count"] == 0
    # The grid manager leaves the post: the household has no visiting cadre any more.
    await registry.client.post(f"{API}/grants/{managing['grant_id']}/revoke", headers=registry.admin)
    assert (await coverage(registry, grid[:12]))["households_without_visiting_cadre"] == {"count": 1,
                                                                                          "items": [household]}
