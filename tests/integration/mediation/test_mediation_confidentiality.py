"""Confidentiality: only the case's mediator and supervisors at or above its level see the file."""

from __future__ import annotations

from sqlalchemy import text

from youmin.kit.db import transaction

EVENT_FIELDS = {"case_id", "place_code", "community_code", "level", "dispute_type", "opened_at", "at",
                "mediator_person_id", "from_level", "to_level", "automatic", "agreement_kind", "reason_code",
                "route", "outcome"}


async def test_mediator_of_another_grid_gets_404_and_an_empty_list(h):
    place = await h.place()
    case = await h.open_case(place)
    outsider = h.mediator(place.mediators["other_grid"], place.other_grid)
    assert (await h.get(case["id"], outsider)).status_code == 404
    listed = await h.client.get("/api/v1/mediation/cases", headers=outsider)
    assert case["id"] not in [c["id"] for c in listed.json()]
    resp = await h.post(case["id"], "consents", {"party_id": case["parties"][0]["party_id"], "decision": "refused"},
                        outsider)
    assert resp.status_code == 404
    assert (await h.get(case["id"], h.staff("grid_manager", place.grid))).json()["status"] == "intake"


async def test_a_party_follows_their_own_case_without_the_file_and_other_residents_get_404(h):
    place = await h.place()
    case = await h.open_case(place, description="楼上漏水，对方电话13912345678，协商未果。")
    party = h.token(place.residents["a"], ("resident", place.households["a"]))
    seen = await h.get(case["id"], party)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert (body["status"], body["level"]) == ("intake", "grid")
    # Each party's part and answer, nobody's personal data, no session records, no risk assessment.
    assert [(p["role"], p["you"]) for p in body["parties"]] == [("applicant", True), ("respondent", False)]
    assert not {"person_id", "household_code", "outside"} & {k for p in body["parties"] for k in p}
    assert not {"sessions", "risk_level", "risk_indicators", "police_flag_reasons", "warnings"} & set(body)
    assert "13912345678" not in body["description"] and "漏水" in body["description"]
    assert body["allowed_actions"] == ["give_consent", "refuse_consent", "choose_mediator"]
    assert [line["id"] for line in (await h.client.get("/api/v1/mediation/cases", headers=party)).json()] == [case["id"]]
    # A neighbour who is not a party, and the party's own spouse, see nothing.
    for stranger in (h.token(place.residents["c"], ("resident", place.households["c"])),
                     h.token(place.residents["a_spouse"], ("resident", place.households["a"]))):
        assert (await h.get(case["id"], stranger)).status_code == 404
        assert (await h.client.get("/api/v1/mediation/cases", headers=stranger)).json() == []


async def test_anonymous_caller_gets_401(h):
    place = await h.place()
    case = await h.open_case(place)
    resp = await h.client.get(f"/api/v1/mediation/cases/{case['id']}")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_grid_staff_of_another_grid_get_404_while_community_and_street_staff_see_the_file(h):
    place = await h.place()
    case = await h.open_case(place)
    assert (await h.get(case["id"], h.staff("grid_manager", place.other_grid))).status_code == 404
    for role, scope in (("community_staff", place.community), ("street_staff", place.street)):
        resp = await h.get(case["id"], h.staff(role, scope))
        assert resp.status_code == 200
        assert resp.json()["description"] and resp.json()["parties"][0]["person_id"] == place.residents["a"]


async def test_assigned_mediator_sees_the_file_and_loses_it_when_the_case_moves_up(h):
    place = await h.place()
    case = await h.open_case(place)
    mediator = h.mediator(case["mediator_person_id"], place.grid)
    assert (await h.get(case["id"], mediator)).status_code == 200
    listed = await h.client.get("/api/v1/mediation/cases", headers=mediator)
    assert case["id"] in [c["id"] for c in listed.json()]
    await h.post(case["id"], "escalation", {"reason": "r"}, h.staff("community_staff", place.community))
    assert (await h.get(case["id"], mediator)).status_code == 404


