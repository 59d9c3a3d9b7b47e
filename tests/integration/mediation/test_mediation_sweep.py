"""The scheduler's sweep, driven by a controllable clock: warnings, automatic escalation, confirmation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from youmin.kit.db import transaction

OPENED = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


async def _signed_in_writing(h, place) -> tuple[dict, dict]:
    """A case opened at the grid on 2 March whose written agreement every party and the mediator signed at once;
    returns it and its grid manager's headers."""
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place)
    await h.consent_all(case, staff)
    parties = [p["party_id"] for p in case["parties"]]
    await h.post(case["id"], "agreements", {"kind": "written", "terms": "t", "signed_party_ids": parties,
                                            "mediator_signed": True}, staff)
    return case, staff


async def file(h, case, place):
    return (await h.get(case["id"], h.staff("district_staff", place.district))).json()


async def escalations(h, case_id: str) -> list[dict]:
    async with transaction(h.app.state.sessions) as session:
        rows = await session.execute(text(
            "SELECT data FROM outbox_event WHERE key = :k AND type LIKE '%escalated%' ORDER BY id"), {"k": case_id})
        return [r.data for r in rows]


async def test_yellow_then_red_warning_then_automatic_escalation_at_the_deadline(h):
    place = await h.place()
    case = await h.open_case(place)  # grid: 5 days, yellow 2 days before, red 24 hours before
    await h.sweep(OPENED + timedelta(days=2, hours=23))
    assert (await file(h, case, place))["warning"] == "none"
    await h.sweep(OPENED + timedelta(days=3))
    assert (await file(h, case, place))["warning"] == "yellow"
    await h.sweep(OPENED + timedelta(days=4))
    body = await file(h, case, place)
    assert body["warning"] == "red"
    assert [w["warning"] for w in body["warnings"]] == ["yellow", "red"]
    await h.sweep(OPENED + timedelta(days=5) - timedelta(seconds=1))
    assert (await file(h, case, place))["level"] == "grid"
    await h.sweep(OPENED + timedelta(days=5))
    body = await file(h, case, place)
    assert (body["level"], body["warning"], body["escalations"]) == ("community", "none", 1)
    assert body["mediator_person_id"] == place.mediators["community"]
    assert body["deadline_at"].startswith("2026-03-14")  # seven days at the community from the escalation
    assert body["history"][-2]["automatic"] is True
    [event] = await escalations(h, case["id"])
    assert (event["from_level"], event["to_level"], event["automatic"]) == ("grid", "community", True)


async def test_overdue_case_climbs_every_rung_and_is_referred_after_the_district(h):
    place = await h.place()
    case = await h.open_case(place)
    now = OPENED
    for expected in ("community", "street", "district"):
        now += timedelta(days=12)  # beyond any single level's limit
        await h.sweep(now)
        assert (await file(h, case, place))["level"] == expected
    now += timedelta(days=12)
    await h.sweep(now)
    body = await file(h, case, place)
    assert (body["status"], body["referred_route"], body["level"]) == ("referred", "litigation", "district")
    assert len(await escalations(h, case["id"])) == 3


async def test_sweep_leaves_a_case_alone_before_anything_is_due(h):
    place = await h.place()
    case = await h.open_case(place)
    await h.sweep(OPENED + timedelta(days=1))
    body = await file(h, case, place)
    assert (body["level"], body["warning"], body["warnings"]) == ("grid", "none", [])


async def test_agreed_case_is_no_longer_escalated(h):
    place = await h.place()
    staff = h.staff("grid_manager", place.grid)
    case = await h.open_case(place)
    await h.consent_all(case, staff)
    await h.post(case["id"], "agreements", {"kind": "oral", "terms": "t", **h.assent(case)}, staff)
    await h.sweep(OPENED + timedelta(days=40))
    body = await file(h, case, place)
    assert (body["status"], body["level"]) == ("agreement_reached", "grid")


async def test_written_agreement_reminds_of_judicial_confirmation_once_and_closes_after_30_days(h):
    place = await h.place()
    case, staff = await _signed_in_writing(h, place)
    await h.sweep(OPENED + timedelta(minutes=1))
    body = await file(h, case, place)
    reminders = [n for n in body["notices"] if n["kind"] == "confirmation_reminder"]
    assert len(reminders) == 1 and reminders[0]["due_on"] == "2026-04-01" and "三十日" in reminders[0]["body"]
    await h.sweep(OPENED + timedelta(days=10))
    assert len([n for n in (await file(h, case, place))["notices"] if n["kind"] == "confirmation_reminder"]) == 1
    # 1 April (CST) is the last day; the case closes as the window passes.
    await h.sweep(datetime(2026, 4, 1, 15, 59, tzinfo=UTC))
    assert (await file(h, case, place))["status"] == "confirmation_pending"
    await h.sweep(datetime(2026, 4, 1, 16, 0, tzinfo=UTC))
    body = await file(h, case, place)
    assert body["status"] == "closed" and body["confirmation"]["outcome"] == "not_applied"
    async with transaction(h.app.state.sessions) as session:
        data = await session.scalar(text(
            "SELECT data FROM outbox_event WHERE key = :k AND type LIKE '%confirmation_recorded%'"), {"k": case["id"]})
    assert data["outcome"] == "not_applied"


