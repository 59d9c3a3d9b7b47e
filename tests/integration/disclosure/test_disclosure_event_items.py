"""Items, public progress and statistics built from each upstream event type sent through the broker."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta

from disclosure_helpers import new_community, new_street
from sqlalchemy import text

from services.matters import events as matters
from services.mediation import events as mediation
from services.registry import events as registry
from youmin.testing import eventually

NOW = datetime.now(UTC)


async def items_of(disclosure, unit: str, **params) -> list[dict]:
    resp = await disclosure.client.get("/public/v1/items", params={"unit": unit, "limit": 200, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def wait_items(disclosure, unit: str, count: int = 1, **params) -> list[dict]:
    async def check():
        items = await items_of(disclosure, unit, **params)
        return items if len(items) >= count else None

    return await eventually(check, timeout=30)


def decided(matter_id, community, unit=None, passed=True, at=NOW, title="修缮3号楼雨棚"):
    return matters.MatterDecided(
        matter_id=matter_id, community_code=community, unit_code=unit or community, category="facilities",
        channel="residents_meeting", public_title=title, rule_version="urco-2018", quorum_met=True, passed=passed,
        base_size=120, present=80, votes_for=61 if passed else 20, votes_against=12, abstain=7, decided_at=at)


async def test_matter_decision_becomes_a_major_item_with_its_tally(disclosure):
    community = new_community()
    grid = community + "003"
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=grid,
                                               category="facilities", raised_via="app", raised_at=NOW - timedelta(days=9),
                                               key_project=True))
    await disclosure.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community, from_state="raised",
                                                     to_state="accepted", action="accept", at=NOW - timedelta(days=8)))
    await disclosure.send(decided(matter_id, community, grid))

    [item] = await wait_items(disclosure, community, category="matter_decision")
    assert item["kind"] == "residents" and item["unit_code"] == grid and item["major"] is True
    assert item["content"]["votes_for"] == 61 and item["content"]["rule_version"] == "urco-2018"
    assert item["content"]["quorum_met"] is True and item["matter_id"] == str(matter_id)
    assert "修缮3号楼雨棚" in item["title"]
    # Counted where it is listed: under its grid as well as its community.
    for unit in (grid, community):
        stats = (await disclosure.client.get("/public/v1/statistics/matters", params={"unit": unit})).json()
        assert stats["total"] == 1 and stats["by_stage"][0]["count"] == 1, unit


async def test_matter_public_progress_shows_timeline_and_tally(disclosure):
    community = new_community()
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=community,
                                               category="environment", raised_via="grid_staff",
                                               raised_at=NOW - timedelta(days=5)))
    await disclosure.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community, from_state="raised",
                                                     to_state="deciding", action="start_decision",
                                                     at=NOW - timedelta(days=2)))
    await disclosure.send(decided(matter_id, community, passed=False, at=NOW - timedelta(days=1)))

    async def progress():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")
        return resp.json() if resp.status_code == 200 and resp.json()["tally"] else None

    matter = await eventually(progress)
    assert matter["stage"] == "not_passed" and matter["stage_label"] == "未通过"
    assert [s["step"] for s in matter["timeline"]] == ["raised", "transitioned", "decided"]
    assert matter["tally"]["present"] == 80 and matter["tally"]["passed"] is False


async def test_a_matter_placed_in_triage_moves_to_its_community(disclosure):
    community = new_community()
    street = community[:9]
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=street, unit_code=street,
                                               category="public_safety", raised_via="department",
                                               raised_at=NOW - timedelta(hours=3)))
    await disclosure.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community, from_state="raised",
                                                     to_state="raised", action="place", at=NOW - timedelta(hours=2)))

    async def placed():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")
        return resp.json() if resp.status_code == 200 and resp.json()["community_code"] == community else None

    matter = await eventually(placed)
    # The street no longer says where the matter is; the community is the most the event tells.
    assert matter["unit_code"] == community and matter["stage"] == "raised"
    assert [s.get("label") for s in matter["timeline"]] == [None, "转至所在社区办理"]
    listed = await disclosure.client.get("/public/v1/matters", params={"unit": community})
    assert [m["matter_id"] for m in listed.json()["matters"]] == [str(matter_id)]


async def test_a_matter_keeps_its_unit_while_it_stays_in_its_community(disclosure):
    community = new_community()
    grid = community + "004"
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=grid,
                                               category="environment", raised_via="app", raised_at=NOW - timedelta(hours=3)))
    await disclosure.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community, from_state="raised",
                                                     to_state="accepted", action="accept", at=NOW - timedelta(hours=2)))

    async def accepted():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")
        return resp.json() if resp.status_code == 200 and resp.json()["stage"] == "accepted" else None

    assert (await eventually(accepted))["unit_code"] == grid


async def test_progress_update_publishes_spending(disclosure):
    community = new_community()
    matter_id, task_id = uuid.uuid4(), uuid.uuid4()
    await disclosure.send(decided(matter_id, community))
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=community, task_id=task_id,
                                                        percent=40, budget_cents=5_000_000, spent_cents=1_250_050,
                                                        at=NOW))
    [item] = await wait_items(disclosure, community, category="matter_progress")
    assert item["content"]["percent"] == 40 and item["content"]["spent_cents"] == 1_250_050
    assert "40%" in item["title"]
    matter = (await disclosure.client.get(f"/public/v1/matters/{matter_id}")).json()
    assert matter["progress"]["spent_cents"] == 1_250_050
    # A second task done: the title gives the project's progress (the mean of its tasks), not that task's 100%.
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=community,
                                                        task_id=uuid.uuid4(), percent=100, budget_cents=1_000_000,
                                                        spent_cents=1_000_000, at=NOW + timedelta(minutes=1)))
    items = await wait_items(disclosure, community, count=2, category="matter_progress")
    latest = max(items, key=lambda i: i["published_at"])
    assert "70%" in latest["title"] and latest["content"]["matter_budget_cents"] == 6_000_000
    page = (await disclosure.client.get(f"/portal/items/{latest['id']}")).text
    assert "完成 70%" in page and "本次更新的任务：完成 100%" in page
    export = (await disclosure.client.get("/public/v1/items.csv", params={"unit": community})).text
    rows = list(csv.DictReader(io.StringIO(export.lstrip("\ufeff"))))
    assert rows and all(r["published_at"].endswith("+08:00") for r in rows)  # Beijing time, as on the board
    by_id = {r["id"]: r["published_at"] for r in rows}
    assert datetime.fromisoformat(by_id[latest["id"]]) == datetime.fromisoformat(latest["published_at"])


async def test_events_sent_again_behind_later_ones_do_not_take_the_public_record_back(disclosure):
    # As `youmin dlq redrive` sends them: each arrives after the matter's later events.
    community = new_community()
    matter_id, task_id = uuid.uuid4(), uuid.uuid4()
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=community,
                                               category="facilities", raised_via="app",
                                               raised_at=NOW - timedelta(days=9), key_project=False))
    await disclosure.send(matters.MatterFlagged(matter_id=matter_id, community_code=community, key_project=True,
                                                major=False, at=NOW - timedelta(days=2)))
    await disclosure.send(decided(matter_id, community))
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=community, task_id=task_id,
                                                        percent=50, budget_cents=100_000, spent_cents=50_000,
                                                        at=NOW + timedelta(minutes=2)))
    await wait_items(disclosure, community, category="matter_progress")
    # The late ones: a transition, a flag taken off and a task's report, all written to the outbox (their time)
    # before what the board shows.
    written = datetime.now(UTC) - timedelta(minutes=10)
    await disclosure.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community, from_state="raised",
                                                     to_state="accepted", action="accept", at=NOW - timedelta(days=8)),
                          time=written)
    await disclosure.send(matters.MatterFlagged(matter_id=matter_id, community_code=community, key_project=False,
                                                major=False, at=NOW - timedelta(days=3)), time=written)
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=community, task_id=task_id,
                                                        percent=10, budget_cents=100_000, spent_cents=10_000,
                                                        at=NOW + timedelta(minutes=1)), time=written)

    async def all_steps():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")  # 404 until the record is written
        return resp.json() if resp.status_code == 200 and len(resp.json()["timeline"]) == 5 else None

    matter = await eventually(all_steps, timeout=30)
    # On the timeline in their place; the record keeps what the later events said.
    assert [s["step"] for s in matter["timeline"]] == ["raised", "transitioned", "decided", "progress", "progress"]
    assert matter["stage"] == "decided" and matter["key_project"] is True
    assert matter["progress"]["percent"] == 50 and matter["progress"]["spent_cents"] == 50_000


async def test_a_late_progress_report_goes_on_the_timeline_and_not_on_the_board(disclosure):
    community = new_community()
    matter_id, task_id = uuid.uuid4(), uuid.uuid4()
    await disclosure.send(decided(matter_id, community))
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=community, task_id=task_id,
                                                        percent=50, budget_cents=100_000, spent_cents=50_000,
                                                        at=NOW + timedelta(minutes=2)))
    [fifty] = await wait_items(disclosure, community, category="matter_progress")
    # The task's earlier report, redriven from the dead-letter topic: written to the outbox before the 50% one.
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=community, task_id=task_id,
                                                        percent=10, budget_cents=100_000, spent_cents=10_000,
                                                        at=NOW + timedelta(minutes=1)),
                          time=datetime.now(UTC) - timedelta(minutes=10))

    async def both_reports():
        matter = (await disclosure.client.get(f"/public/v1/matters/{matter_id}")).json()
        return matter if [s["step"] for s in matter["timeline"]].count("progress") == 2 else None

    matter = await eventually(both_reports, timeout=30)
    assert matter["progress"]["percent"] == 50
    # Applied in the same transaction as its timeline step, an item for it would be on the board by now.
    assert [i["id"] for i in await items_of(disclosure, community, category="matter_progress")] == [fifty["id"]]
    newest = (await items_of(disclosure, community))[0]
    assert newest["id"] == fifty["id"] and newest["content"]["percent"] == 50 and "50%" in newest["title"]


async def test_a_raise_sent_again_behind_the_matters_later_events_still_places_it_at_its_unit(disclosure):
    community = new_community()
    grid = community + "002"
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community, from_state="raised",
                                                     to_state="accepted", action="accept", at=NOW))
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=grid,
                                               category="facilities", raised_via="app",
                                               raised_at=NOW - timedelta(days=1), key_project=False),
                          time=datetime.now(UTC) - timedelta(minutes=10))

    async def placed():
        matter = (await disclosure.client.get(f"/public/v1/matters/{matter_id}")).json()
        return matter if len(matter.get("timeline", [])) == 2 else None

    matter = await eventually(placed, timeout=30)
    assert matter["unit_code"] == grid and matter["stage"] == "accepted"


async def test_final_evaluation_is_published_and_interim_is_not(disclosure):
    community = new_community()
    matter_id = uuid.uuid4()
    await disclosure.send(decided(matter_id, community))
    await disclosure.send(matters.MatterEvaluated(matter_id=matter_id, community_code=community, ratings=3, bad=0,
                                                  bad_share=0.0, outcome="wait", at=NOW - timedelta(hours=2)))
    await disclosure.send(matters.MatterEvaluated(matter_id=matter_id, community_code=community, ratings=30, bad=2,
                                                  bad_share=0.0667, outcome="close", at=NOW))
    [item] = await wait_items(disclosure, community, category="matter_evaluation")
    assert item["content"]["outcome"] == "close" and item["content"]["ratings"] == 30
    assert "办结" in item["title"]


async def test_mediation_events_are_published_only_as_aggregates(disclosure):
    community = new_community()
    grid = community + "001"
    cases = [uuid.uuid4() for _ in range(3)]
    at = datetime(2026, 11, 10, 3, tzinfo=UTC)
    for case in cases:
        await disclosure.send(mediation.CaseOpened(case_id=case, place_code=grid, level="grid",
                                                   dispute_type="neighbour", opened_at=at))
    await disclosure.send(mediation.CaseAgreementReached(case_id=cases[0], place_code=grid, dispute_type="neighbour",
                                                         level="grid", agreement_kind="oral", opened_at=at, at=at))
    await disclosure.send(mediation.CaseEscalated(case_id=cases[1], place_code=grid, dispute_type="neighbour",
                                                  from_level="grid", to_level="community", automatic=True, at=at))
    await disclosure.send(mediation.CaseTerminated(case_id=cases[1], place_code=grid, dispute_type="neighbour",
                                                   level="community", reason_code="party_refused", at=at))
    await disclosure.send(mediation.CaseReferred(case_id=cases[2], place_code=grid, dispute_type="neighbour",
                                                 level="grid", route="litigation", at=at))

    async def stats():
        resp = await disclosure.client.get("/public/v1/statistics/mediation",
                                           params={"unit": community, "period": "2026-11"})
        rows = {(r["level"], r["outcome"]): r["count"] for r in resp.json()["rows"]}
        return rows if sum(rows.values()) == 7 else None

    rows = await eventually(stats)
    assert rows == {("grid", "opened"): 3, ("grid", "agreement_reached"): 1, ("grid", "escalated"): 1,
                    ("community", "terminated"): 1, ("grid", "referred"): 1}
    [item] = await wait_items(disclosure, community, category="mediation_statistics")
    assert item["content"]["by_level"]["grid"]["opened"] == 3
    listing = (await disclosure.client.get("/public/v1/items", params={"unit": community})).text
    stats_body = (await disclosure.client.get("/public/v1/statistics/mediation", params={"unit": community})).text
    for case in cases:
        assert str(case) not in listing and str(case) not in stats_body


async def test_a_case_is_one_success_and_a_refused_confirmation_takes_it_back(disclosure):
    # A written agreement the court refuses to confirm is mediated again: the case is not a success until its next
    # agreement, and then it is one success, not two (as the mediation service's own statistics count it).
    community = new_community()
    grid = community + "001"
    case, other = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 10, 20, 3, tzinfo=UTC)
    later = datetime(2026, 11, 12, 3, tzinfo=UTC)

    def agreed(case_id: uuid.UUID, when: datetime, kind: str = "written") -> mediation.CaseAgreementReached:
        return mediation.CaseAgreementReached(case_id=case_id, place_code=grid, dispute_type="neighbour", level="grid",
                                              agreement_kind=kind, opened_at=at, at=when)

    async def successes(expected: dict[str, int]):
        async def read():
            resp = await disclosure.client.get("/public/v1/statistics/mediation",
                                               params={"unit": community, "outcome": "agreement_reached",
                                                       "group_by": "period"})
            rows = {r["period"]: r["count"] for r in resp.json()["rows"] if r["count"]}
            return rows if rows == expected else None
        return await eventually(read)

    await disclosure.send(agreed(case, at))
    await disclosure.send(agreed(other, at, "oral"))
    await successes({"2026-10": 2})
    await disclosure.send(mediation.CaseConfirmationRecorded(case_id=case, place_code=grid, outcome="refused",
                                                             at=later))
    await successes({"2026-10": 1})
    [october] = await wait_items(disclosure, community, category="mediation_statistics")
    assert october["content"]["totals"]["agreement_reached"] == 1
    await disclosure.send(agreed(case, later, "oral"))  # mediated again, and agreed
    await disclosure.send(agreed(case, later, "oral"))  # a second agreement of the same case counts no more
    await disclosure.send(mediation.CaseConfirmationRecorded(case_id=other, place_code=grid, outcome="confirmed",
                                                             at=later))
    await successes({"2026-10": 1, "2026-11": 1})


async def test_redelivered_mediation_event_is_counted_once(disclosure):
    community = new_community()
    event = mediation.CaseOpened(case_id=uuid.uuid4(), place_code=community, level="community",
                                 dispute_type="property", opened_at=NOW)
    envelope = await disclosure.send(event)
    await disclosure.producer.send_and_wait(envelope.topic, value=envelope.value(), key=envelope.key.encode(),
                                            headers=envelope.headers())
    marker = mediation.CaseOpened(case_id=uuid.uuid4(), place_code=community, level="community",
                                  dispute_type="marker", opened_at=NOW)
    await disclosure.send(marker)

    async def stats():
        resp = await disclosure.client.get("/public/v1/statistics/mediation",
                                           params={"unit": community, "group_by": "dispute_type"})
        rows = {r["dispute_type"]: r["count"] for r in resp.json()["rows"]}
        return rows if "marker" in rows else None

    assert (await eventually(stats))["property"] == 1
    # Disputes taken in, none finished: the board's chart says so, not "no data".
    page = (await disclosure.client.get(f"/portal/units/{community}")).text
    assert "已受理 2 件，暂无办结结果" in page


async def test_grid_staff_duty_change_is_published_without_the_person(disclosure):
    community = new_community()
    grid = community + "002"
    person = uuid.uuid4()
    grant = uuid.uuid4()
    await disclosure.send(registry.RoleGranted(grant_id=grant, person_id=person, role="grid_manager", scope_code=grid,
                                               effective_on=date(2026, 11, 1)))
    await disclosure.send(registry.RoleGranted(grant_id=uuid.uuid4(), person_id=uuid.uuid4(), role="resident",
                                               scope_code=grid + "0010101001", effective_on=date(2026, 11, 1)))
    await disclosure.send(registry.RoleRevoked(grant_id=grant, person_id=person, role="grid_manager", scope_code=grid,
                                               effective_on=date(2026, 11, 20)))
    items = await wait_items(disclosure, community[:9], count=2, category="duty_change")
    mine = [i for i in items if i["unit_code"] == grid]
    assert sorted(i["content"]["change"] for i in mine) == ["granted", "revoked"]
    assert {i["title"] for i in mine} == {"网格员到岗", "网格员离岗"}
    body = (await disclosure.client.get("/public/v1/items", params={"unit": grid})).text
    assert str(person) not in body and str(grant) not in body


async def test_a_building_unit_reaches_the_public_board_only_as_its_grid(disclosure):
    # A building unit head's duty and a matter raised at a building unit: the board says the grid, never the
    # building unit's code, which would locate homes.
    community = new_community()
    grid = community + "002"
    building_unit = grid + "003" + "01"
    matter_id = uuid.uuid4()
    await disclosure.send(registry.RoleGranted(grant_id=uuid.uuid4(), person_id=uuid.uuid4(), role="unit_head",
                                               scope_code=building_unit, effective_on=date(2026, 11, 1)))
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=building_unit,
                                               category="facilities", raised_via="app",
                                               raised_at=NOW - timedelta(days=3)))
    await disclosure.send(decided(matter_id, community, building_unit, at=NOW - timedelta(days=1)))
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=community,
                                                        task_id=uuid.uuid4(), percent=30, budget_cents=100_000,
                                                        spent_cents=30_000, at=NOW))
    items = await wait_items(disclosure, community, count=3)
    assert sorted(i["category"] for i in items) == ["duty_change", "matter_decision", "matter_progress"]
    assert {i["unit_code"] for i in items} == {grid}
    [duty] = [i for i in items if i["category"] == "duty_change"]
    assert duty["title"] == "单元长到岗" and duty["content"]["scope_code"] == grid
    matter = (await disclosure.client.get(f"/public/v1/matters/{matter_id}")).json()
    assert matter["unit_code"] == grid and matter["community_code"] == community
    for path, params in (("/public/v1/items", {"unit": community}), ("/public/v1/items.csv", {"unit": community}),
                         (f"/public/v1/matters/{matter_id}", {}), (f"/portal/matters/{matter_id}", {}),
                         *((f"/public/v1/items/{i['id']}", {}) for i in items)):
        body = (await disclosure.client.get(path, params=params)).text
        assert building_unit not in body, path


async def test_party_secretary_duty_change_is_party_affairs(disclosure):
    community = new_community()
    await disclosure.send(registry.RoleGranted(grant_id=uuid.uuid4(), person_id=uuid.uuid4(), role="grid_secretary",
                                               scope_code=community + "001", effective_on=date(2026, 11, 1)))
    [item] = await wait_items(disclosure, community, kind="party")
    assert item["category"] == "duty_change" and item["kind_label"] == "党务"
    # Built by the system, not posted by the community: it does not keep the community's party affairs up to date.
    report = await disclosure.client.get("/api/v1/disclosure/reports/cadence", params={"unit_code": community},
                                         headers=disclosure.token("community_staff", community))
    [row] = [r for r in report.json()["overdue"] if r["community_code"] == community]
    assert "party" in row["overdue_kinds"]


async def test_org_tree_from_registry_events_feeds_the_unit_picker(disclosure):
    # A made-up district of its own: the picker lists every unit under the street, and other tests' units (sent by
    # the registry over the shared broker) may lie under any street of 370705.
    district = f"9{random.randrange(10**5):05d}"
    street = district + "013"
    community = street + "101"
    await disclosure.send(registry.UnitCreated(unit_id=uuid.uuid4(), unit_code=street, parent_code=district,
                                               level="street", unit_name="测试街道", effective_on=date(2026, 1, 1)))
    await disclosure.send(registry.UnitCreated(unit_id=uuid.uuid4(), unit_code=community, parent_code=street,
                                               level="community", unit_name="幸福街社区", effective_on=date(2026, 1, 1)))

    async def units():
        resp = await disclosure.client.get("/public/v1/units", params={"parent": street})
        return resp.json()["units"] or None

    assert await eventually(units) == [{"code": community, "name": "幸福街社区", "level": "community"}]


async def test_redelivered_matter_event_adds_no_second_timeline_step(disclosure):
    community = new_community()
    matter_id = uuid.uuid4()
    envelope = await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community,
                                                          unit_code=community, category="facilities",
                                                          raised_via="app", raised_at=NOW))
    await disclosure.producer.send_and_wait(envelope.topic, value=envelope.value(), key=envelope.key.encode(),
                                            headers=envelope.headers())
    await disclosure.send(decided(matter_id, community))

    async def decided_step():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")
        steps = [s["step"] for s in resp.json()["timeline"]] if resp.status_code == 200 else []
        return steps if "decided" in steps else None

    assert await eventually(decided_step) == ["raised", "decided"]


async def test_the_public_tree_stops_at_the_grid(disclosure):
    street = new_street(13, 29)
    community = street + "102"
    grid, building = community + "001", community + "001" + "003"
    unit, home = building + "01", building + "01" + "0301"
    for code, parent, level, name in ((street, "370705", "street", "测试街道"), (community, street, "community", "南湖社区"),
                                      (grid, community, "grid", "第一网格"), (building, grid, "building", None),
                                      (unit, building, "unit", None), (home, unit, "household", None)):
        await disclosure.send(registry.UnitCreated(unit_id=uuid.uuid4(), unit_code=code, parent_code=parent, level=level,
                                                   unit_name=name, effective_on=date(2026, 1, 1)))

    async def grid_known():
        return (await disclosure.client.get(f"/public/v1/units/{grid}")).status_code == 200 or None

    await eventually(grid_known)

    async def tree_complete():  # the household arrives last: then every level is in the replica
        async with disclosure.app.state.sessions() as session:
            return await session.scalar(text("SELECT 1 FROM replica_unit WHERE code = :c"), {"c": home})

    await eventually(tree_complete)
    assert (await disclosure.client.get(f"/public/v1/units/{grid}")).json()["children"] == []
    for parent in (grid, building, unit):
        listed = await disclosure.client.get("/public/v1/units", params={"parent": parent})
        assert listed.status_code == 200 and listed.json()["units"] == [], parent
    for code in (building, unit, home):
        assert (await disclosure.client.get(f"/public/v1/units/{code}")).status_code == 404, code
        assert (await disclosure.client.get(f"/portal/units/{code}")).status_code == 404, code


async def test_a_covenant_filed_with_the_street_shows_on_the_public_timeline(disclosure):
    community = new_community()
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=community,
                                               category="social_governance", raised_via="grid_staff",
                                               raised_at=NOW - timedelta(days=9)))
    await disclosure.send(decided(matter_id, community, community, at=NOW - timedelta(days=3)))
    await disclosure.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community, from_state="decided",
                                                     to_state="decided", action="file_covenant",
                                                     at=NOW - timedelta(days=1)))

    async def filed():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")
        return resp.json() if resp.status_code == 200 and len(resp.json()["timeline"]) == 3 else None

    matter = await eventually(filed)
    assert matter["stage"] == "decided"
    page = await disclosure.client.get(f"/portal/matters/{matter_id}")
    assert "居民公约已报街道备案" in page.text


async def test_withdrawing_a_decision_for_personal_data_takes_the_title_off_the_matter(disclosure):
    community = new_community()
    matter_id = uuid.uuid4()
    await disclosure.send(decided(matter_id, community, at=NOW - timedelta(days=2), title="王建国家楼上漏水维修"))
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=community,
                                                        task_id=uuid.uuid4(), percent=50, budget_cents=1000,
                                                        spent_cents=500, at=NOW - timedelta(days=1)))
    items = await wait_items(disclosure, community, count=2)
    decision = next(i for i in items if i["category"] == "matter_decision")
    withdrawn = await disclosure.client.post(f"/api/v1/disclosure/items/{decision['id']}/withdraw",
                                             json={"reason": "标题含住户姓名", "personal_data": True},
                                             headers=disclosure.token("community_staff", community))
    assert withdrawn.status_code == 200, withdrawn.text
    matter = (await disclosure.client.get(f"/public/v1/matters/{matter_id}")).json()
    assert matter["public_title"] is None
    remaining = (await disclosure.client.get("/public/v1/items", params={"unit": community})).json()["items"]
    assert [i["category"] for i in remaining] == ["matter_progress"]
    assert "王建国" not in remaining[0]["title"] and "王建国" not in json.dumps(remaining[0]["content"], ensure_ascii=False)
    page = await disclosure.client.get(f"/portal/matters/{matter_id}")
    assert "王建国" not in page.text


async def test_a_title_withdrawn_as_personal_data_stays_off_when_the_matter_is_decided_again(disclosure):
    community = new_community()
    matter_id = uuid.uuid4()
    title = "王建国家楼上漏水维修"
    await disclosure.send(decided(matter_id, community, passed=False, at=NOW - timedelta(days=5), title=title))
    [first] = await wait_items(disclosure, community, category="matter_decision")
    withdrawn = await disclosure.client.post(f"/api/v1/disclosure/items/{first['id']}/withdraw",
                                             json={"reason": "标题含住户姓名", "personal_data": True},
                                             headers=disclosure.token("community_staff", community))
    assert withdrawn.status_code == 200, withdrawn.text
    # Not passed, routed again and decided anew: the event carries the matter's title once more.
    for from_state, to_state, action, days in (("not_passed", "routed", "route", 4),
                                               ("routed", "deciding", "start_decision", 3)):
        await disclosure.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community,
                                                         from_state=from_state, to_state=to_state, action=action,
                                                         at=NOW - timedelta(days=days)))
    await disclosure.send(decided(matter_id, community, passed=True, at=NOW - timedelta(days=2), title=title))
    await disclosure.send(matters.MatterProgressUpdated(matter_id=matter_id, community_code=community,
                                                        task_id=uuid.uuid4(), percent=100, budget_cents=1000,
                                                        spent_cents=900, at=NOW - timedelta(days=1)))
    await disclosure.send(matters.MatterEvaluated(matter_id=matter_id, community_code=community, ratings=20, bad=0,
                                                  bad_share=0.0, outcome="close", at=NOW))

    items = await wait_items(disclosure, community, count=3)
    assert sorted(i["category"] for i in items) == ["matter_decision", "matter_evaluation", "matter_progress"]
    for item in items:
        assert "社区事项" in item["title"] and "漏水" not in item["title"], item["title"]
        assert item["content"]["public_title"] == "社区事项"
    matter = (await disclosure.client.get(f"/public/v1/matters/{matter_id}")).json()
    assert matter["stage"] == "decided" and matter["public_title"] is None
    for page in (f"/portal/matters/{matter_id}", f"/public/v1/matters/{matter_id}"):
        assert "漏水" not in (await disclosure.client.get(page)).text, page


async def test_two_consumers_counting_one_month_write_its_statistics_item_one_after_the_other(disclosure):
    from services.disclosure.service import DisclosureService
    from youmin.kit.db import transaction

    community = new_community()
    grid = community + "001"
    at = "2026-11-12T03:00:00+00:00"

    def opened(dispute_type: str) -> dict:  # two kinds of dispute: counted in two rows, neither waits for the other
        return {"case_id": str(uuid.uuid4()), "place_code": grid, "level": "grid", "dispute_type": dispute_type,
                "opened_at": at}

    sessions, now = disclosure.app.state.sessions, datetime(2026, 11, 12, 4, tzinfo=UTC)
    # The first consumer has counted its case and written the month's item, not yet committed.
    async with transaction(sessions) as first:
        await DisclosureService(first, disclosure.settings, now).mediation_counted("opened", opened("neighbour"),
                                                                                    str(uuid.uuid4()))

        async def second() -> None:
            async with transaction(sessions) as session:
                await DisclosureService(session, disclosure.settings, now).mediation_counted(
                    "opened", opened("family"), str(uuid.uuid4()))

        counting = asyncio.create_task(second())

        async def waits_for_the_item():
            async with transaction(sessions) as session:
                return (await session.execute(text(
                    "SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = "
                    "current_database() AND l.locktype = 'advisory' AND NOT l.granted"))).first()

        await eventually(waits_for_the_item, timeout=30)
    await counting
    [item] = await wait_items(disclosure, community, category="mediation_statistics")
    assert item["content"]["by_level"]["grid"]["opened"] == 2


async def test_a_meeting_the_residents_asked_for_and_a_cancelled_vote_show_on_the_public_timeline(disclosure):
    community = new_community()
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=community,
                                               category="social_governance", raised_via="app",
                                               raised_at=NOW - timedelta(days=9)))
    for days, (from_state, to_state, action) in zip((5, 4, 3), (("routed", "routed", "meeting_demanded"),
                                                                ("routed", "deciding", "start_decision"),
                                                                ("deciding", "routed", "cancel_decision"))):
        await disclosure.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community,
                                                         from_state=from_state, to_state=to_state, action=action,
                                                         at=NOW - timedelta(days=days)))

    async def all_in():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")
        return resp.json() if resp.status_code == 200 and len(resp.json()["timeline"]) == 4 else None

    matter = await eventually(all_in)
    assert matter["stage"] == "routed"
    assert [s.get("label") for s in matter["timeline"][1:]] == ["五分之一以上居民提议召开居民会议", "表决中",
                                                                 "表决取消，待重新安排"]
    page = (await disclosure.client.get(f"/portal/matters/{matter_id}")).text
    assert "五分之一以上居民提议召开居民会议" in page and "表决取消，待重新安排" in page