async def test_a_case_listed_carries_no_party_or_description(h):
    place = await h.place()
    case = await h.open_case(place)
    listed = await h.client.get("/api/v1/mediation/cases", headers=h.staff("community_staff", place.community))
    [line] = [c for c in listed.json() if c["id"] == case["id"]]
    assert "parties" not in line and "description" not in line


async def test_events_of_a_case_carry_ids_levels_types_and_times_only(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place, parties=[{"person_id": place.residents["a"]},
                                             {"outside": {"full_name": "赵六", "phone": "13900139000"}}])
    await h.consent_all(case, staff)
    await h.post(case["id"], "escalation", {"reason": "赵六拒绝沟通"}, staff)
    async with transaction(h.app.state.sessions) as session:
        rows = (await session.execute(text("SELECT data FROM outbox_event WHERE key = :k"), {"k": case["id"]})).all()
    assert len(rows) >= 3
    for (data,) in rows:
        assert set(data) <= EVENT_FIELDS
        assert "赵六" not in str(data) and "楼上漏水" not in str(data)


async def test_statistics_answer_anyone_with_aggregates_only(h):
    place = await h.place()
    case = await h.open_case(place)
    resp = await h.client.get("/api/v1/mediation/statistics", params={
        "scope": place.community, "period_start": "2026-03-01T00:00:00+08:00", "period_end": "2026-04-01T00:00:00+08:00"})
    assert resp.status_code == 200
    assert resp.json()["current"]["opened"] == 1
    assert case["id"] not in resp.text and place.residents["a"] not in resp.text


async def test_paging_through_cases_opened_at_one_instant_skips_and_repeats_none(h):
    place = await h.place()
    opened = {(await h.open_case(place))["id"] for _ in range(5)}  # the test clock stands still: one instant
    staff = h.staff("grid_manager", place.grid)
    seen: list[str] = []
    url, params = "/api/v1/mediation/cases", {"limit": "2"}
    for _ in range(10):
        page = await h.client.get(url, params=params, headers=staff)
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()]
        if "link" not in page.headers:
            break
        target = page.headers["link"].split(";")[0].strip("<>")
        url, params = target, None
    assert sorted(seen) == sorted(opened) and len(seen) == 5
    alone = await h.client.get("/api/v1/mediation/cases", params={"after_id": next(iter(opened))}, headers=staff)
    assert alone.status_code == 422 and alone.json()["field"] == "after_id"


