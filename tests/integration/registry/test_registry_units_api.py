"""Org units through the API: the code rules (422 naming the rule), history, moves and retirement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from conftest import new_id_number

from services.registry.rules.codes import DEFAULT_SCHEME, Level
from youmin.kit.calendar import local_date

API = "/api/v1/registry"


@pytest.mark.parametrize(
    ("suffix", "parent_suffix", "rule"),
    [
        ("12", None, "code.malformed"),  # 14 digits: no level has that length
        ("00a", None, "code.malformed"),
        ("000", None, "code.segment_out_of_range"),  # grid serial 000
        ("", "parent_other", "code.not_under_parent"),  # does not extend the given parent
    ],
)
async def test_malformed_or_misplaced_grid_code_is_refused_naming_the_rule(registry, suffix, parent_suffix, rule):
    community = await registry.fresh_community()
    code = community + suffix if suffix else community[:-3] + "198001"
    body = {"code": code, "name": "坏网格"}
    if parent_suffix:
        body["parent_code"] = community
    response = await registry.client.post(f"{API}/units", json=body, headers=registry.admin)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["rule"] == rule


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("370705100", "code.segment_out_of_range"),  # street segment 100 > 099
        ("370705001200", "code.segment_out_of_range"),  # residents' committee 200 > 199
        ("990705001", "code.invalid_county"),  # 99 is no province
        ("370700001", "code.invalid_county"),  # a prefecture, not a county
        ("37070500１", "code.malformed"),  # full-width digit
    ],
)
async def test_code_table_of_invalid_codes_through_the_api(registry, code, rule):
    response = await registry.create_unit(code, "无效单位")
    assert response.status_code == 422, response.text
    assert response.json()["rule"] == rule


async def test_valid_codes_at_every_level_are_created_with_their_ancestors(registry):
    community = await registry.fresh_community()
    grid, building, unit, household = community + "007", community + "007012", community + "00701203", community + "007012030101"
    for code, name in ((grid, "七网格"), (building, "12号楼"), (unit, "3单元"), (household, "0101室")):
        response = await registry.create_unit(code, name)
        assert response.status_code == 201, response.text
        assert response.json()["level"] == {15: "grid", 18: "building", 20: "unit", 24: "household"}[len(code)]
    body = (await registry.client.get(f"{API}/units/{household}", headers=registry.admin)).json()
    assert [a["code"] for a in body["ancestors"]] == ["370705", community[:9], community, grid, building, unit]
    assert len(household) == DEFAULT_SCHEME.length(Level.HOUSEHOLD)


async def test_duplicate_code_is_refused(registry):
    community = await registry.fresh_community()
    response = await registry.create_unit(community, "又一个社区")
    assert response.status_code == 422 and response.json()["rule"] == "code.duplicate"


async def test_unit_under_a_missing_parent_is_refused(registry):
    community = await registry.fresh_community()
    response = await registry.create_unit(community + "005001", "没有网格的楼")
    assert response.status_code == 422 and response.json()["rule"] == "code.parent_unknown"


async def test_retired_code_is_never_reused(registry):
    grid = await registry.fresh_grid()
    today = str(local_date(datetime.now(UTC)))
    retired = await registry.client.post(f"{API}/units/{grid}/retire", json={"effective_on": today},
                                         headers=registry.admin)
    assert retired.status_code == 200 and retired.json()["retired_on"] == today
    again = await registry.create_unit(grid, "重新启用的网格")
    assert again.status_code == 422 and again.json()["rule"] == "code.retired_reuse"


async def test_unit_with_active_children_cannot_be_retired(registry):
    grid = await registry.fresh_grid()
    response = await registry.client.post(f"{API}/units/{grid[:12]}/retire", json={}, headers=registry.admin)
    assert response.status_code == 409 and response.json()["allowed"]


async def test_rename_keeps_the_old_name_in_the_history(registry):
    community = await registry.fresh_community()
    response = await registry.client.patch(f"{API}/units/{community}", json={"name": "新名社区", "effective_on": "2026-03-01"},
                                           headers=registry.admin)
    assert response.status_code == 200 and response.json()["name"] == "新名社区"
    history = (await registry.client.get(f"{API}/units/{community}/history", headers=registry.admin)).json()
    assert history == [{"change": "renamed", "old_code": community, "new_code": community,
                        "old_name": f"测试社区{community[-6:]}", "new_name": "新名社区", "effective_on": "2026-03-01"}]


async def test_moved_grid_takes_new_codes_below_it_and_leaves_its_old_code_unusable(registry):
    grid = await registry.fresh_grid()
    target = await registry.fresh_community()
    assert (await registry.create_unit(grid + "001", "1号楼")).status_code == 201
    moved = await registry.client.post(f"{API}/units/{grid}/move",
                                       json={"new_parent_code": target, "new_code": target + "009"},
                                       headers=registry.admin)
    assert moved.status_code == 200, moved.text
    assert moved.json()["code"] == target + "009" and moved.json()["parent_code"] == target
    building = await registry.client.get(f"{API}/units/{target}009001", headers=registry.admin)
    assert building.status_code == 200
    gone = await registry.client.get(f"{API}/units/{grid}", headers=registry.admin)
    assert gone.status_code == 404 and gone.json()["moved_to"] == target + "009"
    history = (await registry.client.get(f"{API}/units/{target}009001/history", headers=registry.admin)).json()
    assert [(h["change"], h["old_code"], h["new_code"]) for h in history] == [("recoded", grid + "001", target + "009001")]
    reuse = await registry.create_unit(grid, "旧码新网格")
    assert reuse.status_code == 422 and reuse.json()["rule"] == "code.retired_reuse"


async def test_children_are_listed_in_code_order(registry):
    community = await registry.fresh_community()
    for serial in ("003", "001", "002"):
        await registry.create_unit(community + serial, f"网格{serial}")
    children = (await registry.client.get(f"{API}/units/{community}/children", headers=registry.admin)).json()
    assert [c["code"][-3:] for c in children] == ["001", "002", "003"]


async def test_search_by_name_finds_a_community_within_a_scope(registry):
    community = await registry.fresh_community()
    await registry.client.patch(f"{API}/units/{community}", json={"name": f"搜索用社区{community}"}, headers=registry.admin)
    found = (await registry.client.get(f"{API}/units", params={"q": f"社区{community}", "within": community[:9]},
                                       headers=registry.admin)).json()
    assert [u["code"] for u in found] == [community]


async def test_community_staff_cannot_create_units_in_another_community(registry):
    community, other = await registry.fresh_community(), await registry.fresh_community()
    response = await registry.client.post(f"{API}/units", json={"code": other + "001", "name": "越权网格"},
                                          headers=registry.auth("community_staff", community))
    assert response.status_code == 403


async def test_street_staff_creates_a_grid_in_its_community(registry):
    community = await registry.fresh_community()
    response = await registry.client.post(f"{API}/units", json={"code": community + "002", "name": "二网格"},
                                          headers=registry.auth("street_staff", community[:9]))
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "params", "field"),
    [
        ("GET", "/units/37a705", None, "code"),
        ("GET", "/units", {"q": "社区", "within": "street"}, "within"),
        ("GET", "/coverage", {"scope": "3707O5"}, "scope"),
        ("GET", "/roles/mayor/holders", {"scope": "370705"}, "role"),
        ("POST", "/imports/cats", None, "kind"),
    ],
)
async def test_parameters_outside_their_declared_shape_are_refused_naming_them(registry, method, path, params, field):
    response = await registry.client.request(method, f"{API}{path}", params=params, headers=registry.admin)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_a_nul_character_in_a_body_or_a_query_is_a_422_naming_the_field(registry):
    community = await registry.fresh_community()
    created = await registry.client.post(f"{API}/units", json={"code": community + "003", "name": "三\u0000网格"},
                                         headers=registry.admin)
    searched = await registry.client.get(f"{API}/units", params={"q": "社\u0000区"}, headers=registry.admin)
    bound = await registry.client.put(f"{API}/units/{community}/party-org", headers=registry.admin, json={
        "name": "社区党委", "six_haves": {"venue": {"met": True, "evidence": "活动室\u0000"}}})
    for response, field in ((created, "name"), (searched, "q"), (bound, "six_haves")):
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_two_moves_of_one_unit_at_once_make_one_move(registry):
    grid = await registry.fresh_grid()
    target = await registry.fresh_community()
    moves = [registry.client.post(f"{API}/units/{grid}/move", json={"new_parent_code": target, "new_code": target + serial},
                                  headers=registry.admin) for serial in ("005", "006")]
    results = await asyncio.gather(*moves)
    assert sorted(r.status_code for r in results) == [200, 404], [r.text for r in results]
    [moved] = [r.json() for r in results if r.status_code == 200]
    history = (await registry.client.get(f"{API}/units/{moved['code']}/history", headers=registry.admin)).json()
    assert [h["change"] for h in history].count("moved") == 1


async def test_a_retired_parent_takes_no_children_and_a_lived_in_household_is_not_retired(registry):
    grid = await registry.fresh_grid()
    assert (await registry.create_unit(grid + "001", "1号楼")).status_code == 201
    assert (await registry.client.post(f"{API}/units/{grid}001/retire", json={}, headers=registry.admin)).status_code == 200
    child = await registry.create_unit(grid + "00101", "1单元")
    assert child.status_code == 422 and child.json()["rule"] == "code.parent_retired"
    household = grid + "002010101"
    for code, name in ((grid + "002", "2号楼"), (grid + "00201", "1单元"), (household, "0101")):
        assert (await registry.create_unit(code, name)).status_code == 201
    person = await registry.client.post(f"{API}/people", json={"name": "住户甲", "id_number": new_id_number(),
                                                                 "household_code": household}, headers=registry.admin)
    assert person.status_code == 201, person.text
    retired = await registry.client.post(f"{API}/units/{household}/retire", json={}, headers=registry.admin)
    assert retired.status_code == 409


async def test_a_change_takes_effect_when_recorded_not_ahead_nor_before_the_unit_began(registry):
    community = await registry.fresh_community()  # in effect from 2026-01-01
    tomorrow = str(local_date(datetime.now(UTC)) + timedelta(days=1))
    ahead = await registry.client.patch(f"{API}/units/{community}", json={"name": "甲", "effective_on": tomorrow},
                                        headers=registry.admin)
    assert ahead.status_code == 422 and ahead.json()["rule"] == "date.in_future" and ahead.json()["field"] == "effective_on"
    before = await registry.client.post(f"{API}/units/{community}/retire", json={"effective_on": "2025-12-31"},
                                        headers=registry.admin)
    assert before.status_code == 422 and before.json()["rule"] == "date.before_record"


async def test_a_change_dated_before_the_units_latest_recorded_change_is_refused(registry):
    grid = await registry.fresh_grid()  # in effect from 2026-01-01
    target = await registry.fresh_community()
    renamed = await registry.client.patch(f"{API}/units/{grid}", json={"name": "三月的名", "effective_on": "2026-03-01"},
                                          headers=registry.admin)
    assert renamed.status_code == 200, renamed.text
    earlier = [
        registry.client.patch(f"{API}/units/{grid}", json={"name": "二月的名", "effective_on": "2026-02-01"},
                              headers=registry.admin),
        registry.client.post(f"{API}/units/{grid}/move", json={"new_parent_code": target, "new_code": target + "005",
                                                               "effective_on": "2026-02-01"}, headers=registry.admin),
        registry.client.post(f"{API}/units/{grid}/retire", json={"effective_on": "2026-02-01"}, headers=registry.admin),
    ]
    for response in [await r for r in earlier]:
        assert response.status_code == 422, response.text
        assert (response.json()["rule"], response.json()["field"]) == ("date.before_record", "effective_on")
    history = (await registry.client.get(f"{API}/units/{grid}/history", headers=registry.admin)).json()
    assert [(h["change"], h["new_name"], h["effective_on"]) for h in history] == [("renamed", "三月的名", "2026-03-01")]
    # A boundary change recorded after the fact keeps its official date: a building registered below meanwhile
    # follows the move; a move or retirement below dated later does not let the move go before it.
    assert (await registry.create_unit(grid + "001", "1号楼", effective_on="2026-05-01")).status_code == 201
    assert (await registry.create_unit(grid + "002", "2号楼", effective_on="2026-05-01")).status_code == 201
    retired = await registry.client.post(f"{API}/units/{grid}002/retire", json={"effective_on": "2026-05-10"},
                                         headers=registry.admin)
    assert retired.status_code == 200, retired.text
    before_retirement = await registry.client.post(f"{API}/units/{grid}/move", headers=registry.admin, json={
        "new_parent_code": target, "new_code": target + "005", "effective_on": "2026-04-01"})
    assert before_retirement.status_code == 422 and before_retirement.json()["rule"] == "date.before_record"
    same_day = await registry.client.patch(f"{API}/units/{grid}", json={"name": "又一个名", "effective_on": "2026-03-01"},
                                           headers=registry.admin)
    assert same_day.status_code == 200, same_day.text
    moved = await registry.client.post(f"{API}/units/{grid}/move", headers=registry.admin, json={
        "new_parent_code": target, "new_code": target + "005", "effective_on": "2026-05-10"})
    assert moved.status_code == 200, moved.text
    assert (await registry.client.get(f"{API}/units/{target}005001", headers=registry.admin)).status_code == 200


async def test_a_boundary_change_recorded_late_keeps_its_official_date(registry):
    grid = await registry.fresh_grid()  # in effect from 2026-01-01
    target = await registry.fresh_community()
    assert (await registry.create_unit(grid + "001", "1号楼", effective_on="2026-06-01")).status_code == 201
    moved = await registry.client.post(f"{API}/units/{grid}/move", headers=registry.admin, json={
        "new_parent_code": target, "new_code": target + "006", "effective_on": "2026-04-01"})
    assert moved.status_code == 200, moved.text


async def test_a_unit_begins_no_earlier_than_the_parent_it_is_created_or_moved_under(registry):
    community = await registry.fresh_community()  # in effect from 2026-01-01
    early = await registry.create_unit(community + "004", "早网格", effective_on="2025-12-31")
    assert early.status_code == 422, early.text
    assert (early.json()["rule"], early.json()["field"]) == ("date.before_record", "effective_on")
    assert (await registry.create_unit(community + "004", "四网格", effective_on="2026-01-01")).status_code == 201
    assert (await registry.create_unit(community + "005", "五网格", effective_on="2026-06-01")).status_code == 201
    building = community + "004001"
    assert (await registry.create_unit(building, "1号楼", effective_on="2026-02-01")).status_code == 201
    move = {"new_parent_code": community + "005", "new_code": community + "005001"}
    before_parent = await registry.client.post(f"{API}/units/{building}/move", headers=registry.admin,
                                               json={**move, "effective_on": "2026-03-01"})
    assert before_parent.status_code == 422, before_parent.text
    assert (before_parent.json()["rule"], before_parent.json()["field"]) == ("date.before_record", "effective_on")
    moved = await registry.client.post(f"{API}/units/{building}/move", json={**move, "effective_on": "2026-06-01"},
                                       headers=registry.admin)
    assert moved.status_code == 200, moved.text
