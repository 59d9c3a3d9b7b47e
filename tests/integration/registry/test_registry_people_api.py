"""People, roles and households through the API: validation, masking by role, scope checks, log-in."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import text as sa_text
from conftest import new_household, new_id_number, new_phone

from youmin.kit.calendar import local_date
from youmin.kit.pii import id_check_char

API = "/api/v1/registry"
INTERNAL = "/internal/v1/registry"


async def new_resident(registry, household: str, name: str = "张三丰", adult: bool = True, phone: str | None = None) -> dict:
    response = await registry.client.post(
        f"{API}/people",
        json={"name": name, "id_number": new_id_number(adult), "phone": phone or new_phone(), "address": "奎文区东关街道幸福路1号",
              "household_code": household},
        headers=registry.admin,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def grant(registry, person_id: str, role: str, scope: str, **kw) -> dict:
    response = await registry.client.post(f"{API}/grants", json={"person_id": person_id, "role": role, "scope_code": scope, **kw},
                                          headers=registry.admin)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [("id_number", "370705198001011230"), ("id_number", "37070519800101"), ("phone", "12345678901"), ("phone", "1381234567"),
     ("household_code", ""), ("household_code", "abc")],
)
async def test_invalid_personal_data_is_refused_naming_the_field(registry, field, value):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    body = {"name": "李四", "id_number": new_id_number(), "phone": new_phone(), "household_code": household, field: value}
    response = await registry.client.post(f"{API}/people", json=body, headers=registry.admin)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_grid_manager_sees_personal_data_of_own_grid_but_not_of_another(registry):
    grid, other_grid = await registry.fresh_grid(), await registry.fresh_grid()
    household = await new_household(registry, grid)
    resident = await new_resident(registry, household, name="王小明")
    own = await registry.client.get(f"{API}/units/{grid}/households", headers=registry.auth("grid_manager", grid))
    assert own.status_code == 200
    member = own.json()["households"][0]["members"][0]
    assert member["personal"]["name"] == "王小明" and member["personal"]["masked"] is False
    other = await registry.client.get(f"{API}/units/{grid}/households", headers=registry.auth("grid_manager", other_grid))
    assert other.status_code == 403
    person = await registry.client.get(f"{API}/people/{resident['person_id']}", headers=registry.auth("grid_manager", other_grid))
    assert person.status_code == 403


async def test_street_official_reads_the_households_of_its_communities(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    await new_resident(registry, household)
    response = await registry.client.get(f"{API}/units/{grid[:12]}/households", headers=registry.auth("street_staff", grid[:9]))
    assert response.status_code == 200
    assert [h["household_code"] for h in response.json()["households"]] == [household]
    assert response.json()["total"] == 1


async def test_role_holders_are_masked_for_a_resident_and_clear_for_community_staff(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    manager = await new_resident(registry, household, name="欧阳明月")
    await grant(registry, manager["person_id"], "grid_manager", grid)
    as_resident = await registry.client.get(f"{API}/roles/grid_manager/holders", params={"scope": grid},
                                            headers=registry.auth("resident", household))
    assert as_resident.status_code == 200
    personal = as_resident.json()[0]["personal"]
    assert personal["name"] == "欧阳某" and personal["masked"] is True
    assert "*" in personal["phone"] and personal["id_number"].count("*") == 8 and personal["birth_date"] is None
    as_staff = await registry.client.get(f"{API}/roles/grid_manager/holders", params={"scope": grid[:12]},
                                         headers=registry.auth("community_staff", grid[:12]))
    assert as_staff.json()[0]["personal"]["name"] == "欧阳明月"
    # Residents hold their role through their household: asked for as role holders, the answer says where they are.
    residents = await registry.client.get(f"{API}/roles/resident/holders", params={"scope": grid[:12]},
                                          headers=registry.auth("community_staff", grid[:12]))
    assert residents.status_code == 422 and residents.json()["rule"] == "role.implicit", residents.text
    assert residents.json()["field"] == "role"


async def test_a_resident_asking_a_wide_scope_sees_only_the_holders_who_serve_them(registry):
    grid = await registry.fresh_grid()
    mine, next_door = await new_household(registry, grid, "0101"), await new_household(registry, grid, "0102")
    other_grid = await registry.fresh_grid()
    elsewhere = await new_household(registry, other_grid)
    me = await new_resident(registry, mine)
    neighbour_member = await new_resident(registry, next_door)
    far_member = await new_resident(registry, elsewhere)
    my_manager, far_manager = await new_resident(registry, mine), await new_resident(registry, elsewhere)
    await grant(registry, me["person_id"], "party_member", mine)
    await grant(registry, neighbour_member["person_id"], "party_member", next_door)
    await grant(registry, far_member["person_id"], "party_member", elsewhere)
    await grant(registry, my_manager["person_id"], "grid_manager", grid)
    await grant(registry, far_manager["person_id"], "grid_manager", other_grid)
    as_resident = registry.auth("resident", mine)
    members = await registry.client.get(f"{API}/roles/party_member/holders", params={"scope": "370705", "limit": 500},
                                        headers=as_resident)
    assert members.status_code == 200, members.text
    # Party members at other homes are not theirs to list (each one's scope is the code of a home).
    assert [h["person_id"] for h in members.json()] == [me["person_id"]]
    managers = await registry.client.get(f"{API}/roles/grid_manager/holders", params={"scope": grid[:12]},
                                         headers=as_resident)
    assert [h["person_id"] for h in managers.json()] == [my_manager["person_id"]]
    # Staff covering the scope still see every holder in it.
    as_staff = await registry.client.get(f"{API}/roles/party_member/holders", params={"scope": grid},
                                         headers=registry.auth("community_staff", grid[:12]))
    assert {h["person_id"] for h in as_staff.json()} == {me["person_id"], neighbour_member["person_id"]}
    # A grid manager asking their street sees the party members their grid covers, not another grid's.
    from_grid = await registry.client.get(f"{API}/roles/party_member/holders", params={"scope": grid[:9]},
                                          headers=registry.auth("grid_manager", grid))
    assert {h["person_id"] for h in from_grid.json()} == {me["person_id"], neighbour_member["person_id"]}


async def test_mediator_sees_masked_personal_data_even_within_scope(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    await new_resident(registry, household, name="赵六")
    response = await registry.client.get(f"{API}/roles/grid_manager/holders", params={"scope": grid},
                                         headers=registry.auth("mediator", grid[:12]))
    assert response.status_code == 200  # nobody holds the role yet: an empty, allowed answer
    person_list = await registry.client.get(f"{API}/units/{grid}/households", headers=registry.auth("mediator", grid[:12]))
    assert person_list.status_code == 403


async def test_role_at_a_scope_of_the_wrong_level_is_refused_naming_the_rule(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    person = await new_resident(registry, household)
    response = await registry.client.post(f"{API}/grants", json={"person_id": person["person_id"], "role": "grid_manager",
                                                                 "scope_code": grid[:12]}, headers=registry.admin)
    assert response.status_code == 422 and response.json()["rule"] == "role.scope_level"


async def test_a_community_has_one_legal_adviser(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    first, second = await new_resident(registry, household), await new_resident(registry, household)
    await grant(registry, first["person_id"], "legal_adviser", grid[:12])
    response = await registry.client.post(f"{API}/grants", json={"person_id": second["person_id"], "role": "legal_adviser",
                                                                 "scope_code": grid[:12]}, headers=registry.admin)
    assert response.status_code == 422 and response.json()["rule"] == "legal_adviser.one_per_community"


async def test_two_legal_advisers_granted_at_once_are_one(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    first, second = await new_resident(registry, household), await new_resident(registry, household)
    results = await asyncio.gather(*[registry.client.post(
        f"{API}/grants", json={"person_id": p["person_id"], "role": "legal_adviser", "scope_code": grid[:12]},
        headers=registry.admin) for p in (first, second)])
    assert sorted(r.status_code for r in results) in ([201, 409], [201, 422]), [r.text for r in results]
    holders = await registry.client.get(f"{API}/roles/legal_adviser/holders", params={"scope": grid[:12]},
                                        headers=registry.admin)
    assert len(holders.json()) == 1


async def test_a_grid_manager_grants_roles_only_to_people_of_their_grid(registry):
    grid, other_grid = await registry.fresh_grid(), await registry.fresh_grid()
    neighbour = await new_resident(registry, await new_household(registry, grid))
    stranger = await new_resident(registry, await new_household(registry, other_grid))
    manager = registry.auth("grid_manager", grid)
    refused = await registry.client.post(f"{API}/grants", json={"person_id": stranger["person_id"], "role": "party_member",
                                                                "scope_code": grid}, headers=manager)
    assert refused.status_code == 403 and refused.json()["field"] == "person_id"
    # So the stranger's personal data stays masked to this grid manager.
    assert (await registry.client.get(f"{API}/people/{stranger['person_id']}", headers=manager)).status_code == 403
    granted = await registry.client.post(f"{API}/grants", json={"person_id": neighbour["person_id"], "role": "party_member",
                                                                "scope_code": grid}, headers=manager)
    assert granted.status_code == 201, granted.text


async def test_roles_are_granted_and_revoked_only_from_above_and_never_to_oneself(registry):
    grid = await registry.fresh_grid()
    community = grid[:12]
    household = await new_household(registry, grid)
    worker, neighbour = await new_resident(registry, household), await new_resident(registry, household)
    await grant(registry, worker["person_id"], "community_worker", community)
    as_worker = registry.auth("community_worker", community, sub=worker["person_id"])

    async def ask(headers: dict[str, str], person_id: str, role: str, scope: str) -> httpx.Response:
        return await registry.client.post(f"{API}/grants", json={"person_id": person_id, "role": role,
                                                                 "scope_code": scope}, headers=headers)

    # A community worker neither makes themselves nor anyone else a community cadre, nor a grid manager.
    for person, role, scope in ((worker, "community_staff", community), (neighbour, "community_staff", community),
                                (neighbour, "grid_manager", grid)):
        refused = await ask(as_worker, person["person_id"], role, scope)
        assert refused.status_code == 403 and refused.json()["field"] == "role", refused.text
    # They still name a building head or a party member of their community ...
    assert (await ask(as_worker, neighbour["person_id"], "party_member", grid)).status_code == 201
    # ... but not themselves, whatever the role.
    own = await ask(as_worker, worker["person_id"], "party_member", grid)
    assert own.status_code == 403 and own.json()["field"] == "person_id"
    # A grid manager does not make another grid manager; the community's cadres do.
    refused = await ask(registry.auth("grid_manager", grid), neighbour["person_id"], "grid_manager", grid)
    assert refused.status_code == 403
    made = await ask(registry.auth("community_staff", community), neighbour["person_id"], "grid_manager", grid)
    assert made.status_code == 201, made.text
    # Revoking takes the same standing: the district's staff do not revoke an administrator.
    admin = await grant(registry, neighbour["person_id"], "admin", "370705")
    revoke = await registry.client.post(f"{API}/grants/{admin['grant_id']}/revoke",
                                        headers=registry.auth("district_staff", "370705"))
    assert revoke.status_code == 403
    assert (await registry.client.post(f"{API}/grants/{admin['grant_id']}/revoke",
                                       headers=registry.admin)).status_code == 200


async def test_person_roles_lists_active_grants_and_drops_revoked_ones(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    person = await new_resident(registry, household)
    worker = await grant(registry, person["person_id"], "community_worker", grid[:12], certified_social_worker=True)
    await grant(registry, person["person_id"], "party_member", grid)
    revoked = await registry.client.post(f"{API}/grants/{worker['grant_id']}/revoke", headers=registry.admin)
    assert revoked.status_code == 200
    roles = await registry.client.get(f"{API}/people/{person['person_id']}/roles", headers=registry.auth("grid_manager", grid))
    assert [(g["role"], g["scope_code"]) for g in roles.json()] == [("party_member", grid)]


async def test_household_representative_must_live_in_the_household(registry):
    grid = await registry.fresh_grid()
    household, other = await new_household(registry, grid, "0101"), await new_household(registry, grid, "0102")
    member, outsider = await new_resident(registry, household), await new_resident(registry, other)
    refused = await registry.client.put(f"{API}/households/{household}/representative",
                                        json={"representative_person_id": outsider["person_id"]}, headers=registry.admin)
    assert refused.status_code == 422 and refused.json()["rule"] == "household.representative_not_member"
    ok = await registry.client.put(f"{API}/households/{household}/representative",
                                   json={"representative_person_id": member["person_id"],
                                         "proxy_person_ids": [outsider["person_id"]]}, headers=registry.admin)
    assert ok.status_code == 200 and ok.json()["proxy_person_ids"] == [outsider["person_id"]]


async def test_a_household_votes_through_adults_only(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    adult, child = await new_resident(registry, household), await new_resident(registry, household, adult=False)
    url = f"{API}/households/{household}/representative"
    minor_rep = await registry.client.put(url, json={"representative_person_id": child["person_id"]}, headers=registry.admin)
    assert minor_rep.status_code == 422 and minor_rep.json()["field"] == "representative_person_id"
    minor_proxy = await registry.client.put(url, json={"representative_person_id": adult["person_id"],
                                                       "proxy_person_ids": [child["person_id"]]}, headers=registry.admin)
    assert minor_proxy.status_code == 422 and minor_proxy.json()["rule"] == "household.proxy_minor"


async def test_a_resident_is_an_adult_from_their_18th_birthday_in_china_whatever_the_servers_clock(registry,
                                                                                                   monkeypatch):
    # At 17:00 UTC on 15 June 2030 it is already 16 June in China: born on 16 June 2012, a resident is 18 today,
    # registered so, published so, and may stand for the household's vote (户决制) at once.
    class At(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2030, 6, 15, 17, 0, tzinfo=UTC).astimezone(tz) if tz else datetime(2030, 6, 15, 17, 0)

    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    monkeypatch.setattr("services.registry.service.datetime", At)
    assert local_date(At.now(UTC)) == date(2030, 6, 16)
    body = f"370705{date(2012, 6, 16):%Y%m%d}{random.randint(0, 999):03d}"
    response = await registry.client.post(f"{API}/people", headers=registry.admin, json={
        "name": "刘成年", "id_number": body + id_check_char(body), "household_code": household})
    assert response.status_code == 201 and response.json()["adult"] is True, response.text
    read = await registry.client.get(f"{API}/people/{response.json()['person_id']}", headers=registry.admin)
    assert read.json()["adult"] is True
    named = await registry.client.put(f"{API}/households/{household}/representative", headers=registry.admin,
                                      json={"representative_person_id": response.json()["person_id"]})
    assert named.status_code == 200, named.text


async def test_children_are_not_adults(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    child = await new_resident(registry, household, adult=False, phone=None)
    assert child["adult"] is False


async def test_gateway_verifies_a_password_and_gets_the_grants_with_the_resident_role(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    phone = new_phone()
    person = await new_resident(registry, household, phone=phone)
    await grant(registry, person["person_id"], "grid_manager", grid)
    service = registry.auth("gateway", "370705", kind="service")
    put = await registry.client.put(f"{INTERNAL}/credentials", json={"person_id": person["person_id"], "password": "s3cret-pass"},
                                    headers=service)
    assert put.status_code == 204
    ok = await registry.client.post(f"{INTERNAL}/credentials/verify", json={"phone": phone, "password": "s3cret-pass"},
                                    headers=service)
    assert ok.status_code == 200
    assert ok.json()["person_id"] == person["person_id"]
    assert sorted((g["role"], g["scope"]) for g in ok.json()["grants"]) == [("grid_manager", grid), ("resident", household)]
    bad = await registry.client.post(f"{INTERNAL}/credentials/verify", json={"phone": phone, "password": "wrong-pass"},
                                     headers=service)
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
    hashed = await (conn := await registry.db()).fetchval(
        "SELECT password_hash FROM credential WHERE person_id = $1", uuid.UUID(person["person_id"]))
    await conn.close()
    assert hashed.startswith("$argon2")


async def test_phone_lookup_answers_404_for_an_unknown_number(registry):
    response = await registry.client.post(f"{INTERNAL}/credentials/lookup", json={"phone": "19900000000"},
                                          headers=registry.auth("gateway", "370705", kind="service"))
    assert response.status_code == 404


async def test_internal_endpoints_refuse_user_tokens(registry):
    response = await registry.client.post(f"{INTERNAL}/credentials/lookup", json={"phone": "13800000000"},
                                          headers=registry.admin)
    assert response.status_code == 403


async def test_events_of_a_registered_resident_carry_ids_and_codes_only(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    phone, id_number = new_phone(), new_id_number()
    response = await registry.client.post(f"{API}/people", json={
        "name": "褚隐私", "id_number": id_number, "phone": phone, "address": "奎文区某街某号", "household_code": household},
        headers=registry.admin)
    person_id = response.json()["person_id"]
    conn = await registry.db()
    try:
        rows = await conn.fetch("SELECT type, data::text AS data FROM outbox_event WHERE key = $1", person_id)
    finally:
        await conn.close()
    assert [r["type"] for r in rows] == ["gov.youmin.registry.residency.changed.v1"]
    assert not any(secret in rows[0]["data"] for secret in ("褚隐私", phone, id_number, "某街", id_number[6:14]))
    assert household in rows[0]["data"]


async def test_a_blank_name_is_refused_naming_the_field(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    body = {"name": "   ", "id_number": new_id_number(), "household_code": household}
    response = await registry.client.post(f"{API}/people", json=body, headers=registry.admin)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["name"]


async def test_a_buildings_party_group_is_shown_to_whom_the_building_is(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    building = household[:18]
    bound = await registry.client.put(f"{API}/units/{building}/party-org", headers=registry.admin,
                                      json={"name": "1号楼党小组"})
    assert bound.status_code in (200, 201), bound.text
    other = await registry.fresh_grid()
    elsewhere = registry.auth("resident", await new_household(registry, other))
    for path in (f"{API}/units/{building}", f"{API}/units/{building}/party-org"):
        assert (await registry.client.get(path, headers=elsewhere)).status_code == 403, path
    inside = registry.auth("grid_manager", grid)
    assert (await registry.client.get(f"{API}/units/{building}/party-org", headers=inside)).status_code == 200


async def test_a_resident_who_comes_of_age_is_published_as_an_adult_on_the_day_once(registry):
    from datetime import date

    from services.registry.scheduler import publish_coming_of_age
    from youmin.kit.pii import id_check_char

    household = await new_household(registry, await registry.fresh_grid())
    body = f"370705{2009}0315{random.randint(0, 999):03d}"  # 18 on 2027-03-15
    id_number = body + id_check_char(body)
    person = (await registry.client.post(f"{API}/people", json={"name": "少年甲", "id_number": id_number,
                                                                 "household_code": household},
                                         headers=registry.admin)).json()
    sessions = registry.app.state.sessions

    async def adult_events() -> list[dict]:
        async with sessions() as session:
            rows = await session.execute(sa_text(
                "SELECT data FROM outbox_event WHERE key = :k AND type LIKE '%residency.changed%' ORDER BY id"),
                {"k": person["person_id"]})
            return [r.data if isinstance(r.data, dict) else json.loads(r.data) for r in rows]

    assert [e["adult"] for e in await adult_events()] == [False]
    await publish_coming_of_age(sessions, date(2027, 3, 14))
    assert [e["adult"] for e in await adult_events()] == [False]
    await publish_coming_of_age(sessions, date(2027, 3, 15))
    events = await adult_events()
    assert [(e["adult"], e["household_code"], e["effective_on"]) for e in events[1:]] == [(True, household, "2027-03-15")]
    await publish_coming_of_age(sessions, date(2027, 3, 16))
    assert len(await adult_events()) == 2


async def test_someone_registered_from_outside_is_the_districts_to_see_and_not_anyones_to_claim(registry):
    # An adviser from outside: no household in the district, serving nowhere yet. The district's staff who registered
    # them read their record; once they have served and the role ended, staff elsewhere cannot claim them (and their
    # record) by granting a role of their own.
    community = await registry.fresh_community()
    registered = await registry.client.post(f"{API}/people", headers=registry.admin, json={
        "name": "孙律师", "id_number": new_id_number(), "phone": new_phone()})
    assert registered.status_code == 201 and registered.json()["personal"]["masked"] is False, registered.text
    person = registered.json()["person_id"]
    read = await registry.client.get(f"{API}/people/{person}", headers=registry.auth("district_staff", "370705"))
    assert read.status_code == 200 and read.json()["personal"]["masked"] is False
    adviser = await grant(registry, person, "legal_adviser", community)
    revoked = await registry.client.post(f"{API}/grants/{adviser['grant_id']}/revoke", headers=registry.admin)
    assert revoked.status_code == 200, revoked.text
    elsewhere = (await registry.fresh_grid())
    stranger = registry.auth("grid_manager", elsewhere)
    claim = await registry.client.post(f"{API}/grants", headers=stranger,
                                       json={"person_id": person, "role": "party_member", "scope_code": elsewhere})
    assert claim.status_code == 403 and claim.json()["field"] == "person_id", claim.text
    assert (await registry.client.get(f"{API}/people/{person}", headers=stranger)).status_code == 403