async def test_a_resident_applies_for_mediation_answers_for_themselves_and_follows_it_up_the_ladder(h):
    place = await h.place()
    applicant = h.token(place.residents["a"], ("resident", place.households["a"]))
    respondent = h.token(place.residents["b"], ("resident", place.households["b"]))
    body = {"place_code": place.grid, "dispute_type": "neighbour", "description": "楼上装修噪音，夜里十点后仍施工。",
            "parties": [{"person_id": place.residents["a"], "role": "applicant"},
                        {"person_id": place.residents["b"], "role": "respondent"}]}
    url = "/api/v1/mediation/cases"
    # Only as the applicant, only in their own community, only at the ladder's first rung.
    not_a_party = {**body, "parties": [{"person_id": place.residents["b"], "role": "applicant"},
                                       {"outside": {"full_name": "王某某"}, "role": "respondent"}]}
    refused = await h.client.post(url, json=not_a_party, headers=applicant)
    assert refused.status_code == 422 and refused.json()["rule"] == "mediation.applicant_not_a_party", refused.text
    elsewhere = await h.client.post(url, json={**body, "place_code": place.street + "999"}, headers=applicant)
    assert elsewhere.status_code == 403 and elsewhere.json()["field"] == "place_code", elsewhere.text
    skipping = await h.client.post(url, json={**body, "level": "community"}, headers=applicant)
    assert skipping.status_code == 422 and skipping.json()["rule"] == "mediation.intake_above_own_level"
    two_applicants = {**body, "parties": [body["parties"][0], {**body["parties"][1], "role": "applicant"}]}
    refused = await h.client.post(url, json=two_applicants, headers=applicant)
    assert refused.status_code == 422 and refused.json()["rule"] == "mediation.applicant_not_a_party"
    # A party's word about the other side is not a police flag: the staff assess the risk.
    risky = await h.client.post(url, json={**body, "risk_indicators": ["weapon"]}, headers=applicant)
    assert risky.status_code == 422 and risky.json()["field"] == "risk_level", risky.text

    applied = await h.client.post(url, json={**body, "refused_mediator_ids": [place.mediators["grid_1"]]},
                                  headers=applicant)
    assert applied.status_code == 201, applied.text
    case = applied.json()
    # The applicant refused a mediator for themselves, not for the respondent.
    async with transaction(h.app.state.sessions) as session:
        refusals = (await session.execute(text(
            "SELECT role, refused_mediator_ids FROM case_party WHERE case_id = :c ORDER BY position"),
            {"c": case["id"]})).all()
    assert [(r.role, [str(m) for m in r.refused_mediator_ids]) for r in refusals] == [
        ("applicant", [place.mediators["grid_1"]]), ("respondent", [])]
    # Applying is the applicant's consent; the respondent is asked for theirs.
    assert (case["status"], case["level"]) == ("consent_pending", "grid")
    assert [(p["role"], p["consent"], p["you"]) for p in case["parties"]] == [
        ("applicant", "given", True), ("respondent", "pending", False)]
    staff_view = (await h.get(case["id"], h.staff("grid_manager", place.grid))).json()
    assert staff_view["parties"][0]["person_id"] == place.residents["a"]  # the grid's staff have the file

    # The respondent answers for themselves, not for the applicant.
    [mine, theirs] = [p["party_id"] for p in case["parties"]][::-1]
    for_other = await h.post(case["id"], "consents", {"party_id": theirs, "decision": "refused"}, respondent)
    assert for_other.status_code == 403 and for_other.json()["field"] == "party_id", for_other.text
    agreed = await h.post(case["id"], "consents", {"party_id": mine, "decision": "given"}, respondent)
    assert agreed.status_code == 200 and agreed.json()["status"] == "mediating", agreed.text
    assert "person_id" not in agreed.json()["parties"][0]

    # The case climbs to the community; both parties still follow it there.
    escalated = await h.post(case["id"], "escalation", {"reason": "网格调解未果"}, h.staff("community_staff", place.community))
    assert escalated.status_code == 200, escalated.text
    for party in (applicant, respondent):
        seen = (await h.get(case["id"], party)).json()
        assert seen["level"] == "community" and [s["to_level"] for s in seen["history"]][-1] == "community"
        assert not {"actor", "reason"} & {k for step in seen["history"] for k in step}

    # The staff's risk assessment stays with them; the agreement the parties sign is shown without the personal data
    # written into it.
    community_staff = h.staff("community_staff", place.community)
    assessed = await h.post(case["id"], "risk", {"risk_level": "high", "risk_indicators": ["threat"]}, community_staff)
    assert assessed.status_code == 200 and assessed.json()["police_flagged"] is True, assessed.text
    parties = [p["party_id"] for p in case["parties"]]
    agreed = await h.post(case["id"], "agreements", {
        "kind": "written", "signed_party_ids": parties, "mediator_signed": True,
        "terms": "王建国赔偿李秀英500元，身份证370705199001011234，住幸福小区3号楼2单元301室"}, community_staff)
    assert agreed.status_code == 201, agreed.text
    seen = (await h.get(case["id"], applicant)).json()
    assert seen["police_flagged"] is None and "assess_risk" not in [step["action"] for step in seen["history"]]
    [terms] = [a["terms"] for a in seen["agreements"]]
    assert "370705199001011234" not in terms and "3号楼2单元301室" not in terms and "赔偿李秀英500元" in terms
    [line] = (await h.client.get(url, headers=applicant)).json()
    assert line["police_flagged"] is None
