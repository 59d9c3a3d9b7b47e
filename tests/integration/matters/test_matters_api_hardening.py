"""Defects found by the gateway's authorisation matrix and fuzzing: every route needs a valid token, a community's
template is read within its scope, bad input (NUL characters, cursors past bigint) is a 422 naming the field,
and the collection routes answer with and without a trailing slash."""

from __future__ import annotations

import jwt
import pytest

from youmin.kit.auth import Grant, mint_token

BODY = {"title": "小区东门路灯不亮", "description": "居民反映夜间出行不便", "category": "city_management"}


def _bad_tokens(settings) -> dict[str, dict[str, str]]:
    claims = {"sub": "mallory", "iss": settings.jwt_issuer, "kind": "user", "exp": 4102444800,
              "grants": [{"role": "admin", "scope": "3707"}]}
    forged = jwt.encode(claims, "not-the-signing-key-but-long-enough-for-hs256", algorithm="HS256")
    none_alg = jwt.encode(claims, None, algorithm="none")
    expired = mint_token(settings, "late", [Grant(role="admin", scope="3707")], minutes=-1)
    return {"missing": {}, "forged": {"authorization": f"Bearer {forged}"},
            "expired": {"authorization": f"Bearer {expired}"}, "alg-none": {"authorization": f"Bearer {none_alg}"}}


@pytest.mark.parametrize("label", ["missing", "forged", "expired", "alg-none"])
async def test_listing_templates_without_a_valid_token_is_401(matters, label):
    resp = await matters.client.get("/api/v1/matters/templates", headers=_bad_tokens(matters.settings)[label])
    assert resp.status_code == 401, resp.text


async def test_listing_templates_with_a_valid_token_lists_them(matters):
    resp = await matters.client.get("/api/v1/matters/templates", headers=matters.staff(matters.new_community()))
    assert resp.status_code == 200 and resp.json()


async def test_every_api_route_refuses_a_request_without_a_token(matters):
    doc = (await matters.client.get("/openapi.json")).json()
    answered = []
    for path, item in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        url = path
        for name in ("matter_id", "vote_id", "task_id", "work_order_id"):
            url = url.replace("{" + name + "}", "00000000-0000-0000-0000-000000000000")
        url = url.replace("{community_code}", "370705001101").replace("{receipt}", "r" * 8).replace("{token}", "t")
        for method in item:
            resp = await matters.client.request(method.upper(), url, json={})
            if resp.status_code != 401:
                answered.append(f"{method.upper()} {path} -> {resp.status_code}")
    assert answered == []


@pytest.mark.parametrize("where", ["outside", "lower"])
async def test_reading_a_communitys_template_needs_a_grant_covering_it(matters, where):
    community = matters.new_community()
    scope = {"outside": matters.new_community(), "lower": community + "001"}[where]
    resp = await matters.client.get(f"/api/v1/matters/templates/communities/{community}", headers=matters.staff(scope))
    assert resp.status_code == 403, resp.text
    assert community not in resp.json().get("template", {}).get("code", "")


