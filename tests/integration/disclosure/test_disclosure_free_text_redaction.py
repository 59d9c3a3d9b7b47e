"""Home addresses, health data and minors' data typed into free text never reach a public response: staff posts,
finance notes, withdrawal reasons, residents' questions and staff's answers, and titles built from events."""

from __future__ import annotations

import uuid
from datetime import datetime

from disclosure_helpers import (
    PLANTED_ADDRESSES,
    PLANTED_HEALTH,
    PLANTED_MINORS,
    PLANTED_NAMES,
    new_community,
)

from services.disclosure.rules.cadence import SHANGHAI
from services.matters import events as matters
from youmin.testing import eventually

PLANTED = PLANTED_ADDRESSES + PLANTED_HEALTH + PLANTED_MINORS
MARK = "[已隐去]"


def planted_in_public_bodies(disclosure, since: int) -> list[tuple[str, str]]:
    """Returns (url, planted text) for every planted address, health or minors' term in a public body."""
    return [(url, planted) for url, body in disclosure.recorder.bodies[since:] for planted in PLANTED if planted in body]


async def read_everything_public(disclosure, community: str, item_id: str) -> None:
    """Requests every public view that shows the item: JSON, listing, CSV, Atom feed and the portal pages."""
    for path, params in [(f"/public/v1/items/{item_id}", {}), ("/public/v1/items", {"unit": community}),
                         ("/public/v1/items.csv", {"unit": community}),
                         ("/public/v1/items.csv", {"unit": community, "lines": "true"}),
                         (f"/public/v1/units/{community}/feed.atom", {}), (f"/portal/items/{item_id}", {}),
                         (f"/portal/units/{community}", {})]:
        resp = await disclosure.client.get(path, params=params)
        assert resp.status_code == 200, (path, resp.text)


async def test_minutes_lose_addresses_health_and_minors_data_everywhere_public(disclosure):
    community = new_community()
    start = len(disclosure.recorder.bodies)
    body = (f"会议由{PLANTED_NAMES[0]}主持。{PLANTED_NAMES[1]}家住幸福小区3号楼2单元502，其子今年12岁，患有抑郁症，"
            "申请帮扶。居民反映奎文区胜利东街123号5号楼2单元301室漏水。东风东街88号门前3号楼的路灯已修复。"
            "其母糖尿病住院；另有一户未成年人无人照看。")
    resp = await disclosure.client.post(
        "/api/v1/disclosure/items",
        json={"unit_code": community, "kind": "residents", "category": "minutes", "title": "帮扶协调会（家住3号楼2单元502）",
              "body": body, "people": list(PLANTED_NAMES[:2]), "held_on": "2026-11-20"},
        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 201, resp.text
    # Nothing raw was stored: the staff view is redacted too.
    assert not [p for p in PLANTED if p in resp.text]

    item = (await disclosure.client.get(f"/public/v1/items/{resp.json()['id']}")).json()
    assert item["title"] == f"帮扶协调会（家住{MARK}）"
    assert item["content"]["body"] == (
        f"会议由王某主持。李某家住{MARK}，{MARK}，申请帮扶。居民反映奎文区胜利东街{MARK}漏水。"
        f"东风东街{MARK}门前3号楼的路灯已修复。{MARK}。")
    await read_everything_public(disclosure, community, item["id"])
    assert planted_in_public_bodies(disclosure, start) == []


async def test_finance_notes_lose_health_data_and_addresses(disclosure):
    community = new_community()
    start = len(disclosure.recorder.bodies)
    resp = await disclosure.client.post(
        "/api/v1/disclosure/finance-statements",
        json={"unit_code": community, "period": "2026-10", "note": "支付东风东街88号房租；发放残疾人两项补贴",
              "lines": [{"fund_type": "community_work", "income_cents": 100_000, "expenditure_cents": 50_000,
                         "balance_cents": 50_000, "note": "慰问王某（残疾，长期住院）"}]},
        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 201, resp.text
    item = (await disclosure.client.get(f"/public/v1/items/{resp.json()['id']}")).json()
    assert item["content"]["note"] == f"支付东风东街{MARK}房租；发放残疾人两项补贴"
    assert item["content"]["lines"][0]["note"] == f"慰问王某（{MARK}）"
    await read_everything_public(disclosure, community, item["id"])
    assert planted_in_public_bodies(disclosure, start) == []


async def test_questions_answers_and_withdrawal_reasons_lose_them(disclosure, clock):
    community = new_community()
    start = len(disclosure.recorder.bodies)
    staff = disclosure.token("community_staff", community)
    clock.set(datetime(2026, 3, 1, 9, tzinfo=SHANGHAI))
    item = (await disclosure.client.post(
        "/api/v1/disclosure/items",
        json={"unit_code": community, "kind": "residents", "category": "notice", "title": "困难帮扶名单", "body": "见附件。"},
        headers=staff)).json()
    clock.set(datetime(2026, 3, 2, 9, tzinfo=SHANGHAI))
    resident = disclosure.token("resident", community + "001002010101", sub=f"resident-{uuid.uuid4().hex[:6]}")
    question = await disclosure.client.post(
        f"/api/v1/disclosure/items/{item['id']}/questions",
        json={"kind": "objection", "body": "我家住3号楼2单元502，孩子12岁，患有糖尿病，为何不在名单上？"}, headers=resident)
    assert question.status_code == 201, question.text
    assert question.json()["body"] == f"我家住{MARK}，{MARK}，为何不在名单上？"
    answer = await disclosure.client.post(
        f"/api/v1/disclosure/questions/{question.json()['id']}/answer",
        json={"body": "经核实，您家孩子未成年且残疾，已补入名单，将上门至东风东街88号送达。"}, headers=staff)
    assert answer.status_code == 200, answer.text
    assert answer.json()["answer"] == f"经核实，{MARK}，已补入名单，将上门至东风东街{MARK}送达。"

    public = (await disclosure.client.get(f"/public/v1/items/{item['id']}")).json()
    [qa] = public["questions"]
    assert qa["body"] == question.json()["body"] and qa["answer"] == answer.json()["answer"]
    await read_everything_public(disclosure, community, item["id"])

    clock.set(datetime(2026, 3, 7, 9, tzinfo=SHANGHAI))
    withdrawn = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/withdraw",
                                             json={"reason": "有一户家住3号楼2单元502，户主住院，需更正"}, headers=staff)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["withdrawal_reason"] == f"有一户家住{MARK}，{MARK}，需更正"
    assert planted_in_public_bodies(disclosure, start) == []


async def test_a_decision_title_from_an_event_loses_the_home_address(disclosure):
    community = new_community()
    start = len(disclosure.recorder.bodies)
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterDecided(
        matter_id=matter_id, community_code=community, unit_code=community, category="facilities",
        channel="residents_meeting", public_title="修缮胜利东街123号5号楼2单元301室雨棚", rule_version="urco-2018",
        quorum_met=True, passed=True, base_size=120, present=80, votes_for=61, votes_against=12, abstain=7,
        decided_at=datetime(2026, 11, 2, 9, tzinfo=SHANGHAI)))

    async def decision():
        resp = await disclosure.client.get("/public/v1/items", params={"unit": community, "category": "matter_decision"})
        items = resp.json()["items"]
        return items[0] if items else None

    item = await eventually(decision, timeout=30)
    assert item["title"] == f"议事决定：修缮胜利东街{MARK}雨棚（通过）"
    assert item["content"]["public_title"] == f"修缮胜利东街{MARK}雨棚"
    matter = (await disclosure.client.get(f"/public/v1/matters/{matter_id}")).json()
    assert matter["public_title"] == f"修缮胜利东街{MARK}雨棚"
    await read_everything_public(disclosure, community, item["id"])
    assert planted_in_public_bodies(disclosure, start) == []


