"""The matter lifecycle through the API: raising, triage, routing, withdrawal, the timeline and its events."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import event, text

from services.matters.repository import MattersRepository
from services.matters.rules.lifecycle import TRANSITIONS, Action, State
from services.matters.rules.routing import bigram_codes, suggest_duplicates
from services.matters.schemas import MatterCreate
from services.matters.service import Context, MattersService
from services.registry import events as reg
from youmin.kit.auth import Grant, Principal
from youmin.kit.db import make_engine, make_sessionmaker, transaction


async def test_resident_raises_a_matter_for_their_own_community(matters):
    community = matters.new_community()
    person = str(uuid.uuid4())
    resp = await matters.client.post(
        "/api/v1/matters/", headers=matters.resident(person, matters.household(community, 1)),
        json={"title": "楼道堆物", "description": "三单元楼道堆放杂物", "category": "environmental_sanitation"},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["state"], body["raised_via"], body["community_code"], body["mine"]) == ("raised", "app", community, True)
    assert body["stage"] == {"code": "proposal", "title": "民主提议"}


async def test_resident_cannot_raise_a_matter_in_another_community(matters):
    community, other = matters.new_community(), matters.new_community()
    resp = await matters.client.post(
        "/api/v1/matters/", headers=matters.resident(str(uuid.uuid4()), matters.household(community, 1)),
        json={"title": "路灯", "description": "不亮", "category": "city_management", "unit_code": other},
    )
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_bad_input_names_the_field(matters):
    community = matters.new_community()
    resp = await matters.client.post("/api/v1/matters/", headers=matters.staff(community),
                                     json={"title": "", "description": "x", "category": "nonsense", "unit_code": community})
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert {"title", "category"} <= fields
    broken = await matters.client.post("/api/v1/matters/", headers={**matters.staff(community),
                                                                     "content-type": "application/json"},
                                       content=b'{"title": "x",')
    assert broken.status_code == 422 and [e["field"] for e in broken.json()["errors"]] == ["body"], broken.text


async def test_grid_staff_record_a_face_to_face_matter_in_their_grid_only(matters):
    community = matters.new_community()
    grid = community + "001"
    headers = matters.headers("grid-1", [("grid_manager", grid)])
    ok = await matters.client.post("/api/v1/matters/", headers=headers,
                                   json={"title": "井盖松动", "description": "x", "category": "public_safety", "unit_code": grid + "002"})
    refused = await matters.client.post("/api/v1/matters/", headers=headers,
                                        json={"title": "井盖松动", "description": "x", "category": "public_safety",
                                              "unit_code": community + "002"})
    assert ok.status_code == 201 and ok.json()["raised_via"] == "face_to_face"
    assert ok.json()["scope_level"] == "building"
    assert refused.status_code == 403


async def test_an_action_not_allowed_now_is_409_listing_the_allowed_ones(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/transitions",
                                     json={"action": "start_implementation"}, headers=matters.staff(community))
    assert resp.status_code == 409
    assert resp.json()["allowed"] == ["accept", "reject", "merge", "withdraw", "place"]


def _path_to(target: State) -> list[str]:
    """The shortest list of actions from raised to a state (breadth-first over the table)."""
    frontier: list[tuple[State, list[str]]] = [(State.RAISED, [])]
    seen = {State.RAISED}
    while frontier:
        state, path = frontier.pop(0)
        if state is target:
            return path
        for action, nxt in TRANSITIONS[state].items():
            if nxt not in seen and action is not Action.WITHDRAW:
                seen.add(nxt)
                frontier.append((nxt, [*path, action.value]))
    raise AssertionError(target)


# Routed to a deliberation forum: decided there by staff (a meeting's matter is decided by a vote).
_EXTRA = {"reject": {"reason": "不属于社区事务"}, "merge": {}, "reopen": {"reason": "复查"},
          "route": {"channel": "deliberation", "reason": "协商议事"}}


@pytest.mark.parametrize("state", [s for s in State if s not in (State.MERGED, State.WITHDRAWN)])
async def test_every_state_allows_exactly_its_table_row_through_the_api(matters, state):
    community = matters.new_community()
    matter = await matters.raise_matter(community, title=f"事项{uuid.uuid4().hex[:6]}")
    for action in _path_to(state):
        await matters.move(matter["matter_id"], community, {"action": action, **_EXTRA.get(action, {})})
    got = await matters.client.get(f"/api/v1/matters/{matter['matter_id']}", headers=matters.staff(community))
    assert got.json()["state"] == state.value
    # Staff are offered every move of the state's row but a withdrawal, which is the proposer's.
    assert got.json()["allowed_actions"] == [a.value for a in TRANSITIONS[state] if a is not Action.WITHDRAW]
    for action in Action:
        if action in TRANSITIONS[state]:
            continue
        resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/transitions",
                                         json={"action": action.value, "reason": "r"}, headers=matters.staff(community))
        assert resp.status_code == 409, (state, action, resp.text)
        assert resp.json()["allowed"] == [a.value for a in TRANSITIONS[state]]


async def test_rejection_needs_a_reason(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/transitions", json={"action": "reject"},
                                     headers=matters.staff(community))
    assert resp.status_code == 422 and resp.json()["rule"] == "matter.reject_reason_required"
    assert resp.json()["field"] == "reason"


async def test_only_the_proposer_withdraws_and_only_before_the_decision(matters):
    community = matters.new_community()
    person = str(uuid.uuid4())
    home = matters.household(community, 7)
    raised = await matters.client.post("/api/v1/matters/", headers=matters.resident(person, home),
                                       json={"title": "加装电梯", "description": "x", "category": "old_estate_renovation"})
    matter_id = raised.json()["matter_id"]
    by_staff = await matters.client.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": "withdraw"},
                                         headers=matters.staff(community))
    assert by_staff.status_code == 403 and by_staff.json()["rule"] == "matter.withdraw_by_proposer_only"
    mine = await matters.client.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": "withdraw"},
                                     headers=matters.resident(person, home))
    assert mine.status_code == 200 and mine.json()["state"] == "withdrawn"


async def test_a_resident_cannot_triage(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/transitions", json={"action": "accept"},
                                     headers=matters.resident(str(uuid.uuid4()), matters.household(community, 1)))
    assert resp.status_code == 403


async def test_a_similar_matter_is_suggested_and_merged(matters):
    community = matters.new_community()
    first = await matters.raise_matter(community, title="三号楼前路灯不亮")
    second = await matters.raise_matter(community, title="三号楼前的路灯不亮了")
    assert [d["matter_id"] for d in second["duplicates"]] == [first["matter_id"]]
    suggested = await matters.client.get(f"/api/v1/matters/{second['matter_id']}/duplicates", headers=matters.staff(community))
    assert [d["matter_id"] for d in suggested.json()] == [first["matter_id"]]
    merged = await matters.move(second["matter_id"], community, {"action": "merge", "merge_into": first["matter_id"]})
    assert merged["state"] == "merged" and merged["merged_into_id"] == first["matter_id"]


async def test_duplicates_scored_in_the_database_are_the_rules_suggestions(matters):
    # The database scores titles by their stored bigrams; what it suggests must be what the rule would suggest.
    community, other = matters.new_community(), matters.new_community()
    titles = ["三号楼前路灯不亮", "三号楼前的路灯不亮了", "三号楼路灯不亮", "ＡＢＣ小区路灯", "abc小区路灯!", "路", "！！",
              "小区 路灯 不亮", "电梯坏了", "三号楼电梯坏了", "路灯", "路灯不亮", "甲乙丙丁戊", "三号楼的路灯不亮吗",
              "三号楼的路灯不亮啊", "三号楼的路灯不亮哦", "三号楼的路灯不亮呢", "三号楼的路灯不亮吧", "三号楼的路灯不亮呀", "三号楼的路灯不亮嘛", "三号楼的路灯不亮哇"]
    raised = [await matters.raise_matter(community, title=t) for t in titles]
    closed = await matters.raise_matter(community, title="三号楼的路灯不亮")
    await matters.move(closed["matter_id"], community, {"action": "reject", "reason": "已修好"})
    await matters.raise_matter(other, title="三号楼的路灯不亮")  # another community's matter is never suggested

    live_newest_first = [(m["matter_id"], m["title"]) for m in reversed(raised)]
    for title in ("三号楼的路灯不亮", "甲乙丙", "ＡＢＣ小区路灯", "！！", "路"):
        expected = suggest_duplicates(title, live_newest_first, 0.5)[:10]
        new = await matters.raise_matter(community, title=title)
        got = [(d["matter_id"], d["score"]) for d in new["duplicates"]]
        assert got == [(e.matter_id, round(e.score, 3)) for e in expected], title
        live_newest_first.insert(0, (new["matter_id"], title))
    # What the comparison covered: the boundary ({甲乙, 乙丙} against {甲乙, 乙丙, 丙丁, 丁戊} is exactly 0.5, and
    # suggested), and more than ten look-alikes, of which the ten most similar come back.
    assert any(e.score == 0.5 for e in suggest_duplicates("甲乙丙", live_newest_first, 0.5))
    assert len(suggest_duplicates("三号楼的路灯不亮", live_newest_first, 0.5)) > 10


def _scans_of_matter(node: dict) -> list[dict]:
    """The plan nodes (EXPLAIN ANALYZE, JSON) that read the matter table."""
    found = [node] if node.get("Relation Name") == "matter" else []
    for child in node.get("Plans", []):
        found += _scans_of_matter(child)
    return found


async def test_duplicate_suggestions_read_about_the_candidates_only_in_busy_and_quiet_communities(matters):
    # The suggestion runs prepared on every creation, and PostgreSQL may settle on one generic plan for it. Whatever
    # the plan, it must read about the candidate count of matters, in a busy community (not sort all of its matters:
    # 13 ms per creation at 12,000) and in a quiet one (not walk the district's matters by date to find its few).
    busy, quiet = "370705998000", "370705998001"
    seed = await matters.raise_matter(matters.new_community(), title="三号楼前路灯不亮")
    sent: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, tuple(parameters)))

    def literal(value: object) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, list):
            return "'{" + ",".join(map(str, value)) + "}'"
        return f"'{value}'" if isinstance(value, str) else str(value)

    engine = matters.app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        async with matters.app.state.sessions() as session, session.begin():
            # 6,000 matters of the busy community among quiet ones of 20 each, in this transaction only (rolled
            # back below), and the planner's statistics taken over them.
            await session.execute(text(
                """INSERT INTO matter SELECT (jsonb_populate_record(m, jsonb_build_object(
                       'matter_id', gen_random_uuid(), 'community_code', c, 'unit_code', c,
                       'created_at', now() - i * interval '1 minute', 'external_token', NULL))).*
                   FROM matter m, generate_series(1, 7000) AS i,
                        LATERAL (SELECT '370705998' || lpad((CASE WHEN i % 7 = 0 THEN i % 50 + 1 ELSE 0 END)::text,
                                                            3, '0') AS c) AS codes
                   WHERE m.matter_id = :seed"""), {"seed": uuid.UUID(seed["matter_id"])})
            await session.execute(text("ANALYZE matter"))
            repo = MattersRepository(session)
            conn = await session.connection()
            await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            for community in (busy, quiet):
                sent.clear()
                found = await repo.similar_matters(community, None, bigram_codes("三号楼前路灯不亮"), 0.5)
                assert len(found) == 10  # the ten most similar of the look-alikes
                # The very statement the service sent, prepared and run again under a generic plan.
                statement, parameters = sent[0]
                await conn.exec_driver_sql(f"PREPARE duplicate_suggestions AS {statement}")
                explained = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE duplicate_suggestions("
                                                       + ", ".join(map(literal, parameters)) + ")")
                plan = explained.scalar()[0]["Plan"]
                await conn.exec_driver_sql("DEALLOCATE duplicate_suggestions")
                for scan in _scans_of_matter(plan):
                    assert scan["Actual Rows"] <= 200 and scan.get("Rows Removed by Filter", 0) <= 200, (community, scan)
            await session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", capture)


async def test_merging_into_a_matter_of_another_community_is_refused(matters):
    community, other = matters.new_community(), matters.new_community()
    mine = await matters.raise_matter(community)
    theirs = await matters.raise_matter(other)
    resp = await matters.client.post(f"/api/v1/matters/{mine['matter_id']}/transitions",
                                     json={"action": "merge", "merge_into": theirs["matter_id"]}, headers=matters.staff(community))
    assert resp.status_code == 422 and resp.json()["rule"] == "matter.merge_target_invalid"


async def test_routing_confirms_the_proposal_or_overrides_it_with_a_reason(matters):
    community = matters.new_community()
    building = community + "001002"
    a = await matters.raise_matter(community, unit_code=building)
    b = await matters.raise_matter(community, unit_code=building, title="另一件事")
    proposal = await matters.client.get(f"/api/v1/matters/{a['matter_id']}/route-proposal", headers=matters.staff(community))
    assert proposal.json()["channel"] == "neighbourhood"
    confirmed = await matters.move(a["matter_id"], community, "accept", "route")
    assert (confirmed["channel"], confirmed["proposed_channel"]) == ("neighbourhood", "neighbourhood")
    await matters.move(b["matter_id"], community, "accept")
    silent = await matters.client.post(f"/api/v1/matters/{b['matter_id']}/transitions",
                                       json={"action": "route", "channel": "residents_meeting"}, headers=matters.staff(community))
    assert silent.status_code == 422 and silent.json()["rule"] == "matter.route_override_reason_required"
    overridden = await matters.move(b["matter_id"], community,
                                    {"action": "route", "channel": "residents_meeting", "reason": "涉及全体业主的公共维修资金"})
    assert overridden["channel"] == "residents_meeting"


async def test_the_timeline_records_who_when_and_why_and_each_move_is_published(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    await matters.move(matter["matter_id"], community, "accept", {"action": "route", "channel": "deliberation", "reason": "需协商"})
    detail = (await matters.client.get(f"/api/v1/matters/{matter['matter_id']}", headers=matters.staff(community))).json()
    steps = [(t["action"], t["to_state"]) for t in detail["timeline"]]
    assert steps == [("raise", "raised"), ("accept", "accepted"), ("route", "routed")]
    assert detail["timeline"][2]["reason"] == "需协商" and detail["timeline"][2]["details"]["override"] is True
    published = await matters.events_of(matter["matter_id"])
    assert [t for t, _ in published] == ["gov.youmin.matters.matter.raised.v1"] + ["gov.youmin.matters.matter.transitioned.v1"] * 2
    assert published[2][1]["from_state"] == "accepted" and published[2][1]["to_state"] == "routed"


async def test_residents_see_their_community_and_staff_their_scope(matters):
    community, other = matters.new_community(), matters.new_community()
    here = await matters.raise_matter(community, title="本社区事项")
    await matters.raise_matter(other, title="别的社区事项")
    resident = matters.resident(str(uuid.uuid4()), matters.household(community, 3))
    listed = await matters.client.get("/api/v1/matters/", headers=resident)
    assert [m["matter_id"] for m in listed.json()["items"]] == [here["matter_id"]]
    hidden = await matters.client.get(f"/api/v1/matters/{here['matter_id']}", headers=matters.staff(other))
    assert hidden.status_code == 404
    searched = await matters.client.get("/api/v1/matters/", params={"q": "本社区", "status": "open"},
                                        headers=matters.staff(community))
    assert [m["matter_id"] for m in searched.json()["items"]] == [here["matter_id"]]


async def test_open311_style_creation_and_token_lookup(matters):
    community = matters.new_community()
    await matters.seed(reg.UnitCreated(unit_id=uuid.uuid4(), unit_code=community, parent_code=None, level="community",
                                       effective_on=date(2026, 1, 1)))
    service = matters.headers("gateway-open311", [], kind="service")
    token = f"tok-{uuid.uuid4().hex[:8]}"
    # An integration holds no unit grant: the unit it names must be a current unit of the registry.
    unknown = await matters.client.post("/api/v1/matters/", headers=service, json={
        "title": "路面坑洼", "description": "坑洼积水", "category": "city_management", "unit_code": "110101001001",
        "external_token": token})
    assert unknown.status_code == 422 and unknown.json()["rule"] == "matter.unit_unknown", unknown.text
    assert unknown.json()["field"] == "unit_code"
    resp = await matters.client.post("/api/v1/matters/", headers=service, json={
        "title": "路面坑洼", "description": "坑洼积水", "category": "city_management", "unit_code": community,
        "latitude": 36.7, "longitude": 119.1, "address_string": "某路某号", "external_token": token})
    assert resp.status_code == 201 and resp.json()["raised_via"] == "open311" and resp.json()["status"] == "open"
    found = await matters.client.get(f"/api/v1/matters/by-token/{token}", headers=service)
    assert found.json() == {"matter_id": resp.json()["matter_id"], "external_token": token, "status": "open"}
    listed = await matters.client.get("/api/v1/matters/", headers=service,
                                      params={"ids": resp.json()["matter_id"], "status": "open", "category": "city_management"})
    assert listed.json()["total"] == 1
    nowhere = await matters.client.post("/api/v1/matters/", headers=service, json={
        "title": "路面坑洼", "description": "坑洼", "category": "city_management", "latitude": 36.7, "longitude": 119.1})
    assert nowhere.status_code == 422 and nowhere.json()["field"] == "unit_code"


async def test_duplicate_suggestions_show_only_matters_the_caller_may_read(matters):
    # A suggestion shows another matter's id and title: a grid manager sees those of their grid, not the community's.
    community = matters.new_community()
    grid = community + "001"
    community_wide = await matters.raise_matter(community, title="三号楼张家门口堆放杂物")
    in_grid = await matters.raise_matter(community, title="三号楼张家门口堆放杂物了", unit_code=grid)
    manager = matters.headers("gm-1", [("grid_manager", grid)])
    body = {"title": "三号楼张家门口堆放杂物啊", "description": "占用通道", "category": "environmental_sanitation",
            "unit_code": grid}
    raised = await matters.client.post("/api/v1/matters/", json=body, headers=manager)
    assert raised.status_code == 201, raised.text
    assert [d["matter_id"] for d in raised.json()["duplicates"]] == [in_grid["matter_id"]]
    again = await matters.client.get(f"/api/v1/matters/{raised.json()['matter_id']}/duplicates", headers=manager)
    assert [d["matter_id"] for d in again.json()] == [in_grid["matter_id"]]
    # Community staff read both.
    staff = await matters.client.get(f"/api/v1/matters/{raised.json()['matter_id']}/duplicates",
                                     headers=matters.staff(community))
    assert {d["matter_id"] for d in staff.json()} == {in_grid["matter_id"], community_wide["matter_id"]}


async def test_a_grid_managers_raise_reads_its_suggestions_after_giving_back_the_one_statements_connection(
        matters, clock):
    # The raise's statement has its own pooled connection; the suggestions a grid manager may read are sorted out
    # through the session after it went back. With both at once, a pool of one connection would wait for ever.
    community = matters.new_community()
    grid = community + "001"
    in_grid = await matters.raise_matter(community, title="五号楼楼道堆放杂物", unit_code=grid)
    engine = make_engine(matters.settings.db_url(), pool_size=1, pool_timeout=3)
    try:
        manager = Principal(sub="gm-pool", grants=[Grant(role="grid_manager", scope=grid)])
        data = MatterCreate(title="五号楼楼道堆放杂物了", description="占用通道", category="environmental_sanitation",
                            unit_code=grid)
        async with transaction(make_sessionmaker(engine)) as session:
            matter, duplicates, _ = await MattersService(session, matters.settings).raise_matter(
                Context(manager, clock.now), data)
        assert [str(d["matter_id"]) for d in duplicates] == [in_grid["matter_id"]]
        assert (matter.unit_code, matter.raised_via) == (grid, "face_to_face")
    finally:
        await engine.dispose()


async def test_a_neighbour_reading_a_matter_does_not_learn_who_raised_it(matters):
    community = matters.new_community()
    proposer = str(uuid.uuid4())
    resp = await matters.client.post("/api/v1/matters/", headers=matters.resident(proposer, matters.household(community, 1)),
                                     json={"title": "楼道堆物", "description": "三单元楼道堆放杂物",
                                           "category": "environmental_sanitation"})
    url = f"/api/v1/matters/{resp.json()['matter_id']}"
    neighbour = await matters.client.get(url, headers=matters.resident(str(uuid.uuid4()), matters.household(community, 2)))
    assert neighbour.status_code == 200 and proposer not in neighbour.text
    assert neighbour.json()["timeline"][0]["actor"] is None
    own = await matters.client.get(url, headers=matters.resident(proposer, matters.household(community, 1)))
    assert own.json()["timeline"][0]["actor"] == proposer
    staff = await matters.client.get(url, headers=matters.staff(community))
    assert staff.json()["timeline"][0]["actor"] == proposer


async def test_a_resident_cannot_claim_an_external_systems_token(matters):
    community = matters.new_community()
    resp = await matters.client.post("/api/v1/matters/", headers=matters.resident(str(uuid.uuid4()), matters.household(community, 1)),
                                     json={"title": "楼道堆物", "description": "三单元楼道堆放杂物",
                                           "category": "environmental_sanitation", "external_token": "tok-12345678"})
    assert resp.status_code == 403 and resp.json()["field"] == "external_token", resp.text
    assert (await matters.client.get("/api/v1/matters/by-token/tok-12345678",
                                     headers=matters.headers("gateway-open311", [], kind="service"))).status_code == 404


def _units(*codes: str) -> list[reg.UnitCreated]:
    levels = {12: "community", 15: "grid", 18: "building", 20: "unit"}
    return [reg.UnitCreated(unit_id=uuid.uuid4(), unit_code=code, parent_code=code[:-3] if len(code) != 20 else code[:18],
                            level=levels[len(code)], effective_on=date(2026, 1, 1)) for code in codes]


async def test_grid_staff_triage_their_grids_matters_and_each_caller_is_offered_only_their_own_moves(matters):
    community = matters.new_community()
    grid, other_grid = community + "001", community + "002"
    building, next_building, far_building = grid + "001", grid + "002", other_grid + "001"
    await matters.seed(*_units(community, grid, other_grid, building, next_building, far_building))
    manager = matters.headers("grid-manager-" + community, [("grid_manager", grid)])
    proposer, neighbour = str(uuid.uuid4()), str(uuid.uuid4())
    raised = await matters.client.post("/api/v1/matters/", headers=matters.resident(proposer, building + "010001"), json={
        "title": "二号楼楼道灯不亮", "description": "夜里看不见", "category": "city_management", "unit_code": building})
    assert raised.status_code == 201, raised.text
    matter_id = raised.json()["matter_id"]
    url = f"/api/v1/matters/{matter_id}"

    async def offered(headers: dict[str, str]) -> list[str]:
        return (await matters.client.get(url, headers=headers)).json()["allowed_actions"]

    assert await offered(matters.staff(community)) == ["accept", "reject", "merge", "place"]
    assert await offered(manager) == ["accept", "reject", "merge", "place"]
    assert await offered(matters.resident(proposer, building + "010001")) == ["withdraw"]
    assert await offered(matters.resident(neighbour, building + "010002")) == []

    # The grid manager places it at the building it is really about, within their grid, but not in another grid.
    far = await matters.client.post(f"{url}/transitions", headers=manager, json={"action": "place", "unit_code": far_building})
    assert far.status_code == 403 and far.json()["field"] == "unit_code", far.text
    placed = await matters.client.post(f"{url}/transitions", headers=manager,
                                       json={"action": "place", "unit_code": next_building})
    assert placed.status_code == 200 and placed.json()["unit_code"] == next_building, placed.text
    accepted = await matters.client.post(f"{url}/transitions", headers=manager, json={"action": "accept"})
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted", accepted.text
    # Routing is the community's decision.
    route = await matters.client.post(f"{url}/transitions", headers=manager, json={"action": "route"})
    assert route.status_code == 403, route.text
    assert await offered(manager) == ["merge", "place"]
    # A duplicate raised at the next building: the manager reads the suggestion as written (their grid's matter) and
    # merges it, but not into a matter of another grid.
    duplicate = await matters.client.post("/api/v1/matters/", headers=manager, json={
        "title": "二号楼楼道灯不亮了", "description": "同上", "category": "city_management", "unit_code": building})
    assert duplicate.status_code == 201, duplicate.text
    assert [(d["matter_id"], d["title"]) for d in duplicate.json()["duplicates"]] == [(matter_id, "二号楼楼道灯不亮")]
    far_matter = await matters.raise_matter(community, title="远处的路灯", unit_code=far_building)
    dup_url = f"/api/v1/matters/{duplicate.json()['matter_id']}/transitions"
    beyond = await matters.client.post(dup_url, headers=manager,
                                       json={"action": "merge", "merge_into": far_matter["matter_id"]})
    assert beyond.status_code == 422 and beyond.json()["field"] == "merge_into", beyond.text
    merged = await matters.client.post(dup_url, headers=manager, json={"action": "merge", "merge_into": matter_id})
    assert merged.status_code == 200 and merged.json()["state"] == "merged", merged.text
    # Another grid's manager neither sees nor triages it.
    stranger = matters.headers("grid-manager-2-" + community, [("grid_manager", other_grid)])
    assert (await matters.client.post(f"{url}/transitions", headers=stranger, json={"action": "reject",
                                                                                    "reason": "x"})).status_code == 404


async def test_grid_staff_run_the_meetings_of_a_building_but_not_the_communitys_or_a_major_matters(matters):
    community = matters.new_community()
    grid = community + "001"
    building = grid + "001"
    await matters.seed(*_units(community, grid, building))
    households, events = matters.households_events(community, 2)
    await matters.seed(*events)  # households under grid 001, building 001
    building_head = matters.headers("building-head-" + community, [("building_head", building)])
    manager = matters.headers("grid-manager-" + community, [("grid_manager", grid)])

    at_building = await matters.raise_matter(community, title="楼院共建：清理楼顶杂物", unit_code=building)
    await matters.move(at_building["matter_id"], community, "accept", {"action": "route", "channel": "neighbourhood",
                                                                       "reason": "楼院共建会"})
    opened = await matters.client.post(f"/api/v1/matters/{at_building['matter_id']}/votes", json={}, headers=building_head)
    assert opened.status_code == 201, opened.text
    vote_id = opened.json()["vote_id"]
    for house in households:
        ballot = await matters.client.post(f"/api/v1/matters/votes/{vote_id}/ballots", json={"choice": "for"},
                                           headers=matters.resident(house.representative, house.code))
        assert ballot.status_code == 201, ballot.text
    closed = await matters.client.post(f"/api/v1/matters/votes/{vote_id}/close", headers=building_head)
    assert closed.status_code == 200 and closed.json()["passed"] is True, closed.text

    # A community-wide vote is the community's to run; so is any vote on a matter flagged major.
    community_wide = await matters.raise_matter(community, title="小区大门改造")
    await matters.move(community_wide["matter_id"], community, "accept", "route")
    refused = await matters.client.post(f"/api/v1/matters/{community_wide['matter_id']}/votes", json={}, headers=manager)
    assert refused.status_code in (403, 404), refused.text
    major = await matters.raise_matter(community, title="楼顶加装光伏", unit_code=building, major=True)
    await matters.move(major["matter_id"], community, "accept", {"action": "route", "channel": "neighbourhood",
                                                                 "reason": "楼院共建会"})
    refused = await matters.client.post(f"/api/v1/matters/{major['matter_id']}/votes", json={}, headers=building_head)
    assert refused.status_code == 403, refused.text


async def test_staff_flag_a_raised_matter_a_key_project_and_major_until_a_vote_opens(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community, title="老旧小区加装电梯")  # a resident's, unflagged
    url, staff = f"/api/v1/matters/{matter['matter_id']}/flags", matters.staff(community)
    resident = matters.resident(str(uuid.uuid4()), matters.household(community, 1))
    assert (await matters.client.put(url, json={"key_project": True}, headers=resident)).status_code == 403
    empty = await matters.client.put(url, json={"reason": "x"}, headers=staff)
    assert empty.status_code == 422 and empty.json()["field"] == "key_project"
    flagged = await matters.client.put(url, json={"key_project": True, "major": True, "reason": "纳入年度重点项目"},
                                       headers=staff)
    assert flagged.status_code == 200 and (flagged.json()["key_project"], flagged.json()["major"]) == (True, True)
    stats = (await matters.client.get("/api/v1/matters/stats", params={"community_code": community, "key_project": True},
                                      headers=staff)).json()
    assert stats["by_community"][0]["key_projects"] == 1
    detail = (await matters.client.get(f"/api/v1/matters/{matter['matter_id']}", headers=staff)).json()
    entry = detail["timeline"][-1]
    assert (entry["action"], entry["from_state"], entry["to_state"], entry["reason"]) == ("flag", "raised", "raised",
                                                                                          "纳入年度重点项目")
    assert entry["details"] == {"key_project": {"from": False, "to": True}, "major": {"from": False, "to": True}}
    published = [d for t, d in await matters.events_of(matter["matter_id"]) if t.endswith("matter.flagged.v1")]
    assert [(d["key_project"], d["major"]) for d in published] == [(True, True)]
    # Setting what is set already changes nothing and publishes nothing.
    assert (await matters.client.put(url, json={"key_project": True}, headers=staff)).status_code == 200
    assert len([t for t, _ in await matters.events_of(matter["matter_id"]) if t.endswith("matter.flagged.v1")]) == 1
    # Major, the matter is decided by a vote (staff cannot decide it by hand); once the vote opens, major is settled.
    await matters.move(matter["matter_id"], community, "accept", "route")
    households, events = matters.households_events(community, 2)
    await matters.seed(*events)
    opened = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/votes", json={}, headers=staff)
    assert opened.status_code == 201 and opened.json()["rule_version"] == "urcol-2018-major", opened.text
    settled = await matters.client.put(url, json={"major": False}, headers=staff)
    assert settled.status_code == 422 and settled.json()["rule"] == "matter.major_after_vote"
    assert settled.json()["field"] == "major"
    assert (await matters.client.put(url, json={"key_project": False}, headers=staff)).json()["key_project"] is False
    # Not passed (nobody voted) and routed again, it is voted on again as the major matter it was.
    closed = await matters.client.post(f"/api/v1/matters/votes/{opened.json()['vote_id']}/close", headers=staff)
    assert closed.status_code == 200 and closed.json()["passed"] is False, closed.text
    await matters.move(matter["matter_id"], community, "route")
    again = await matters.client.put(url, json={"major": False}, headers=staff)
    assert again.status_code == 422 and again.json()["rule"] == "matter.major_after_vote", again.text
