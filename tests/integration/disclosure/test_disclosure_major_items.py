"""Major items are disclosed at once: the cadence report lists those published after their due day, whether
staff posted them (counted from the day the meeting was held) or they were built from an event (counted from
the event's instant)."""

from __future__ import annotations

import uuid
from datetime import datetime

from disclosure_helpers import new_community

from services.disclosure.rules.cadence import SHANGHAI
from services.matters import events as matters
from youmin.testing import eventually

# With one day's grace, a matter of 1 March must be public by 2 March 24:00.
NOW = datetime(2026, 3, 3, 10, tzinfo=SHANGHAI)


async def post_minutes(disclosure, community: str, *, major: bool, held_on: str | None) -> str:
    body = {"unit_code": community, "kind": "residents", "category": "minutes", "title": "居民议事会会议纪要",
            "body": "审议加装电梯方案。", "major": major}
    if held_on:
        body["held_on"] = held_on
    resp = await disclosure.client.post("/api/v1/disclosure/items", json=body,
                                        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


async def decide_key_project(disclosure, community: str, decided_at: datetime) -> uuid.UUID:
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=community,
                                               category="facilities", raised_via="app", raised_at=decided_at,
                                               key_project=True))
    await disclosure.send(matters.MatterDecided(
        matter_id=matter_id, community_code=community, unit_code=community, category="facilities",
        channel="residents_meeting", public_title="加装电梯", rule_version="urco-2018", quorum_met=True, passed=True,
        base_size=120, present=80, votes_for=61, votes_against=12, abstain=7, decided_at=decided_at))
    return matter_id


async def cadence_report(disclosure, community: str) -> dict:
    resp = await disclosure.client.get("/api/v1/disclosure/reports/cadence", params={"unit_code": community},
                                       headers=disclosure.token("community_staff", community))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_late_major_items_are_listed_whether_posted_by_staff_or_built_from_events(disclosure, clock):
    community = new_community()
    clock.set(NOW)
    late_minutes = await post_minutes(disclosure, community, major=True, held_on="2026-03-01")
    on_time_minutes = await post_minutes(disclosure, community, major=True, held_on="2026-03-02")
    undated_minutes = await post_minutes(disclosure, community, major=True, held_on=None)
    routine_minutes = await post_minutes(disclosure, community, major=False, held_on="2026-02-01")
    late_matter = await decide_key_project(disclosure, community, datetime(2026, 3, 1, 18, tzinfo=SHANGHAI))
    on_time_matter = await decide_key_project(disclosure, community, datetime(2026, 3, 2, 20, tzinfo=SHANGHAI))

    async def decisions():
        resp = await disclosure.client.get("/public/v1/items", params={"unit": community, "category": "matter_decision"})
        items = {item["matter_id"]: item for item in resp.json()["items"]}
        return items if len(items) == 2 else None

    decided = await eventually(decisions, timeout=30)
    assert all(item["major"] for item in decided.values())

    late = set((await cadence_report(disclosure, community))["late_major_items"])
    assert late_minutes in late and decided[str(late_matter)]["id"] in late
    assert on_time_minutes not in late and decided[str(on_time_matter)]["id"] not in late
    assert undated_minutes not in late and routine_minutes not in late
    assert late == {late_minutes, decided[str(late_matter)]["id"]}


async def test_minutes_posted_on_the_last_day_of_grace_are_on_time(disclosure, clock):
    community = new_community()
    clock.set(datetime(2026, 3, 2, 23, 59, tzinfo=SHANGHAI))
    on_time = await post_minutes(disclosure, community, major=True, held_on="2026-03-01")
    clock.set(datetime(2026, 3, 3, 0, 0, tzinfo=SHANGHAI))
    late = await post_minutes(disclosure, community, major=True, held_on="2026-03-01")
    assert (await cadence_report(disclosure, community))["late_major_items"] == [late]
    assert on_time != late


async def test_a_matter_flagged_a_key_project_after_it_was_raised_is_tagged_and_its_decision_is_major(disclosure):
    community, matter_id = new_community(), uuid.uuid4()
    raised_at = datetime(2026, 3, 1, 9, tzinfo=SHANGHAI)
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=community,
                                               category="facilities", raised_via="app", raised_at=raised_at))
    await disclosure.send(matters.MatterFlagged(matter_id=matter_id, community_code=community, key_project=True,
                                                major=False, at=datetime(2026, 3, 1, 10, tzinfo=SHANGHAI)))

    async def tagged():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")
        return resp.status_code == 200 and resp.json()["key_project"]

    await eventually(tagged, timeout=30)
    await disclosure.send(matters.MatterDecided(
        matter_id=matter_id, community_code=community, unit_code=community, category="facilities",
        channel="residents_meeting", public_title="加装电梯", rule_version="urcol-2018", quorum_met=True, passed=True,
        base_size=120, present=80, votes_for=61, votes_against=12, abstain=7,
        decided_at=datetime(2026, 3, 2, 10, tzinfo=SHANGHAI)))

    async def decision():
        resp = await disclosure.client.get("/public/v1/items", params={"unit": community, "category": "matter_decision"})
        return resp.json()["items"] or None

    [item] = await eventually(decision, timeout=30)
    assert item["major"] is True