async def test_a_communitys_template_is_read_by_its_street_and_by_services(matters):
    community = matters.new_community()
    street = matters.headers("street-1", [("street_staff", community[:9])])
    service = matters.headers("svc:disclosure", [], kind="service")
    for headers in (street, matters.staff(community), service):
        resp = await matters.client.get(f"/api/v1/matters/templates/communities/{community}", headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["community_code"] == community


@pytest.mark.parametrize("field", ["title", "description", "address_string", "external_token"])
async def test_a_nul_character_in_a_matter_text_field_is_a_422_naming_it(matters, field):
    community = matters.new_community()
    resp = await matters.client.post("/api/v1/matters/", json={**BODY, "unit_code": community, field: "路灯\u0000不亮"},
                                     headers=matters.staff(community))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == [field]


async def test_a_nul_character_in_a_transition_reason_is_a_422_naming_it(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/transitions",
                                     json={"action": "reject", "reason": "重复\u0000"}, headers=matters.staff(community))
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["reason"]


@pytest.mark.parametrize("field", ["title", "description"])
async def test_a_title_or_description_of_spaces_alone_is_a_422_naming_it(matters, field):
    community = matters.new_community()
    resp = await matters.client.post("/api/v1/matters/", json={**BODY, "unit_code": community, field: " \u3000 "},
                                     headers=matters.staff(community))
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == [field]


async def test_a_reason_code_is_a_code_not_words_that_would_go_on_the_bus(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    url, staff = f"/api/v1/matters/{matter['matter_id']}/transitions", matters.staff(community)
    for words in ("张三不同意", "tel.13812345678", "zhangsan.home"):  # a phone number or a name in pinyin is words too
        resp = await matters.client.post(url, json={"action": "reject", "reason": "重复", "reason_code": words},
                                         headers=staff)
        assert resp.status_code == 422, resp.text
        assert [e["field"] for e in resp.json()["errors"]] == ["reason_code"]
    ok = await matters.client.post(url, json={"action": "reject", "reason": "重复", "reason_code": "duplicate"},
                                   headers=staff)
    assert ok.status_code == 200, ok.text


async def test_a_nul_character_in_a_search_query_is_a_422_naming_it(matters):
    community = matters.new_community()
    resp = await matters.client.get("/api/v1/matters/", params={"q": "路灯\u0000"}, headers=matters.staff(community))
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["q"]


@pytest.mark.parametrize("after", [2**63, 10**30])
async def test_a_feed_cursor_beyond_bigint_is_a_422_naming_it(matters, after):
    resp = await matters.client.get("/api/v1/matters/workorders/feed", params={"after": after},
                                    headers=matters.department("DPT-HARDEN"))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == ["after"]


async def test_the_largest_feed_cursor_is_accepted(matters):
    resp = await matters.client.get("/api/v1/matters/workorders/feed", params={"after": 2**63 - 1},
                                    headers=matters.department("DPT-HARDEN"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["items"] == []


@pytest.mark.parametrize("path", ["/api/v1/matters", "/api/v1/matters/"])
async def test_matters_are_raised_and_listed_with_or_without_a_trailing_slash(matters, path):
    community = matters.new_community()
    created = await matters.client.post(path, json={**BODY, "unit_code": community}, headers=matters.staff(community),
                                        follow_redirects=False)
    assert created.status_code == 201, created.text
    listed = await matters.client.get(path, params={"community_code": community}, headers=matters.staff(community),
                                      follow_redirects=False)
    assert listed.status_code == 200, listed.text
    assert [m["matter_id"] for m in listed.json()["items"]] == [created.json()["matter_id"]]


async def test_concurrent_creations_with_one_external_token_give_one_matter_and_409s(matters):
    # The token is looked up, then inserted: requests racing past the look-up meet the unique index instead.
    import asyncio
    import uuid

    from datetime import date

    from services.registry import events as reg

    community = matters.new_community()
    await matters.seed(reg.UnitCreated(unit_id=uuid.uuid4(), unit_code=community, parent_code=None, level="community",
                                       effective_on=date(2026, 1, 1)))  # an integration raises at a registry unit
    service = matters.headers("gateway-open311", [], kind="service")
    token = f"tok-{uuid.uuid4().hex[:8]}"
    body = {**BODY, "unit_code": community, "external_token": token}
    answers = await asyncio.gather(*[matters.client.post("/api/v1/matters/", headers=service, json=body) for _ in range(8)])
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7, [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == "external_token"
    found = await matters.sql("SELECT count(*) FROM matter WHERE external_token = :t", t=token)
    assert found[0][0] == 1


async def test_a_matter_is_not_raised_at_a_household_code(matters):
    # Matters, their events and the disclosure board carry the unit code: a household's would locate a home.
    community = matters.new_community()
    home = matters.household(community, 1)
    resp = await matters.client.post("/api/v1/matters/", json={**BODY, "unit_code": home},
                                     headers=matters.resident("p-1", home))
    assert resp.status_code == 422 and resp.json()["rule"] == "matter.place_too_fine", resp.text
    assert resp.json()["field"] == "unit_code"
    at_unit = await matters.client.post("/api/v1/matters/", json={**BODY, "unit_code": home[:20]},
                                        headers=matters.resident("p-1", home))
    assert at_unit.status_code == 201, at_unit.text


@pytest.mark.parametrize("field, value", [
    ("unit_code", "٣٧٠٧٠٥٠٠١٠٠١"),  # Arabic-Indic digits
    ("unit_code", "３７０７０５００１００１"),  # full-width digits
])
async def test_org_codes_take_ascii_digits_only(matters, field, value):
    community = matters.new_community()
    resp = await matters.client.post("/api/v1/matters/", json={**BODY, field: value}, headers=matters.staff(community))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("param", ["start", "end"])
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
@pytest.mark.parametrize("path", ["/api/v1/matters/", "/api/v1/matters/department-tasks/burden"])
async def test_an_instant_outside_the_storable_years_is_a_422_naming_it(matters, path, param, value):
    community = matters.new_community()
    resp = await matters.client.get(path, params={param: value}, headers=matters.staff(community))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == param


async def test_a_vote_closing_past_the_storable_years_is_a_422(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    await matters.move(matter["matter_id"], community, "accept", "route")
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/votes",
                                     json={"closes_at": "9999-12-31T23:59:59-14:00"}, headers=matters.staff(community))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "closes_at"


async def test_roles_that_are_not_staff_read_a_matter_masked_within_their_scope(matters):
    community = matters.new_community()
    raised = await matters.client.post("/api/v1/matters/", json={
        "title": "楼道灯坏了", "category": "city_management", "unit_code": community + "001",
        "description": "我是王秀英，联系电话13912345678，楼道灯一直不亮"},
        headers=matters.resident("resident-a-" + community, matters.household(community, 1)))
    assert raised.status_code == 201, raised.text
    matter_id = raised.json()["matter_id"]
    for role, scope in (("party_member", community + "001"), ("mediator", community[:9]),
                        ("part_time_member", community[:9]), ("department_liaison", community),
                        ("legal_adviser", community)):
        read = await matters.client.get(f"/api/v1/matters/{matter_id}",
                                        headers=matters.headers(f"{role}-{community}", [(role, scope)]))
        assert read.status_code == 200, (role, read.text)
        assert "13912345678" not in read.json()["description"], role
        # Nor do they find it by the words hidden from them (a number, digit by digit).
        page = await matters.client.get("/api/v1/matters/", params={"q": "1391234"},
                                        headers=matters.headers(f"{role}-{community}", [(role, scope)]))
        assert matter_id not in [m["matter_id"] for m in page.json()["items"]], role
    # The grid's staff and the community's read it as written.
    for role, scope in (("grid_manager", community + "001"), ("community_staff", community)):
        read = await matters.client.get(f"/api/v1/matters/{matter_id}",
                                        headers=matters.headers(f"{role}-{community}", [(role, scope)]))
        assert "13912345678" in read.json()["description"], role


async def test_a_neighbour_reads_a_matter_with_the_proposers_personal_data_masked(matters):
    community = matters.new_community()
    mine, theirs = matters.household(community, 1), matters.household(community, 2)
    proposer, neighbour = "resident-a-" + community, "resident-b-" + community
    raised = await matters.client.post("/api/v1/matters/", json={
        "title": "王秀英家楼道灯坏了", "category": "city_management",
        "description": "我是王秀英，联系电话13912345678，住3号楼2单元501室，楼道灯一直不亮"},
        headers=matters.resident(proposer, mine))
    assert raised.status_code == 201, raised.text
    matter_id = raised.json()["matter_id"]
    own = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.resident(proposer, mine))).json()
    staff = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.staff(community))).json()
    assert "13912345678" in own["description"] and "13912345678" in staff["description"]
    assert staff["title"] == own["title"] == "王秀英家楼道灯坏了"

    read = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.resident(neighbour, theirs))).json()
    listed = (await matters.client.get("/api/v1/matters/", headers=matters.resident(neighbour, theirs))).json()["items"]
    [item] = [m for m in listed if m["matter_id"] == matter_id]
    for seen in (read, item):
        assert "13912345678" not in seen["description"] and "王秀英" not in seen["description"]
        assert "王秀英" not in seen["title"] and "楼道灯" in seen["title"]
        assert "楼道灯一直不亮" in seen["description"]
    # Nor can the neighbour search the text as written (a number found digit by digit), only as they read it.
    async def found(q: str, headers: dict[str, str]) -> list[str]:
        page = (await matters.client.get("/api/v1/matters/", params={"q": q}, headers=headers)).json()
        return [m["matter_id"] for m in page["items"] if m["matter_id"] == matter_id]

    assert await found("1391234", matters.resident(neighbour, theirs)) == []
    assert await found("王秀英", matters.resident(neighbour, theirs)) == []
    assert await found("楼道灯", matters.resident(neighbour, theirs)) == [matter_id]
    assert await found("1391234", matters.staff(community)) == [matter_id]
    # Nor do duplicate suggestions show a neighbour the other matter's title, nor tell by being made (or by their
    # score) a right guess of the hidden name from a wrong one: a title with words hidden from them is not suggested.
    suggested = {}
    for guess in ("王秀英家楼道灯坏了", "王秀兰家楼道灯坏了", "王秀英家楼道"):
        again = await matters.client.post("/api/v1/matters/", json={
            "title": guess, "description": "楼道灯不亮", "category": "city_management"},
            headers=matters.resident(neighbour, theirs))
        assert again.status_code == 201, again.text
        suggested[guess] = again.json()
        assert matter_id not in [d["matter_id"] for d in again.json()["duplicates"]], guess
    # A matter whose title hides nothing is suggested to them as to anyone; and asked for the duplicates of their
    # guess, the neighbour is not shown the proposer's matter either.
    plain = await matters.client.post("/api/v1/matters/", json={"title": "楼道灯坏了好几天", "description": "x",
                                                                   "category": "city_management"},
                                      headers=matters.resident(proposer, mine))
    again = await matters.client.post("/api/v1/matters/", json={"title": "楼道灯坏了", "description": "x",
                                                                   "category": "city_management"},
                                      headers=matters.resident(neighbour, theirs))
    assert plain.json()["matter_id"] in [d["matter_id"] for d in again.json()["duplicates"]]
    guess_id = suggested["王秀英家楼道灯坏了"]["matter_id"]
    duplicates = await matters.client.get(f"/api/v1/matters/{guess_id}/duplicates",
                                          headers=matters.resident(neighbour, theirs))
    assert matter_id not in [d["matter_id"] for d in duplicates.json()]
    # Asked by the neighbour for the duplicates of the proposer's matter (its title read with the name hidden), nothing
    # is scored against the hidden title.
    anchored = await matters.client.get(f"/api/v1/matters/{matter_id}/duplicates",
                                        headers=matters.resident(neighbour, theirs))
    assert anchored.status_code == 200 and anchored.json() == []
    # Nor does the hidden one, left out, make room for another: ten of the neighbour's own alike matters show, whether
    # the guess is right or wrong.
    for _ in range(10):
        await matters.client.post("/api/v1/matters/", json={"title": "家楼道灯坏了", "description": "x",
                                                             "category": "city_management"},
                                  headers=matters.resident(neighbour, theirs))
    shown = {}
    for guess in ("王秀英家楼道灯坏了", "王秀兰家楼道灯坏了"):
        again = await matters.client.post("/api/v1/matters/", json={
            "title": guess, "description": "x", "category": "city_management"}, headers=matters.resident(neighbour, theirs))
        shown[guess] = len(again.json()["duplicates"])
    assert shown["王秀英家楼道灯坏了"] == shown["王秀兰家楼道灯坏了"] == 10
    # A reason given on the timeline is masked for the neighbour too.
    rejected = await matters.client.post(f"/api/v1/matters/{matter_id}/transitions", headers=matters.staff(community),
                                         json={"action": "reject", "reason": "已电话联系王秀英（13912345678）说明"})
    assert rejected.status_code == 200, rejected.text
    steps = (await matters.client.get(f"/api/v1/matters/{matter_id}",
                                      headers=matters.resident(neighbour, theirs))).json()["timeline"]
    assert "13912345678" not in steps[-1]["reason"] and "说明" in steps[-1]["reason"]