async def test_names_listed_on_minutes_are_masked_in_questions_and_answers_on_them(disclosure, clock):
    community = new_community()
    staff = disclosure.token("community_staff", community)
    clock.set(datetime(2026, 3, 1, 9, tzinfo=SHANGHAI))
    minutes = (await disclosure.client.post("/api/v1/disclosure/items", headers=staff, json={
        "unit_code": community, "kind": "residents", "category": "minutes", "title": "补贴评议会议纪要",
        "body": "会议评议了赵德胜、钱有福两户的补贴申请。", "people": ["赵德胜", "钱有福"]})).json()
    clock.set(datetime(2026, 3, 2, 9, tzinfo=SHANGHAI))
    resident = disclosure.token("resident", community + "001002010101", sub=f"resident-{uuid.uuid4().hex[:6]}")
    question = await disclosure.client.post(f"/api/v1/disclosure/items/{minutes['id']}/questions", headers=resident,
                                            json={"body": "为什么赵德胜的补贴比别人多？"})
    assert question.status_code == 201 and "赵德胜" not in question.json()["body"]
    answer = await disclosure.client.post(f"/api/v1/disclosure/questions/{question.json()['id']}/answer",
                                          headers=staff, json={"body": "钱有福的补贴已核实无误。"})
    assert answer.status_code == 200 and "钱有福" not in answer.json()["answer"]
    public = (await disclosure.client.get(f"/public/v1/items/{minutes['id']}")).text
    assert "赵德胜" not in public and "钱有福" not in public and "private_names" not in public


async def test_payees_of_a_finance_statement_are_masked_named_or_found(disclosure):
    community = new_community()
    start = len(disclosure.recorder.bodies)
    resp = await disclosure.client.post("/api/v1/disclosure/finance-statements", headers=disclosure.token(
        "community_staff", community), json={
        "unit_code": community, "period": "2026-10", "people": ["孙德胜"],
        "note": "低保对象：王建国、李秀英，发放慰问金；付孙德胜清运费；困难户周建华慰问金500元",
        "lines": [{"fund_type": "community_work", "income_cents": 100_000, "expenditure_cents": 50_000,
                   "balance_cents": 50_000, "note": "向刘洋支付租金"}]})
    assert resp.status_code == 201, resp.text
    await read_everything_public(disclosure, community, resp.json()["id"])
    shown = [(url, name) for url, body in disclosure.recorder.bodies[start:]
             for name in ("王建国", "李秀英", "孙德胜", "周建华", "刘洋") if name in body]
    assert shown == []


async def test_a_post_below_a_grid_is_refused_naming_the_unit_code(disclosure):
    community = new_community()
    staff = disclosure.token("community_staff", community)
    household = community + "001" + "003" + "02" + "0102"
    for path, body in [("/api/v1/disclosure/items", {"kind": "residents", "category": "notice", "title": "违建整改通知",
                                                     "body": "请于月底前拆除"}),
                       ("/api/v1/disclosure/finance-statements", {"period": "2026-10", "lines": [{
                           "fund_type": "other", "income_cents": 0, "expenditure_cents": 0, "balance_cents": 0}]})]:
        for code in (household, community + "001003"):  # a household, a building
            resp = await disclosure.client.post(path, headers=staff, json={"unit_code": code, **body})
            assert resp.status_code == 422, resp.text
            assert resp.json()["field"] == "unit_code" and resp.json()["rule"] == "disclosure.place_too_fine"
    grid = await disclosure.client.post("/api/v1/disclosure/items", headers=staff, json={
        "unit_code": community + "001", "kind": "residents", "category": "notice", "title": "网格通知", "body": "周六清扫"})
    assert grid.status_code == 201, grid.text
