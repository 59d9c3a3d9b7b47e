"""Intake, assignment and conflicts of interest, through the API against real PostgreSQL."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from youmin.kit.db import transaction


async def outbox_types(h, case_id: str) -> list[str]:
    async with transaction(h.app.state.sessions) as session:
        rows = await session.execute(text("SELECT type FROM outbox_event WHERE key = :k ORDER BY id"), {"k": case_id})
        return [r.type.removeprefix("gov.youmin.mediation.case.") for r in rows]


async def test_case_opened_at_a_grid_starts_at_grid_level_with_a_grid_mediator(h):
    place = await h.place()
    case = await h.open_case(place)
    assert case["level"] == "grid"
    assert case["status"] == "intake"
    assert case["mediator_person_id"] == place.mediators["grid_1"]
    assert case["deadline_at"].startswith("2026-03-07")  # five days at the grid by default
    assert await outbox_types(h, case["id"]) == ["opened.v1", "assigned.v1"]


async def test_mediator_living_in_a_partys_household_is_excluded(h):
    place = await h.place()
    case = await h.open_case(place)
    resp = await h.post(case["id"], "assignment", None, h.staff("community_staff", place.community))
    assert resp.status_code == 200, resp.text
    assert resp.json()["mediator_person_id"] == place.mediators["grid_1"]
    assert resp.json()["excluded"][place.mediators["grid_2"]] == "same_household"


async def test_mediator_who_is_a_party_is_excluded_and_none_left_is_a_409(h):
    place = await h.place()
    case = await h.open_case(place, parties=[{"person_id": place.residents["a"]},
                                             {"person_id": place.mediators["grid_1"]}])
    assert case["mediator_person_id"] is None
    resp = await h.post(case["id"], "assignment", None, h.staff("community_staff", place.community))
    assert resp.status_code == 409
    body = resp.json()
    assert body["rule"] == "mediation.no_eligible_mediator"
    assert body["excluded"] == {place.mediators["grid_1"]: "is_party", place.mediators["grid_2"]: "same_household"}


async def test_mediators_are_load_balanced_by_open_cases(h):
    place = await h.place()
    first = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}])
    second = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}])
    assert {first["mediator_person_id"], second["mediator_person_id"]} == {place.mediators["grid_1"],
                                                                           place.mediators["grid_2"]}


async def test_party_refusing_the_mediator_removes_them_and_choosing_one_assigns_them(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}])
    first = case["mediator_person_id"]
    other = ({place.mediators["grid_1"], place.mediators["grid_2"]} - {first}).pop()
    party = case["parties"][0]["party_id"]
    resp = await h.post(case["id"], "mediator-choices",
                        {"party_id": party, "mediator_person_id": first, "choice": "refused"}, staff)
    assert resp.status_code == 200, resp.text
    assert resp.json()["mediator_person_id"] == other
    assert first in resp.json()["refused_mediator_ids"]
    # Choosing the refused one again overrides the party's own refusal.
    resp = await h.post(case["id"], "mediator-choices",
                        {"party_id": party, "mediator_person_id": first, "choice": "chosen"}, staff)
    assert resp.json()["mediator_person_id"] == first


async def test_a_refused_mediator_who_is_also_grid_staff_cannot_bring_themselves_back(h):
    place = await h.place()
    case = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}])
    first = case["mediator_person_id"]
    party = case["parties"][0]["party_id"]
    staff = h.staff("grid_manager", place.grid)
    refused = await h.post(case["id"], "mediator-choices",
                           {"party_id": party, "mediator_person_id": first, "choice": "refused"}, staff)
    assert refused.json()["mediator_person_id"] != first
    # The refused mediator is the grid's manager too: they supervise the case, but do not choose themselves for a party.
    themselves = h.token(first, ("mediator", place.grid), ("grid_manager", place.grid))
    again = await h.post(case["id"], "mediator-choices",
                         {"party_id": party, "mediator_person_id": first, "choice": "chosen"}, themselves)
    assert again.status_code == 403 and again.json()["field"] == "mediator_person_id", again.text
    file = (await h.get(case["id"], staff)).json()
    assert file["mediator_person_id"] != first and first in file["refused_mediator_ids"]


async def test_one_partys_choice_does_not_lift_another_partys_refusal(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}])
    first = case["mediator_person_id"]
    other = ({place.mediators["grid_1"], place.mediators["grid_2"]} - {first}).pop()
    applicant, respondent = (p["party_id"] for p in case["parties"])
    refused = await h.post(case["id"], "mediator-choices",
                           {"party_id": applicant, "mediator_person_id": first, "choice": "refused"}, staff)
    assert refused.json()["mediator_person_id"] == other
    chosen = await h.post(case["id"], "mediator-choices",
                          {"party_id": respondent, "mediator_person_id": first, "choice": "chosen"}, staff)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["mediator_person_id"] == other
    assert first in chosen.json()["refused_mediator_ids"] and first not in chosen.json()["chosen_mediator_ids"]
    reassigned = await h.post(case["id"], "assignment", None, staff)
    assert reassigned.json()["mediator_person_id"] == other
    # The applicant changes their own mind: now both accept the first mediator, the one chosen.
    lifted = await h.post(case["id"], "mediator-choices",
                          {"party_id": applicant, "mediator_person_id": first, "choice": "chosen"}, staff)
    assert lifted.json()["mediator_person_id"] == first and lifted.json()["refused_mediator_ids"] == []


async def test_a_refusal_given_at_intake_stands_for_every_party(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    refused = place.mediators["grid_1"]
    case = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}],
                             refused_mediator_ids=[refused])
    assert case["mediator_person_id"] == place.mediators["grid_2"]
    resp = await h.post(case["id"], "mediator-choices", {"party_id": case["parties"][0]["party_id"],
                                                         "mediator_person_id": refused, "choice": "chosen"}, staff)
    assert resp.json()["refused_mediator_ids"] == [refused] and resp.json()["mediator_person_id"] != refused


async def test_outside_person_party_is_kept_apart_and_shown_to_the_mediator(h):
    place = await h.place()
    case = await h.open_case(place, parties=[
        {"person_id": place.residents["a"]},
        {"outside": {"full_name": "王五", "phone": "13800138000", "address": "奎文区某路1号"}, "role": "respondent"},
    ])
    resp = await h.get(case["id"], h.mediator(case["mediator_person_id"], place.grid))
    outside = resp.json()["parties"][1]["outside"]
    assert outside["full_name"] == "王五" and outside["phone"] == "13800138000"
    async with transaction(h.app.state.sessions) as session:
        data = await session.scalar(text("SELECT string_agg(data::text, ' ') FROM outbox_event WHERE key = :k"),
                                    {"k": case["id"]})
    assert "王五" not in data and "13800138000" not in data


async def test_bad_phone_of_an_outside_person_is_a_422_naming_the_field(h):
    place = await h.place()
    resp = await h.client.post("/api/v1/mediation/cases", headers=h.staff("grid_manager", place.grid), json={
        "place_code": place.grid, "dispute_type": "family", "description": "x",
        "parties": [{"person_id": place.residents["a"]}, {"outside": {"full_name": "王五", "phone": "12345"}}],
    })
    assert resp.status_code == 422
    assert any(e["field"] == "parties.1.outside.phone" for e in resp.json()["errors"])


async def test_unknown_dispute_type_is_a_422(h):
    place = await h.place()
    resp = await h.client.post("/api/v1/mediation/cases", headers=h.staff("grid_manager", place.grid), json={
        "place_code": place.grid, "dispute_type": "gossip", "description": "x",
        "parties": [{"person_id": place.residents["a"]}, {"person_id": place.residents["b"]}],
    })
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "dispute_type"


async def test_intake_outside_the_callers_scope_is_forbidden(h):
    place = await h.place()
    resp = await h.client.post("/api/v1/mediation/cases", headers=h.staff("grid_manager", place.other_grid), json={
        "place_code": place.grid, "dispute_type": "family", "description": "x",
        "parties": [{"person_id": place.residents["a"]}, {"person_id": place.residents["b"]}],
    })
    assert resp.status_code == 403


async def test_intake_at_the_street_level_is_served_by_street_mediators(h):
    place = await h.place()
    case = await h.open_case(place, h.staff("street_staff", place.street), level="street")
    assert case["level"] == "street"
    assert case["mediator_person_id"] == place.mediators["street"]


async def test_case_at_risk_of_violence_is_flagged_for_the_police_at_once(h):
    place = await h.place()
    case = await h.open_case(place, risk_level="medium", risk_indicators=["weapon"])
    assert case["police_flagged"] is True
    assert case["police_flag_reasons"] == ["indicator:weapon"]
    async with transaction(h.app.state.sessions) as session:
        count = await session.scalar(text("SELECT count(*) FROM police_notification WHERE case_id = :c"),
                                     {"c": uuid.UUID(case["id"])})
    assert count == 1
    assert await outbox_types(h, case["id"]) == ["opened.v1", "assigned.v1"]


async def test_low_risk_case_is_not_flagged(h):
    place = await h.place()
    case = await h.open_case(place, risk_level="low")
    assert case["police_flagged"] is False


async def test_choosing_a_mediator_who_cannot_serve_replaces_nobody_and_a_repick_keeps_the_file_in_place(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}])
    current = case["mediator_person_id"]
    # The other grid's mediator does not serve this grid: nobody chose the grid's other mediator either.
    resp = await h.post(case["id"], "mediator-choices", {"party_id": case["parties"][0]["party_id"],
                                                         "mediator_person_id": place.mediators["other_grid"],
                                                         "choice": "chosen"}, staff)
    assert resp.status_code == 200 and resp.json()["mediator_person_id"] == current, resp.text
    # Nothing has changed: staff asking for a re-pick get the same mediator, again and again (the case itself does
    # not weigh on its own mediator's load).
    for _ in range(3):
        again = await h.post(case["id"], "assignment", None, staff)
        assert again.status_code == 200 and again.json()["mediator_person_id"] == current, again.text
    assert (await outbox_types(h, case["id"])).count("assigned.v1") == 1


async def test_a_mediator_whose_role_ended_no_longer_sees_the_case_they_were_given(h):
    place = await h.place()
    case = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}])
    mediator = case["mediator_person_id"]
    assert (await h.get(case["id"], h.mediator(mediator, place.grid))).status_code == 200
    listed = await h.client.get("/api/v1/mediation/cases", headers=h.mediator(mediator, place.grid))
    assert case["id"] in [c["id"] for c in listed.json()]
    for headers in (h.token(mediator), h.mediator(mediator, place.other_grid)):  # role revoked; held elsewhere
        assert (await h.get(case["id"], headers)).status_code == 404
        listed = await h.client.get("/api/v1/mediation/cases", headers=headers)
        assert case["id"] not in [c["id"] for c in listed.json()]
        refused = await h.post(case["id"], "agreements", {"kind": "oral", "terms": "赔偿500元", **h.assent(case)}, headers)
        assert refused.status_code == 404


async def test_a_revoked_mediators_open_cases_pass_to_another_mediator(h):
    from datetime import date

    from mediation_places import cloud_event
    from services.mediation.consumers import ROLE_REVOKED, mediation_consumers
    from services.registry.events import RoleRevoked

    place = await h.place()
    case = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}])
    mediator = case["mediator_person_id"]
    async with transaction(h.app.state.sessions) as session:
        grant_id = await session.scalar(text("SELECT grant_id FROM replica_grant WHERE person_id = CAST(:p AS uuid)"),
                                        {"p": mediator})
    [replica_spec] = [c for c in mediation_consumers(h.app.state.mediation, h.clock) if c.name == "mediation-replica"]
    revoked = cloud_event(RoleRevoked(grant_id=grant_id, person_id=uuid.UUID(mediator), role="mediator",
                                      scope_code=place.grid, effective_on=date(2026, 3, 1)))
    async with transaction(h.app.state.sessions) as session:
        await replica_spec.handlers[ROLE_REVOKED](session, revoked)
    staff = h.staff("grid_manager", place.grid)
    now = (await h.get(case["id"], staff)).json()
    other = ({place.mediators["grid_1"], place.mediators["grid_2"]} - {mediator}).pop()
    assert now["mediator_person_id"] == other
    assert (await outbox_types(h, case["id"])).count("assigned.v1") == 2


async def test_a_grid_mediator_whose_grid_role_is_revoked_does_not_keep_its_cases_through_a_community_role(h):
    from datetime import date

    from mediation_places import cloud_event
    from services.mediation.consumers import ROLE_REVOKED, mediation_consumers
    from services.registry.events import RoleGranted, RoleRevoked

    place = await h.place()
    case = await h.open_case(place, parties=[{"person_id": place.residents["b"]}, {"person_id": place.residents["c"]}])
    mediator = case["mediator_person_id"]
    [replica_spec] = [c for c in mediation_consumers(h.app.state.mediation, h.clock) if c.name == "mediation-replica"]
    granted = cloud_event(RoleGranted(grant_id=uuid.uuid4(), person_id=uuid.UUID(mediator), role="mediator",
                                      scope_code=place.community, effective_on=date(2026, 3, 1)))
    async with transaction(h.app.state.sessions) as session:
        await replica_spec.handlers[granted.get_type()](session, granted)
        grant_id = await session.scalar(text("SELECT grant_id FROM replica_grant WHERE person_id = CAST(:p AS uuid) "
                                             "AND scope_code = :s"), {"p": mediator, "s": place.grid})
    revoked = cloud_event(RoleRevoked(grant_id=grant_id, person_id=uuid.UUID(mediator), role="mediator",
                                      scope_code=place.grid, effective_on=date(2026, 3, 2)))
    async with transaction(h.app.state.sessions) as session:
        await replica_spec.handlers[ROLE_REVOKED](session, revoked)
    now = (await h.get(case["id"], h.staff("grid_manager", place.grid))).json()
    assert now["mediator_person_id"] != mediator
    assert (await h.get(case["id"], h.mediator(mediator, place.community))).status_code == 404


async def test_a_place_code_of_no_units_shape_is_refused(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    body = {"dispute_type": "family", "description": "家庭纠纷",
            "parties": [{"person_id": place.residents["a"]}, {"person_id": place.residents["b"]}]}
    # A grid missing a digit (it would be taken in at the community, skipping the grid), a grid with a digit more.
    for code in (place.grid[:-1], place.grid + "9"):
        resp = await h.client.post("/api/v1/mediation/cases", headers=staff, json={"place_code": code, **body})
        assert resp.status_code == 422, resp.text
        assert (resp.json()["rule"], resp.json()["field"]) == ("mediation.place_code_shape", "place_code")
    # A household's dispute is placed at its building unit (20 digits): taken in at its grid.
    unit = place.households["a"][:20]
    case = await h.client.post("/api/v1/mediation/cases", headers=staff, json={"place_code": unit, **body})
    assert case.status_code == 201, case.text
    assert (case.json()["level"], case.json()["place_code"]) == ("grid", unit)


async def test_staff_who_are_a_party_cannot_take_their_own_dispute_in(h):
    place = await h.place()
    own = h.token(place.residents["b"], ("grid_manager", place.grid))  # a grid manager living in the grid
    resp = await h.client.post("/api/v1/mediation/cases", headers=own, json={
        "place_code": place.grid, "dispute_type": "neighbour", "description": "邻里纠纷",
        "parties": [{"person_id": place.residents["a"]}, {"person_id": place.residents["b"]}]})
    assert resp.status_code == 422, resp.text
    assert (resp.json()["rule"], resp.json()["field"]) == ("mediation.intake_by_party", "parties")


async def test_a_resident_applies_at_their_grid_not_above_it(h):
    place = await h.place()
    resident = h.token(place.residents["a"], ("resident", place.households["a"]))
    resp = await h.client.post("/api/v1/mediation/cases", headers=resident, json={
        "place_code": place.community, "dispute_type": "neighbour", "description": "邻里纠纷",
        "parties": [{"person_id": place.residents["a"], "role": "applicant"}, {"person_id": place.residents["b"]}]})
    assert resp.status_code == 422, resp.text
    assert (resp.json()["rule"], resp.json()["field"]) == ("mediation.apply_at_grid", "place_code")


async def test_staff_list_the_cases_flagged_for_the_police_and_a_party_learns_nothing_from_the_filter(h):
    place = await h.place()
    flagged = await h.open_case(place, risk_level="medium", risk_indicators=["weapon"])
    calm = await h.open_case(place, risk_level="low")
    url, staff = "/api/v1/mediation/cases", h.staff("community_staff", place.community)
    listed = {c["id"] for c in (await h.client.get(url, params={"police_flagged": "true", "limit": 500},
                                                   headers=staff)).json()}
    assert flagged["id"] in listed and calm["id"] not in listed
    unflagged = {c["id"] for c in (await h.client.get(url, params={"police_flagged": "false", "limit": 500},
                                                      headers=staff)).json()}
    assert calm["id"] in unflagged and flagged["id"] not in unflagged
    party = h.token(place.residents["a"], ("resident", place.households["a"]))  # a party to both
    for value in ("true", "false"):
        resp = await h.client.get(url, params={"police_flagged": value}, headers=party)
        assert resp.status_code == 200 and resp.json() == [], resp.text
    assert {flagged["id"], calm["id"]} <= {c["id"] for c in (await h.client.get(url, headers=party)).json()}


async def test_staff_named_as_a_party_follow_the_case_as_a_party_and_cannot_run_it(h):
    place = await h.place()
    # A resident's application names their neighbour, who is also the grid's manager.
    applicant = h.token(place.residents["a"], ("resident", place.households["a"]))
    resp = await h.client.post("/api/v1/mediation/cases", headers=applicant, json={
        "place_code": place.grid, "dispute_type": "neighbour", "description": "楼上装修噪音",
        "parties": [{"person_id": place.residents["a"], "role": "applicant"},
                    {"person_id": place.residents["b"], "role": "respondent"}]})
    assert resp.status_code == 201, resp.text
    case_id = resp.json()["id"]
    manager = h.token(place.residents["b"], ("grid_manager", place.grid))
    seen = (await h.get(case_id, manager)).json()
    assert "risk_level" not in seen and "sessions" not in seen  # a party's view, not the file
    for action, body in (("sessions", {"held_on": "2026-03-02", "summary": "s",
                                       "attendee_party_ids": [str(uuid.uuid4())]}),
                         ("closure", None)):
        refused = await h.post(case_id, action, body, manager)
        assert refused.status_code == 403, (action, refused.text)
    other_staff = h.staff("grid_manager", place.grid)
    other = (await h.get(case_id, other_staff)).json()
    assert "risk_level" in other  # another manager of the grid has the file
    # The other manager assesses a risk of violence: the manager who is a party is not told, not even by the listing.
    flagged = await h.post(case_id, "risk", {"risk_level": "medium", "risk_indicators": ["weapon"]}, other_staff)
    assert flagged.status_code == 200 and flagged.json()["police_flagged"] is True, flagged.text
    listed = (await h.client.get("/api/v1/mediation/cases", params={"limit": 500}, headers=manager)).json()
    assert [c["police_flagged"] for c in listed if c["id"] == case_id] == [None]
    by_flag = (await h.client.get("/api/v1/mediation/cases", params={"police_flagged": "true", "limit": 500},
                                  headers=manager)).json()
    assert case_id not in {c["id"] for c in by_flag}