async def test_a_residents_search_says_when_it_looked_through_only_the_newest_matches(matters, monkeypatch):
    from services.matters import service
    from services.matters.repository import MattersRepository

    community = matters.new_community()
    neighbour = matters.resident("resident-c-" + community, matters.household(community, 3))
    for n in range(3):
        await matters.raise_matter(community, title=f"路灯不亮{n}")
    page = (await matters.client.get("/api/v1/matters/", params={"q": "路灯"}, headers=neighbour)).json()
    assert (page["total"], page["search_limited"]) == (3, False)
    monkeypatch.setattr(service, "MASKED_SEARCH_SCAN", 2)  # as if 2,000 newer matters matched
    page = (await matters.client.get("/api/v1/matters/", params={"q": "路灯", "limit": 1, "offset": 1},
                                     headers=neighbour)).json()
    assert (page["total"], len(page["items"]), page["search_limited"]) == (2, 1, True)
    # A page of matters looks their open votes up at once, not one query per matter.
    calls = []
    plain = MattersRepository.open_vote_of

    async def counted(self, matter_id):
        calls.append(matter_id)
        return await plain(self, matter_id)

    monkeypatch.setattr(MattersRepository, "open_vote_of", counted)
    for n in range(3):
        await matters.move((await matters.raise_matter(community, title=f"议事{n}"))["matter_id"], community,
                           "accept", "route", "start_decision")
    calls.clear()  # each move's own answer looked its matter's vote up
    listed = await matters.client.get("/api/v1/matters/", params={"state": "deciding"}, headers=matters.staff(community))
    assert listed.status_code == 200 and len(listed.json()["items"]) >= 3 and calls == []


