"""Every ladder transition and refusal through the API."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import text

from youmin.kit.calendar import LOCAL_TZ
from youmin.kit.db import transaction


async def events_of(h, case_id: str) -> list[dict]:
    async with transaction(h.app.state.sessions) as session:
        rows = await session.execute(text("SELECT type, data FROM outbox_event WHERE key = :k ORDER BY id"),
                                     {"k": case_id})
        return [{"type": r.type.removeprefix("gov.youmin.mediation.case."), **r.data} for r in rows]


async def mediating_case(h, place):
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place)
    case = await h.consent_all(case, staff)
    assert case["status"] == "mediating"
    return case, staff


async def awaiting_confirmation(h, place):
    """A mediated case whose written agreement every party and the mediator signed: confirmation pending."""
    case, staff = await mediating_case(h, place)
    parties = [p["party_id"] for p in case["parties"]]
    resp = await h.post(case["id"], "agreements", {"kind": "written", "terms": "赔偿500元", "signed_party_ids": parties,
                                                   "mediator_signed": True}, staff)
    assert resp.status_code == 201, resp.text
    return case, staff


async def test_consent_of_one_party_waits_for_the_other(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place)
    resp = await h.post(case["id"], "consents", {"party_id": case["parties"][0]["party_id"], "decision": "given"}, staff)
    assert resp.json()["status"] == "consent_pending"
    resp = await h.post(case["id"], "consents", {"party_id": case["parties"][1]["party_id"], "decision": "given"}, staff)
    assert resp.json()["status"] == "mediating"


async def test_party_refusing_consent_ends_mediation_and_is_told_the_other_routes(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place)
    resp = await h.post(case["id"], "consents", {"party_id": case["parties"][1]["party_id"], "decision": "refused"}, staff)
    body = resp.json()
    assert body["status"] == "terminated"
    assert body["termination_reason"] == "consent_refused"
    assert body["notices"][0]["kind"] == "other_routes" and "诉讼" in body["notices"][0]["body"]
    assert body["allowed_actions"] == []
    terminated = (await events_of(h, case["id"]))[-1]
    assert terminated["type"] == "terminated.v1" and terminated["reason_code"] == "consent_refused"


async def test_party_withdrawing_during_mediation_ends_it(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    resp = await h.post(case["id"], "consents", {"party_id": case["parties"][0]["party_id"], "decision": "refused"}, staff)
    assert resp.json()["status"] == "terminated"


async def test_consent_on_a_terminated_case_is_a_409_listing_allowed_actions(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place)
    await h.post(case["id"], "consents", {"party_id": case["parties"][0]["party_id"], "decision": "refused"}, staff)
    resp = await h.post(case["id"], "consents", {"party_id": case["parties"][1]["party_id"], "decision": "given"}, staff)
    assert resp.status_code == 409
    assert resp.json()["allowed"] == []


async def test_consent_of_a_stranger_is_a_422(h):
    place = await h.place()
    case = await h.open_case(place)
    resp = await h.post(case["id"], "consents", {"party_id": place.residents["c"], "decision": "given"},
                        h.staff("grid_manager", place.grid))
    assert resp.status_code == 422 and resp.json()["rule"] == "mediation.unknown_party"


async def test_session_before_consent_is_a_409(h):
    place = await h.place()
    case = await h.open_case(place)
    resp = await h.post(case["id"], "sessions", {"held_on": "2026-03-02", "summary": "s",
                                                 "attendee_party_ids": [case["parties"][0]["party_id"]]},
                        h.staff("grid_manager", place.grid))
    assert resp.status_code == 409
    assert "give_consent" in resp.json()["allowed"]


async def test_sessions_are_recorded_with_date_attendees_and_summary(h):
    place = await h.place()
    case, _ = await mediating_case(h, place)
    mediator = h.mediator(case["mediator_person_id"], place.grid)
    attendees = [p["party_id"] for p in case["parties"]]
    resp = await h.post(case["id"], "sessions", {"held_on": "2026-03-02", "attendee_party_ids": attendees,
                                                 "summary": "双方陈述事实"}, mediator)
    assert resp.status_code == 201, resp.text
    file = (await h.get(case["id"], mediator)).json()
    assert file["sessions"][0]["attendee_party_ids"] == attendees
    assert file["sessions"][0]["summary"] == "双方陈述事实"
    assert file["sessions"][0]["mediator_person_ids"] == [case["mediator_person_id"]]


async def test_written_agreement_missing_a_signature_is_refused(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    resp = await h.post(case["id"], "agreements", {"kind": "written", "terms": "赔偿500元",
                                                   "signed_party_ids": [case["parties"][0]["party_id"]],
                                                   "mediator_signed": True}, staff)
    assert resp.status_code == 422
    assert resp.json()["rule"] == "mediation.agreement_unsigned"
    assert resp.json()["missing"] == [case["parties"][1]["party_id"]]
    assert (await h.get(case["id"], staff)).json()["status"] == "mediating"  # nothing half-written


async def test_written_agreement_signed_by_all_awaits_confirmation_then_is_confirmed_and_closed(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    parties = [p["party_id"] for p in case["parties"]]
    resp = await h.post(case["id"], "agreements", {"kind": "written", "terms": "赔偿500元",
                                                   "signed_party_ids": parties, "mediator_signed": True}, staff)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "confirmation_pending"
    assert body["resolved_level"] == "grid"
    assert body["confirmation"]["last_day"] == "2026-04-01"
    assert sorted(body["agreements"][0]["signer_ids"]) == sorted([*parties, case["mediator_person_id"]])
    resp = await h.post(case["id"], "confirmation", {"outcome": "confirmed"}, staff)
    assert resp.status_code == 422 and resp.json()["rule"] == "mediation.confirmation_not_applied"
    resp = await h.post(case["id"], "confirmation-application", applying(case, "2026-03-02"), staff)
    assert resp.status_code == 200, resp.text
    resp = await h.post(case["id"], "confirmation", {"outcome": "confirmed"}, staff)
    assert resp.json()["status"] == "confirmed"
    assert (await h.post(case["id"], "closure", None, staff)).json()["status"] == "closed"
    kinds = [e["type"] for e in await events_of(h, case["id"])]
    assert kinds[-3:] == ["agreement_reached.v1", "confirmation_applied.v1", "confirmation_recorded.v1"]


async def test_one_party_going_to_court_alone_is_no_joint_application(h):
    place = await h.place()
    case, staff = await awaiting_confirmation(h, place)
    alone = await h.post(case["id"], "confirmation-application",
                         {"applied_on": "2026-03-02", "applicant_party_ids": [case["parties"][0]["party_id"]]}, staff)
    assert alone.status_code == 422 and alone.json()["field"] == "applicant_party_ids", alone.text
    assert alone.json()["missing"] == [case["parties"][1]["party_id"]]
    file = (await h.get(case["id"], staff)).json()
    assert file["status"] == "confirmation_pending" and file["confirmation"]["applied_on"] is None
    assert (await h.post(case["id"], "confirmation-application", applying(case, "2026-03-02"), staff)).status_code == 200


async def test_confirmation_refused_by_the_court_allows_mediating_again(h):
    place = await h.place()
    case, staff = await awaiting_confirmation(h, place)
    parties = [p["party_id"] for p in case["parties"]]
    await h.post(case["id"], "confirmation-application", applying(case, "2026-03-02"), staff)
    resp = await h.post(case["id"], "confirmation", {"outcome": "refused"}, staff)
    assert resp.json()["status"] == "confirmation_refused"
    resp = await h.post(case["id"], "sessions", {"held_on": "2026-03-02", "attendee_party_ids": parties,
                                                 "summary": "修改协议"}, staff)
    assert resp.status_code == 201
    file = (await h.get(case["id"], staff)).json()
    assert file["status"] == "mediating" and file["level"] == "grid"
    # Unresolved again, and back on the ladder with a new time limit: the sweep hands it up when that runs out.
    assert file["resolved_at"] is None and file["confirmation"]["outcome"] is None
    assert datetime.fromisoformat(file["deadline_at"]) == h.clock() + timedelta(days=5)
    await h.sweep(h.clock() + timedelta(days=5, minutes=1))
    assert (await h.get(case["id"], h.staff("community_staff", place.community))).json()["level"] == "community"


async def test_a_party_who_will_not_mediate_again_after_the_court_refused_ends_the_case(h):
    place = await h.place()
    case, staff = await awaiting_confirmation(h, place)
    await h.post(case["id"], "confirmation-application", applying(case, "2026-03-02"), staff)
    assert (await h.post(case["id"], "confirmation", {"outcome": "refused"}, staff)).json()["status"] == \
        "confirmation_refused"
    party = case["parties"][1]["party_id"]
    refused = await h.post(case["id"], "consents", {"party_id": party, "decision": "refused"}, staff)
    assert refused.status_code == 200, refused.text
    assert (refused.json()["status"], refused.json()["termination_reason"]) == ("terminated", "consent_refused")
    file = (await h.get(case["id"], staff)).json()
    assert any(n["kind"] == "other_routes" for n in file["notices"])
    again = await h.post(case["id"], "sessions", {"held_on": "2026-03-02", "attendee_party_ids": [party],
                                                  "summary": "再次调解"}, staff)
    assert again.status_code == 409


async def test_a_case_the_court_refused_to_confirm_is_listed_overdue_once_its_levels_time_runs_out(h):
    place = await h.place()
    case, staff = await awaiting_confirmation(h, place)
    await h.post(case["id"], "confirmation-application", applying(case, "2026-03-02"), staff)
    refused = await h.post(case["id"], "confirmation", {"outcome": "refused"}, staff)
    assert datetime.fromisoformat(refused.json()["deadline_at"]) == h.clock() + timedelta(days=5)
    await h.sweep(h.clock() + timedelta(days=4))
    assert (await h.get(case["id"], staff)).json()["warning"] == "none"
    await h.sweep(h.clock() + timedelta(days=5, minutes=1))
    file = (await h.get(case["id"], staff)).json()
    assert (file["status"], file["warning"]) == ("confirmation_refused", "overdue")  # flagged, not moved on
    listed = await h.client.get("/api/v1/mediation/cases", params={"warning": "overdue", "limit": 500},
                                headers=h.staff("community_staff", place.community))
    assert case["id"] in {c["id"] for c in listed.json()}


async def test_oral_agreement_records_every_assent_needs_no_confirmation_and_closes(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    unassented = await h.post(case["id"], "agreements", {"kind": "oral", "terms": "互相道歉"}, staff)
    assert unassented.status_code == 422 and unassented.json()["rule"] == "mediation.agreement_unsigned"
    assert len(unassented.json()["missing"]) == len(case["parties"]) + 1
    resp = await h.post(case["id"], "agreements", {"kind": "oral", "terms": "互相道歉", **h.assent(case)}, staff)
    assert resp.status_code == 201 and resp.json()["status"] == "agreement_reached"
    assert resp.json()["confirmation"]["last_day"] is None
    assert (await h.post(case["id"], "closure", None, staff)).json()["status"] == "closed"
    reached = [e for e in await events_of(h, case["id"]) if e["type"] == "agreement_reached.v1"][0]
    assert reached["agreement_kind"] == "oral" and reached["level"] == "grid"


async def test_breach_of_a_closed_agreement_reopens_the_case_to_the_legal_route(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    await h.post(case["id"], "agreements", {"kind": "oral", "terms": "t", **h.assent(case)}, staff)
    await h.post(case["id"], "closure", None, staff)
    resp = await h.post(case["id"], "breach", {"party_id": case["parties"][1]["party_id"], "route": "litigation",
                                               "reason": "未按期赔偿"}, staff)
    assert resp.json()["status"] == "reopened_to_legal"
    assert resp.json()["referred_route"] == "litigation"
    referred = (await events_of(h, case["id"]))[-1]
    assert referred["type"] == "referred.v1" and referred["route"] == "litigation"


async def test_a_broken_agreement_the_court_confirmed_goes_to_enforcement_not_to_a_new_lawsuit(h):
    place = await h.place()
    case, staff = await awaiting_confirmation(h, place)
    await h.post(case["id"], "confirmation-application", applying(case, "2026-03-02"), staff)
    assert (await h.post(case["id"], "confirmation", {"outcome": "confirmed"}, staff)).status_code == 200
    party = case["parties"][1]["party_id"]
    sued = await h.post(case["id"], "breach", {"party_id": party, "route": "litigation", "reason": "未付款"}, staff)
    assert sued.status_code == 422 and sued.json()["field"] == "route", sued.text
    resp = await h.post(case["id"], "breach", {"party_id": party, "reason": "未付款"}, staff)
    assert resp.status_code == 200, resp.text
    assert resp.json()["referred_route"] == "enforcement"
    assert "申请强制执行" in resp.json()["notices"][-1]["body"]


async def test_a_labour_dispute_goes_to_arbitration_before_any_court(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.consent_all(await h.open_case(place, dispute_type="labour"), staff)
    sued = await h.post(case["id"], "referral", {"route": "litigation"}, h.staff("community_staff", place.community))
    assert sued.status_code == 422 and sued.json()["rule"] == "mediation.route_not_open", sued.text
    resp = await h.post(case["id"], "referral", {"route": "arbitration"}, h.staff("community_staff", place.community))
    assert resp.status_code == 200 and resp.json()["referred_route"] == "arbitration", resp.text
    # A labour agreement broken goes to arbitration, and the parties are told so.
    labour = await h.consent_all(await h.open_case(place, dispute_type="labour"), staff)
    await h.post(labour["id"], "agreements", {"kind": "oral", "terms": "补发工资", **h.assent(labour)}, staff)
    broken = await h.post(labour["id"], "breach", {"party_id": labour["parties"][1]["party_id"], "reason": "未补发"},
                          staff)
    assert broken.status_code == 200 and broken.json()["referred_route"] == "arbitration", broken.text
    assert "申请仲裁" in broken.json()["notices"][-1]["body"]
    # An unconfirmed agreement is not enforced by a court.
    other, staff = await mediating_case(h, await h.place())
    await h.post(other["id"], "agreements", {"kind": "oral", "terms": "t", **h.assent(other)}, staff)
    enforced = await h.post(other["id"], "breach", {"party_id": other["parties"][1]["party_id"], "route": "enforcement",
                                                    "reason": "x"}, staff)
    assert enforced.status_code == 422 and enforced.json()["field"] == "route"


async def test_mediating_again_after_the_court_refused_takes_a_mediator_who_still_serves(h):
    from mediation_places import cloud_event
    from services.mediation.consumers import ROLE_REVOKED, mediation_consumers
    from services.registry.events import RoleRevoked

    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.consent_all(await h.open_case(place, parties=[{"person_id": place.residents["b"]},
                                                                 {"person_id": place.residents["c"]}]), staff)
    parties = [p["party_id"] for p in case["parties"]]
    signed = await h.post(case["id"], "agreements", {"kind": "written", "terms": "赔偿500元", "signed_party_ids": parties,
                                                     "mediator_signed": True}, staff)
    assert signed.status_code == 201, signed.text
    await h.post(case["id"], "confirmation-application", applying(case, "2026-03-02"), staff)
    assert (await h.post(case["id"], "confirmation", {"outcome": "refused"}, staff)).status_code == 200
    mediator = case["mediator_person_id"]
    async with transaction(h.app.state.sessions) as session:
        grant_id = await session.scalar(text("SELECT grant_id FROM replica_grant WHERE person_id = CAST(:p AS uuid) "
                                             "AND role = 'mediator'"), {"p": mediator})
    [replica_spec] = [c for c in mediation_consumers(h.app.state.mediation, h.clock) if c.name == "mediation-replica"]
    revoked = cloud_event(RoleRevoked(grant_id=grant_id, person_id=uuid.UUID(mediator), role="mediator",
                                      scope_code=place.grid, effective_on=date(2026, 3, 3)))
    async with transaction(h.app.state.sessions) as session:
        await replica_spec.handlers[ROLE_REVOKED](session, revoked)
    assert (await h.get(case["id"], staff)).json()["mediator_person_id"] is None
    today = h.clock().astimezone(LOCAL_TZ).date().isoformat()
    held = await h.post(case["id"], "sessions", {"held_on": today, "attendee_party_ids": [
        p["party_id"] for p in case["parties"]], "summary": "重新调解"}, staff)
    assert held.status_code == 201, held.text
    assert mediator not in held.json()["mediator_person_ids"]
    assert (await h.get(case["id"], staff)).json()["mediator_person_id"] not in (None, mediator)


async def test_breach_while_mediating_is_a_409(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    resp = await h.post(case["id"], "breach", {"party_id": case["parties"][1]["party_id"], "reason": "x"}, staff)
    assert resp.status_code == 409


async def test_staff_escalate_with_a_reason_and_the_whole_file_goes_up(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    parties = [p["party_id"] for p in case["parties"]]
    await h.post(case["id"], "sessions", {"held_on": "2026-03-02", "attendee_party_ids": parties, "summary": "s1"},
                 staff)
    resp = await h.post(case["id"], "escalation", {"reason": "涉及多户，网格难以协调"}, staff)
    assert resp.status_code == 200, resp.text
    assert resp.json()["level"] == "community"
    # Grid staff no longer see it; the community's staff see the whole file.
    assert (await h.get(case["id"], staff)).status_code == 404
    file = (await h.get(case["id"], h.staff("community_staff", place.community))).json()
    assert file["status"] == "mediating" and file["escalations"] == 1
    assert len(file["sessions"]) == 1 and len(file["parties"]) == 2
    assert file["mediator_person_id"] == place.mediators["community"]
    escalated = [e for e in await events_of(h, case["id"]) if e["type"] == "escalated.v1"][0]
    assert (escalated["from_level"], escalated["to_level"], escalated["automatic"]) == ("grid", "community", False)


async def test_an_escalation_meant_for_a_level_the_case_has_left_is_a_409(h):
    # Staff looked at the grid case; meanwhile it went up to the community (the sweep, or another click). Their request
    # says which level they meant, and does not hand the case up a second time.
    place = await h.place()
    case, staff = await mediating_case(h, place)
    community = h.staff("community_staff", place.community)
    first = await h.post(case["id"], "escalation", {"reason": "到期", "from_level": "grid"}, community)
    assert first.status_code == 200 and first.json()["level"] == "community", first.text
    again = await h.post(case["id"], "escalation", {"reason": "到期", "from_level": "grid"}, community)
    assert again.status_code == 409 and again.json()["rule"] == "mediation.level_changed", again.text
    assert (await h.get(case["id"], community)).json()["level"] == "community"


async def test_escalation_without_a_reason_is_a_422_naming_the_field(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    resp = await h.post(case["id"], "escalation", {"reason": "  "}, staff)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "reason"


async def test_staff_may_skip_a_level_with_a_reason(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    resp = await h.post(case["id"], "escalation", {"reason": "群体性纠纷", "to_level": "street"}, staff)
    assert resp.json()["level"] == "street"


async def test_a_case_never_goes_back_down(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    await h.post(case["id"], "escalation", {"reason": "r"}, staff)
    resp = await h.post(case["id"], "escalation", {"reason": "r", "to_level": "grid"},
                        h.staff("community_staff", place.community))
    assert resp.status_code == 422 and resp.json()["rule"] == "mediation.no_downward"


async def test_every_rung_up_to_the_district_then_escalation_is_refused_and_referral_remains(h):
    place = await h.place()
    case, _ = await mediating_case(h, place)
    admin = h.staff("district_staff", place.district)
    for expected in ("community", "street", "district"):
        resp = await h.post(case["id"], "escalation", {"reason": "r"}, admin)
        assert resp.json()["level"] == expected
        assert resp.json()["mediator_person_id"] == place.mediators[expected]
    resp = await h.post(case["id"], "escalation", {"reason": "r"}, admin)
    assert resp.status_code == 409
    assert "escalate" not in resp.json()["allowed"] and "refer" in resp.json()["allowed"]
    resp = await h.post(case["id"], "referral", {"route": "arbitration"}, admin)
    assert resp.json()["status"] == "referred" and resp.json()["referred_route"] == "arbitration"
    assert resp.json()["notices"][-1]["kind"] == "other_routes"


async def test_referral_of_an_unknown_route_is_a_422(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    resp = await h.post(case["id"], "referral", {"route": "duel"}, staff)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "route"


async def test_escalating_a_referred_case_is_a_409(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    await h.post(case["id"], "referral", {"route": "litigation"}, staff)
    resp = await h.post(case["id"], "escalation", {"reason": "r"}, staff)
    assert resp.status_code == 409 and resp.json()["allowed"] == []


async def test_risk_reassessment_flags_the_police_once(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    resp = await h.post(case["id"], "risk", {"risk_level": "high", "risk_indicators": ["threat"]}, staff)
    assert resp.json()["police_flagged"] is True
    resp = await h.post(case["id"], "risk", {"risk_level": "high", "risk_indicators": ["threat"]}, staff)
    async with transaction(h.app.state.sessions) as session:
        n = await session.scalar(text("SELECT count(*) FROM police_notification WHERE case_id = CAST(:c AS uuid)"),
                                 {"c": case["id"]})
    assert n == 1


async def test_confirmation_application_after_the_window_is_refused(h):
    place = await h.place()
    case, staff = await awaiting_confirmation(h, place)
    h.clock.advance(days=40)
    resp = await h.post(case["id"], "confirmation-application", applying(case, str(date(2026, 4, 10))), staff)
    assert resp.status_code == 422 and resp.json()["rule"] == "mediation.confirmation_window_closed"


async def test_a_mediator_hands_a_case_one_level_up_but_cannot_skip_levels(h):
    place = await h.place()
    case, _ = await mediating_case(h, place)
    assert case["mediator_person_id"], case
    mediator = h.mediator(case["mediator_person_id"], place.grid)
    skipped = await h.post(case["id"], "escalation", {"reason": "想直接到区里", "to_level": "district"}, mediator)
    assert skipped.status_code == 422 and skipped.json()["rule"] == "mediation.skip_requires_staff_reason", skipped.text
    assert skipped.json()["field"] == "to_level"
    one_up = await h.post(case["id"], "escalation", {"reason": "调解不成"}, mediator)
    assert one_up.status_code == 200 and one_up.json()["level"] == "community", one_up.text


async def test_a_dispute_is_taken_in_above_its_lowest_level_only_by_staff_of_that_level(h):
    place = await h.place()
    refused = await h.client.post("/api/v1/mediation/cases", headers=h.staff("grid_manager", place.grid), json={
        "place_code": place.grid, "level": "district", "dispute_type": "neighbour", "description": "楼上漏水。",
        "parties": [{"person_id": place.residents["a"], "role": "applicant"},
                    {"person_id": place.residents["b"], "role": "respondent"}]})
    assert refused.status_code == 422 and refused.json()["rule"] == "mediation.intake_above_own_level", refused.text
    assert refused.json()["field"] == "level"
    taken = await h.open_case(place, headers=h.staff("street_staff", place.street), level="street")
    assert taken["level"] == "street"


async def test_a_session_is_held_between_the_cases_opening_and_today_in_china(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)
    parties = [p["party_id"] for p in case["parties"]]
    opened = datetime.fromisoformat(case["opened_at"]).astimezone(LOCAL_TZ).date()
    for held_on, rule in ((opened + timedelta(days=1), "mediation.session_in_future"),
                          (opened - timedelta(days=1), "mediation.session_before_case")):
        resp = await h.post(case["id"], "sessions", {"held_on": held_on.isoformat(), "attendee_party_ids": parties,
                                                     "summary": "s"}, staff)
        assert resp.status_code == 422 and resp.json()["rule"] == rule and resp.json()["field"] == "held_on", resp.text


async def test_whoever_hands_a_case_up_beyond_their_sight_gets_its_listing_line_not_its_file(h):
    place = await h.place()
    case, _ = await mediating_case(h, place)
    mediator = h.mediator(case["mediator_person_id"], place.grid)
    up = await h.post(case["id"], "escalation", {"reason": "调解不成"}, mediator)
    assert up.status_code == 200 and up.json()["level"] == "community", up.text
    assert "parties" not in up.json() and "description" not in up.json()
    assert (await h.get(case["id"], mediator)).status_code == 404
    supervisor = await h.post(case["id"], "escalation", {"reason": "再上一级"}, h.staff("street_staff", place.street))
    assert "parties" in supervisor.json()  # staff who still see it get the file


async def test_a_case_awaiting_judicial_confirmation_is_not_closed_by_hand(h):
    # The 30-day window for the parties, then the court's answer, decide; closing by hand took both away.
    place = await h.place()
    case, staff = await awaiting_confirmation(h, place)
    in_window = await h.post(case["id"], "closure", None, staff)
    assert in_window.status_code == 409 and in_window.json()["last_day"] == "2026-04-01", in_window.text
    await h.post(case["id"], "confirmation-application", applying(case, "2026-03-02"), staff)
    applied = await h.post(case["id"], "closure", None, staff)
    assert applied.status_code == 409, applied.text
    assert (await h.post(case["id"], "confirmation", {"outcome": "confirmed"}, staff)).json()["status"] == "confirmed"
    assert (await h.post(case["id"], "closure", None, staff)).json()["status"] == "closed"


async def test_closing_by_hand_once_the_window_passed_records_it_as_the_sweep_would(h):
    place = await h.place()
    case, staff = await awaiting_confirmation(h, place)
    h.clock.set(datetime(2026, 4, 2, 1, 0, tzinfo=LOCAL_TZ))  # 2 April in China: the window closed with 1 April
    closed = await h.post(case["id"], "closure", None, staff)
    assert closed.status_code == 200 and closed.json()["confirmation"]["outcome"] == "not_applied"
    recorded = [e for e in await events_of(h, case["id"]) if e["type"] == "confirmation_recorded.v1"]
    assert [e["outcome"] for e in recorded] == ["not_applied"]


async def test_a_case_mediated_again_is_warned_again_and_does_not_stop_the_sweep_for_others(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case_a, _ = await mediating_case(h, place)
    case_b = await h.open_case(place)
    opened = h.clock()
    await h.sweep(opened + timedelta(days=3, hours=1))  # both yellow at the grid
    parties = [p["party_id"] for p in case_a["parties"]]
    await h.post(case_a["id"], "agreements", {"kind": "written", "terms": "t", "signed_party_ids": parties,
                                              "mediator_signed": True}, staff)
    await h.post(case_a["id"], "confirmation-application", applying(case_a, "2026-03-02"), staff)
    refused = await h.post(case_a["id"], "confirmation", {"outcome": "refused"}, staff)
    assert refused.json()["resolved_at"] is None  # the court refused it: not resolved
    h.clock.set(opened + timedelta(days=3, hours=2))
    assert (await h.post(case_a["id"], "sessions", {"held_on": "2026-03-05", "attendee_party_ids": parties,
                                                    "summary": "重新调解"}, staff)).status_code == 201
    await h.sweep(opened + timedelta(days=6, hours=3))
    # B's time at the grid ran out: handed up. A, in its new stay at the grid, is warned yellow once more.
    community = h.staff("community_staff", place.community)
    assert (await h.get(case_b["id"], community)).json()["level"] == "community"
    assert (await h.get(case_a["id"], staff)).json()["warning"] == "yellow"
    async with transaction(h.app.state.sessions) as session:
        warnings = await session.scalar(text("SELECT count(*) FROM case_warning WHERE case_id = CAST(:c AS uuid)"
                                             " AND warning = 'yellow'"), {"c": case_a["id"]})
    assert warnings == 2


async def test_whoever_takes_a_case_in_without_sight_of_it_gets_its_listing_line(h):
    place = await h.place()
    street_mediator = h.mediator(place.mediators["street"], place.street)
    resp = await h.client.post("/api/v1/mediation/cases", headers=street_mediator, json={
        "place_code": place.grid, "dispute_type": "neighbour", "description": "楼上漏水",
        "parties": [{"person_id": place.residents["a"]}, {"person_id": place.residents["b"]}]})
    assert resp.status_code == 201, resp.text
    assert "parties" not in resp.json() and "description" not in resp.json()
    assert (await h.get(resp.json()["id"], street_mediator)).status_code == 404


async def test_a_paper_agreement_entered_later_counts_the_confirmation_window_from_its_signing(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)  # opened on 2 March (China Standard Time)
    parties = [p["party_id"] for p in case["parties"]]
    h.clock.advance(days=3)  # entered on 5 March
    written = {"kind": "written", "terms": "赔偿500元", "signed_party_ids": parties, "mediator_signed": True}
    for signed_on in ("2026-03-01", "2026-03-06"):  # before the case was opened; tomorrow
        resp = await h.post(case["id"], "agreements", {**written, "signed_on": signed_on}, staff)
        assert resp.status_code == 422, resp.text
        assert (resp.json()["rule"], resp.json()["field"]) == ("mediation.signed_on_out_of_range", "signed_on")
    oral = await h.post(case["id"], "agreements", {"kind": "oral", "terms": "互相谅解", "signed_on": "2026-03-03"},
                        staff)
    assert oral.status_code == 422 and oral.json()["field"] == "signed_on", oral.text
    resp = await h.post(case["id"], "agreements", {**written, "signed_on": "2026-03-03"}, staff)
    assert resp.status_code == 201, resp.text
    assert resp.json()["confirmation"]["last_day"] == "2026-04-02"  # 30 days from the signing, not from the entry
    late = await h.post(case["id"], "confirmation-application", applying(case, "2026-03-02"), staff)
    assert late.status_code == 422 and late.json()["rule"] == "mediation.confirmation_window_closed", late.text
    assert (await h.post(case["id"], "confirmation-application", applying(case, "2026-03-04"), staff)).status_code == 200


async def test_a_paper_agreement_signed_before_the_sweep_handed_the_case_up_is_the_lower_levels(h):
    place = await h.place()
    case, staff = await mediating_case(h, place)  # opened on 2 March (China Standard Time), at the grid
    grid_mediator = case["mediator_person_id"]
    parties = [p["party_id"] for p in case["parties"]]
    await h.sweep(h.clock() + timedelta(days=6))  # the grid's time ran out: the case is the community's
    h.clock.advance(days=6)
    moved = (await h.get(case["id"], h.staff("street_staff", place.street))).json()
    assert moved["level"] == "community" and moved["mediator_person_id"] != grid_mediator
    # Signed at the grid on 5 March, entered by the street's staff on 8 March.
    resp = await h.post(case["id"], "agreements", {"kind": "written", "terms": "赔偿500元", "signed_party_ids": parties,
                                                   "mediator_signed": True, "signed_on": "2026-03-05"},
                        h.staff("street_staff", place.street))
    assert resp.status_code == 201, resp.text
    assert resp.json()["resolved_level"] == "grid"
    [agreement] = resp.json()["agreements"]
    assert agreement["level"] == "grid" and agreement["mediator_person_id"] == grid_mediator
    reached = [e for e in await events_of(h, case["id"]) if e["type"] == "agreement_reached.v1"][-1]
    assert reached["level"] == "grid"


def applying(case: dict, applied_on: str) -> dict:
    """An application for judicial confirmation made jointly by every party of the case on a day."""
    return {"applied_on": applied_on, "applicant_party_ids": [p["party_id"] for p in case["parties"]]}