async def test_applied_confirmation_is_not_closed_by_the_window(h):
    place = await h.place()
    case, staff = await _signed_in_writing(h, place)
    h.clock.advance(days=5)
    resp = await h.post(case["id"], "confirmation-application", applying(case, "2026-03-07"), staff)
    assert resp.status_code == 200, resp.text
    [applied] = await _applications(h, case)
    assert {k: v for k, v in applied.items() if k != "at"} == {"case_id": case["id"], "place_code": place.grid,
                                                               "applied_on": "2026-03-07", "reopened": False}
    await h.sweep(OPENED + timedelta(days=45))
    assert (await file(h, case, place))["status"] == "confirmation_pending"


async def _applications(h, case: dict) -> list[dict]:
    """The confirmation_applied events of a case, in the outbox."""
    async with transaction(h.app.state.sessions) as session:
        rows = await session.scalars(text(
            "SELECT data FROM outbox_event WHERE key = :k AND type LIKE '%confirmation_applied%' ORDER BY id"),
            {"k": case["id"]})
        return list(rows)


async def test_an_application_made_in_the_window_but_recorded_after_it_reopens_the_closed_case(h):
    place = await h.place()
    case, staff = await _signed_in_writing(h, place)  # signed 2 March: last day 1 April
    await h.sweep(OPENED + timedelta(days=32))
    closed = await file(h, case, place)
    assert (closed["status"], closed["confirmation"]["outcome"]) == ("closed", "not_applied")
    h.clock.set(OPENED + timedelta(days=33))  # the mediator hears of the application on 4 April
    after = await h.post(case["id"], "confirmation-application", applying(case, "2026-04-02"), staff)
    assert after.status_code == 422 and after.json()["rule"] == "mediation.confirmation_window_closed", after.text
    resp = await h.post(case["id"], "confirmation-application", applying(case, "2026-04-01"), staff)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["confirmation"]["outcome"]) == ("confirmation_pending", None)
    # The not_applied published at the close is followed by the application: the case awaits the court again.
    [applied] = await _applications(h, case)
    assert (applied["applied_on"], applied["reopened"]) == ("2026-04-01", True)
    confirmed = await h.post(case["id"], "confirmation", {"outcome": "confirmed"}, staff)
    assert confirmed.json()["status"] == "confirmed", confirmed.text


async def test_sweep_uses_the_configured_time_limits(h):
    from services.mediation.rules.ladder import LadderConfig
    from services.mediation.service import MediationConfig

    original = h.app.state.mediation
    h.app.state.mediation = MediationConfig(ladder=LadderConfig.from_mapping({"time_limit_days": {"grid": 2},
                                                                               "yellow_lead_days": 1, "red_lead_hours": 12}))
    try:
        place = await h.place()
        case = await h.open_case(place)
        assert case["deadline_at"].startswith("2026-03-04")
        await h.sweep(OPENED + timedelta(days=2))
        assert (await file(h, case, place))["level"] == "community"
    finally:
        h.app.state.mediation = original


async def test_background_sweeper_runs_the_sweep_through_the_app(h):
    from services.mediation.scheduler import sweep_until_done

    place = await h.place()
    case = await h.open_case(place)
    h.clock.set(OPENED + timedelta(days=6))
    assert await sweep_until_done(h.app) >= 1
    assert (await file(h, case, place))["level"] == "community"


async def test_a_case_the_sweep_fails_on_is_set_aside_and_the_others_are_swept(h, monkeypatch):
    from services.mediation import service

    place = await h.place()
    broken, fine = await h.open_case(place), await h.open_case(place)
    plain = service._sweep_open

    async def failing_for_one(session, case, now, config, report):
        if str(case.id) == broken["id"]:
            raise RuntimeError("a case the sweep cannot handle")
        await plain(session, case, now, config, report)

    monkeypatch.setattr(service, "_sweep_open", failing_for_one)
    at = OPENED + timedelta(days=3, hours=1)
    await h.sweep(at)
    assert (await file(h, fine, place))["warning"] == "yellow"
    assert (await file(h, broken, place))["warning"] == "none"
    async with transaction(h.app.state.sessions) as session:
        due = await session.scalar(text("SELECT next_due_at FROM mediation_case WHERE id = CAST(:c AS uuid)"),
                                   {"c": broken["id"]})
    assert due == at + service.SWEEP_RETRY_AFTER  # looked at again in an hour, not in every sweep meanwhile


async def test_a_case_the_sweep_meets_a_deadlock_on_is_swept_again_next_round_not_in_an_hour(h, monkeypatch):
    import asyncpg

    from services.mediation import service

    place = await h.place()
    case = await h.open_case(place)
    plain = service._sweep_open
    deadlocks = iter([True, True])  # in the batch, then when the batch is replayed case by case

    async def deadlocked_once(session, swept, now, config, report):
        if str(swept.id) == case["id"] and next(deadlocks, False):
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")  # SQLSTATE 40P01, as with a staff action
        await plain(session, swept, now, config, report)

    monkeypatch.setattr(service, "_sweep_open", deadlocked_once)
    at = OPENED + timedelta(days=3, hours=1)
    async with transaction(h.app.state.sessions) as session:
        await service.sweep(session, at, h.app.state.mediation, batch_size=200)
    assert (await file(h, case, place))["warning"] == "none"
    async with transaction(h.app.state.sessions) as session:
        due = await session.scalar(text("SELECT next_due_at FROM mediation_case WHERE id = CAST(:c AS uuid)"),
                                   {"c": case["id"]})
    assert due <= at  # still due: not set aside for an hour
    await h.sweep(at + timedelta(minutes=1))
    assert (await file(h, case, place))["warning"] == "yellow"


def applying(case: dict, applied_on: str) -> dict:
    """An application for judicial confirmation made jointly by every party of the case on a day."""
    return {"applied_on": applied_on, "applicant_party_ids": [p["party_id"] for p in case["parties"]]}