async def test_a_unit_code_of_no_levels_length_is_refused_naming_it_and_the_grid_width_is_configuration(matters):
    community = matters.new_community()
    body = {"title": "井盖破损", "description": "x", "category": "city_management"}
    for code in (community + "0", community + "0010"):  # 13 and 16 digits: no level's length with 3-digit grids
        resp = await matters.client.post("/api/v1/matters/", json={**body, "unit_code": code},
                                         headers=matters.staff(community))
        assert resp.status_code == 422 and resp.json()["field"] == "unit_code", resp.text
    width = matters.settings.grid_serial_width
    matters.settings.grid_serial_width = 4  # a district whose grids have 4-digit serials (MATTERS_GRID_SERIAL_WIDTH)
    try:
        grid = community + "0010"
        raised = await matters.client.post("/api/v1/matters/", json={**body, "unit_code": grid},
                                           headers=matters.staff(community))
        assert raised.status_code == 201, raised.text
        assert (raised.json()["unit_code"], raised.json()["scope_level"]) == (grid, "grid")
        old = await matters.client.post("/api/v1/matters/", json={**body, "unit_code": community + "001"},
                                        headers=matters.staff(community))
        assert old.status_code == 422 and old.json()["rule"] == "matter.unit_code_malformed", old.text
    finally:
        matters.settings.grid_serial_width = width
