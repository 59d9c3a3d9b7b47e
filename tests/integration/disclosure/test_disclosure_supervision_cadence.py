"""Residents' supervision deadlines under a controllable clock, and the cadence compliance report."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime

from disclosure_helpers import PLANTED_NAMES, PLANTED_PHONES, new_community

from services.disclosure.rules.cadence import SHANGHAI
from services.registry import events as registry
from youmin.testing import eventually

POSTED = datetime(2026, 3, 1, 9, tzinfo=SHANGHAI)


async def post_notice(disclosure, unit: str) -> dict:
    resp = await disclosure.client.post(
        "/api/v1/disclosure/items",
        json={"unit_code": unit, "kind": "residents", "category": "notice", "title": "停车位分配方案", "body": "方案见附件。"},
        headers=disclosure.token("community_staff", unit[:12]))
    assert resp.status_code == 201, resp.text
    return resp.json()


def resident(disclosure, community: str) -> dict:
    return disclosure.token("resident", community + "001002010101", sub=f"resident-{uuid.uuid4().hex[:6]}")


async def test_resident_in_scope_can_object_within_five_days(disclosure, clock):
    community = new_community()
    clock.set(POSTED)
    item = await post_notice(disclosure, community)
    clock.set(datetime(2026, 3, 6, 23, 0, tzinfo=SHANGHAI))
    resp = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/questions",
                                        json={"kind": "objection", "body": "分配不公平"},
                                        headers=resident(disclosure, community))
    assert resp.status_code == 201, resp.text
    assert resp.json()["answer_due_at"].startswith("2026-03-12T00:00:00+08:00")


async def test_objection_after_the_window_is_refused_with_the_rule(disclosure, clock):
    community = new_community()
    clock.set(POSTED)
    item = await post_notice(disclosure, community)
    clock.set(datetime(2026, 3, 7, 0, 0, tzinfo=SHANGHAI))
    resp = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/questions",
                                        json={"body": "还能提意见吗"}, headers=resident(disclosure, community))
    assert resp.status_code == 422 and resp.json()["rule"] == "objection_window"


async def test_resident_of_another_community_cannot_object(disclosure, clock):
    community, other = new_community(), new_community()
    clock.set(POSTED)
    item = await post_notice(disclosure, community)
    resp = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/questions",
                                        json={"body": "?"}, headers=resident(disclosure, other))
    assert resp.status_code == 403


async def test_unanswered_question_is_flagged_overdue_by_the_sweep(disclosure, clock):
    community = new_community()
    clock.set(POSTED)
    item = await post_notice(disclosure, community)
    clock.set(datetime(2026, 3, 2, 8, tzinfo=SHANGHAI))
    question = (await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/questions",
                                             json={"body": "经费从哪里出？"},
                                             headers=resident(disclosure, community))).json()
    sweeper = disclosure.token("district_staff", "370705")
    clock.set(datetime(2026, 3, 7, 23, 59, tzinfo=SHANGHAI))
    before = (await disclosure.client.post("/api/v1/disclosure/supervision/sweep", headers=sweeper)).json()
    assert question["id"] not in before["flagged"]
    clock.set(datetime(2026, 3, 8, 0, 0, tzinfo=SHANGHAI))
    after = (await disclosure.client.post("/api/v1/disclosure/supervision/sweep", headers=sweeper)).json()
    assert question["id"] in after["flagged"]
    listed = (await disclosure.client.get("/api/v1/disclosure/questions",
                                          params={"unit_code": community, "overdue_only": True},
                                          headers=disclosure.token("community_staff", community))).json()
    assert [q["id"] for q in listed] == [question["id"]]


async def test_answer_within_five_days_is_not_flagged_and_is_published_redacted(disclosure, clock):
    community = new_community()
    clock.set(POSTED)
    item = await post_notice(disclosure, community)
    clock.set(datetime(2026, 3, 2, 8, tzinfo=SHANGHAI))
    question = (await disclosure.client.post(
        f"/api/v1/disclosure/items/{item['id']}/questions",
        json={"body": f"我是{PLANTED_NAMES[3]}，电话{PLANTED_PHONES[0]}，想问经费来源"},
        headers=resident(disclosure, community))).json()
    clock.set(datetime(2026, 3, 7, 20, tzinfo=SHANGHAI))
    answer = await disclosure.client.post(f"/api/v1/disclosure/questions/{question['id']}/answer",
                                          json={"body": f"由社区工作经费列支，经办人{PLANTED_NAMES[0]}（{PLANTED_PHONES[1]}）"},
                                          headers=disclosure.token("community_staff", community))
    assert answer.status_code == 200 and answer.json()["overdue"] is False
    public = (await disclosure.client.get(f"/public/v1/items/{item['id']}")).json()
    [qa] = public["questions"]
    assert qa["answer"].startswith("由社区工作经费列支") and qa["overdue"] is False
    assert PLANTED_PHONES[0] not in qa["body"] and PLANTED_PHONES[1] not in qa["answer"]
    assert "asked_by" not in qa


async def test_late_answer_stays_flagged(disclosure, clock):
    community = new_community()
    clock.set(POSTED)
    item = await post_notice(disclosure, community)
    question = (await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/questions",
                                             json={"body": "?"}, headers=resident(disclosure, community))).json()
    clock.set(datetime(2026, 3, 9, 9, tzinfo=SHANGHAI))
    answer = await disclosure.client.post(f"/api/v1/disclosure/questions/{question['id']}/answer",
                                          json={"body": "已答复"}, headers=disclosure.token("community_staff", community))
    assert answer.json()["overdue"] is True
    twice = await disclosure.client.post(f"/api/v1/disclosure/questions/{question['id']}/answer",
                                         json={"body": "再答"}, headers=disclosure.token("community_staff", community))
    assert twice.status_code == 409


async def test_cadence_report_lists_communities_overdue_per_kind(disclosure, clock):
    # A made-up district of its own: the report covers every community under the street, and other tests' units
    # (sent by the registry over the shared broker) may lie under any street of 370705.
    district = f"9{random.randrange(10**5):05d}"
    street = district + "030"
    punctual, late, silent = street + "101", street + "102", street + "103"
    stale, noticed = street + "104", street + "105"  # finances: July's statement in November; a notice, no statement
    for code in (street, punctual, late, silent, stale, noticed):
        await disclosure.send(registry.UnitCreated(
            unit_id=uuid.uuid4(), unit_code=code, parent_code=street if code != street else district,
            level="street" if code == street else "community", unit_name=f"社区{code[-3:]}",
            effective_on=date(2026, 1, 1)))

    async def replicated():
        resp = await disclosure.client.get("/public/v1/units", params={"parent": street})
        return len(resp.json()["units"]) == 5

    await eventually(replicated)
    # punctual: everything posted in November; late: finance last posted in September.
    clock.set(datetime(2026, 11, 5, 10, tzinfo=SHANGHAI))
    for kind in ("party", "residents"):
        for code in (punctual, late, stale, noticed):
            await disclosure.client.post(
                "/api/v1/disclosure/items",
                json={"unit_code": code, "kind": kind, "category": "notice", "title": "季度公开", "body": "内容"},
                headers=disclosure.token("community_staff", code))
    await disclosure.client.post("/api/v1/disclosure/finance-statements", headers=disclosure.token("community_staff", punctual),
                                 json={"unit_code": punctual, "period": "2026-10", "lines": [
                                     {"fund_type": "other", "income_cents": 0, "expenditure_cents": 0, "balance_cents": 0}]})
    await disclosure.client.post("/api/v1/disclosure/finance-statements", headers=disclosure.token("community_staff", stale),
                                 json={"unit_code": stale, "period": "2026-07", "lines": [
                                     {"fund_type": "other", "income_cents": 0, "expenditure_cents": 0, "balance_cents": 0}]})
    await disclosure.client.post(
        "/api/v1/disclosure/items", headers=disclosure.token("community_staff", noticed),
        json={"unit_code": noticed, "kind": "finance", "category": "notice", "title": "财务公开说明", "body": "内容"})
    clock.set(datetime(2026, 9, 20, 10, tzinfo=SHANGHAI))
    await disclosure.client.post("/api/v1/disclosure/finance-statements", headers=disclosure.token("community_staff", late),
                                 json={"unit_code": late, "period": "2026-08", "lines": [
                                     {"fund_type": "other", "income_cents": 0, "expenditure_cents": 0, "balance_cents": 0}]})
    clock.set(datetime(2026, 11, 20, 10, tzinfo=SHANGHAI))
    resp = await disclosure.client.get("/api/v1/disclosure/reports/cadence", params={"unit_code": street},
                                       headers=disclosure.token("street_staff", street))
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["compliant"] == [punctual]
    overdue = {row["community_code"]: row["overdue_kinds"] for row in report["overdue"]}
    assert overdue == {late: ["finance"], silent: ["party", "residents", "finance"], stale: ["finance"],
                       noticed: ["finance"]}
    assert report["overdue_by_kind"]["finance"] == [late, silent, stale, noticed]
    assert report["compliance_rate"] == round(1 / 5, 4)


async def test_cadence_report_needs_staff_scope(disclosure):
    community = new_community()
    resp = await disclosure.client.get("/api/v1/disclosure/reports/cadence", params={"unit_code": community},
                                       headers=disclosure.token("resident", community + "0010010101001"))
    assert resp.status_code == 403


async def test_a_meeting_day_in_the_future_or_a_report_day_past_the_boards_years_is_a_422(disclosure):
    from disclosure_helpers import new_community

    community = new_community()
    staff = disclosure.token("community_staff", community)
    body = {"unit_code": community, "kind": "residents", "category": "minutes", "title": "居民会议纪要",
            "body": "议定事项", "major": True}
    future = await disclosure.client.post("/api/v1/disclosure/items", headers=staff, json={**body, "held_on": "9999-12-31"})
    assert future.status_code == 422 and future.json()["field"] == "held_on", future.text
    report = await disclosure.client.get("/api/v1/disclosure/reports/cadence", headers=disclosure.token("district_staff", "370705"),
                                         params={"unit_code": "370705", "as_of": "9999-12-31"})
    assert report.status_code == 422 and report.json()["field"] == "as_of", report.text


async def test_one_person_puts_a_few_questions_to_an_item_not_a_flood(disclosure, clock):
    community = new_community()
    clock.set(POSTED)
    item = await post_notice(disclosure, community)
    clock.set(datetime(2026, 3, 2, 8, tzinfo=SHANGHAI))
    asker = resident(disclosure, community)
    url = f"/api/v1/disclosure/items/{item['id']}/questions"
    codes = [(await disclosure.client.post(url, json={"body": f"第{n}问"}, headers=asker)).status_code for n in range(6)]
    assert codes == [201] * 5 + [422]
    refused = await disclosure.client.post(url, json={"body": "再问"}, headers=asker)
    assert refused.json()["rule"] == "question.limit"
    neighbour = await disclosure.client.post(url, json={"body": "我也问"}, headers=resident(disclosure, community))
    assert neighbour.status_code == 201


async def test_cadence_counts_what_a_community_disclosed_by_the_date_and_kept_up(disclosure, clock):
    community = new_community()
    staff = disclosure.token("community_staff", community)

    async def post(kind: str) -> dict:
        if kind == "finance":  # the month before the clock's
            now = disclosure.clock()
            period = f"{now.year}-{now.month - 1:02d}" if now.month > 1 else f"{now.year - 1}-12"
            resp = await disclosure.client.post("/api/v1/disclosure/finance-statements", headers=staff, json={
                "unit_code": community, "period": period,
                "lines": [{"fund_type": "other", "income_cents": 0, "expenditure_cents": 0, "balance_cents": 0}]})
        else:
            resp = await disclosure.client.post("/api/v1/disclosure/items", headers=staff, json={
                "unit_code": community, "kind": kind, "category": "notice", "title": "公开", "body": "内容"})
        assert resp.status_code == 201, resp.text
        return resp.json()

    async def overdue(as_of: str) -> list[str]:
        resp = await disclosure.client.get("/api/v1/disclosure/reports/cadence", headers=staff,
                                           params={"unit_code": community, "as_of": as_of})
        rows = {r["community_code"]: r["overdue_kinds"] for r in resp.json()["overdue"]}
        return rows.get(community, [])

    clock.set(datetime(2026, 10, 10, 10, tzinfo=SHANGHAI))
    for kind in ("party", "residents", "finance"):
        await post(kind)
    clock.set(datetime(2026, 11, 10, 10, tzinfo=SHANGHAI))
    later = {kind: await post(kind) for kind in ("party", "residents", "finance")}
    # A report for a past day counts what was disclosed by then, though there were posts since.
    assert await overdue("2026-10-20") == []
    # Items taken down at once (personal data) did not stay up: the month's finances count as not disclosed.
    await disclosure.client.post(f"/api/v1/disclosure/items/{later['finance']['id']}/withdraw", headers=staff,
                                 json={"reason": "含身份证号", "personal_data": True})
    clock.set(datetime(2026, 12, 10, 10, tzinfo=SHANGHAI))
    assert await overdue("2026-12-10") == ["finance"]


async def test_a_retired_community_leaves_the_cadence_report(disclosure, clock):
    # A made-up district of this test's own: the run's other tests publish units under Kuiwen's streets, and the report
    # lists every community under the street.
    street = f"9{random.randrange(10**5):05d}001"
    active, retired = (street + f"{n:03d}" for n in random.sample(range(100, 200), 2))
    retired_id = uuid.uuid4()
    for code, unit_id in ((street, uuid.uuid4()), (active, uuid.uuid4()), (retired, retired_id)):
        await disclosure.send(registry.UnitCreated(
            unit_id=unit_id, unit_code=code, parent_code=None if code == street else street,
            level="street" if code == street else "community", unit_name=f"社区{code[-3:]}",
            effective_on=date(2026, 1, 1)))

    async def listed(codes: set[str]):
        resp = await disclosure.client.get("/public/v1/units", params={"parent": street})
        return {u["code"] for u in resp.json()["units"]} == codes or None

    await eventually(lambda: listed({active, retired}))
    clock.set(datetime(2026, 11, 5, 10, tzinfo=SHANGHAI))
    for kind in ("party", "residents"):
        await disclosure.client.post(
            "/api/v1/disclosure/items", headers=disclosure.token("community_staff", active),
            json={"unit_code": active, "kind": kind, "category": "notice", "title": "季度公开", "body": "内容"})
    await disclosure.client.post(
        "/api/v1/disclosure/finance-statements", headers=disclosure.token("community_staff", active),
        json={"unit_code": active, "period": "2026-10",
              "lines": [{"fund_type": "other", "income_cents": 0, "expenditure_cents": 0, "balance_cents": 0}]})
    # The retiring community disclosed once: its items stay, and used to keep it in the report.
    await post_notice(disclosure, retired)
    await disclosure.send(registry.UnitRetired(unit_id=retired_id, unit_code=retired, effective_on=date(2026, 11, 10)))
    await eventually(lambda: listed({active}))

    clock.set(datetime(2026, 11, 20, 10, tzinfo=SHANGHAI))

    async def report(scope: str) -> dict:
        resp = await disclosure.client.get("/api/v1/disclosure/reports/cadence", params={"unit_code": scope},
                                           headers=disclosure.token("street_staff", street))
        assert resp.status_code == 200, resp.text
        return resp.json()

    # Without the retired community the street is fully up to date (it was overdue on party affairs and finances).
    by_street = await report(street)
    assert by_street["overdue"] == [] and by_street["compliant"] == [active]
    assert by_street["compliance_rate"] == 1.0
    by_itself = await report(retired)
    assert by_itself["overdue"] == [] and by_itself["compliant"] == []
