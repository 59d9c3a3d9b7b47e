"""Staff posts (finance statements, minutes, covenants), redaction before publication, withdrawal rules."""

from __future__ import annotations

import uuid

from datetime import datetime

from sqlalchemy import text

from disclosure_helpers import PLANTED_ID, PLANTED_NAMES, PLANTED_PHONES, new_community

from services.disclosure.rules.cadence import SHANGHAI
from services.disclosure.rules.redaction import redact_content
from services.disclosure.schemas import configure_grid_width
from services.disclosure.settings import Settings
from youmin.testing import eventually


def statement(unit: str, period: str = "2026-10") -> dict:
    return {
        "unit_code": unit, "period": period,
        "lines": [
            {"fund_type": "party_service", "income_cents": 20_000_000, "expenditure_cents": 5_300_000,
             "balance_cents": 14_700_000},
            {"fund_type": "community_work", "income_cents": 6_500_000, "expenditure_cents": 2_000_000,
             "balance_cents": 4_500_000, "note": "办公用品"},
            {"fund_type": "grid_service", "income_cents": 3_000_000, "expenditure_cents": 1_000_000,
             "balance_cents": 2_000_000},
            {"fund_type": "other", "income_cents": 0, "expenditure_cents": 0, "balance_cents": 0},
        ],
    }


async def test_finance_statement_is_published_with_lines_and_totals(disclosure):
    community = new_community()
    resp = await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(community),
                                        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 201, resp.text
    item = (await disclosure.client.get(f"/public/v1/items/{resp.json()['id']}")).json()
    assert item["kind"] == "finance" and item["category"] == "finance_statement"
    assert [line["fund_label"] for line in item["content"]["lines"]] == [
        "党组织服务群众经费", "社区工作经费", "网格服务经费", "其他"]
    assert item["content"]["totals"] == {"income_cents": 29_500_000, "expenditure_cents": 8_300_000,
                                         "balance_cents": 21_200_000}


async def test_finance_statement_with_bad_fund_type_names_the_field(disclosure):
    community = new_community()
    body = statement(community)
    body["lines"][0]["fund_type"] = "slush"
    resp = await disclosure.client.post("/api/v1/disclosure/finance-statements", json=body,
                                        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"][0]["field"] == "lines.0.fund_type"


async def test_a_months_statement_stands_alone_and_a_correction_names_the_one_it_replaces(disclosure, clock):
    community = new_community()
    headers = disclosure.token("community_staff", community)
    url = "/api/v1/disclosure/finance-statements"
    clock.set(datetime(2026, 11, 10, 10, tzinfo=SHANGHAI))
    first = await disclosure.client.post(url, json=statement(community, "2026-10"), headers=headers)
    assert first.status_code == 201, first.text
    # Posted twice (a double click, a retried request), October would show two sets of figures.
    again = await disclosure.client.post(url, json=statement(community, "2026-10"), headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "supersedes", again.text
    assert again.json()["current"] == first.json()["id"]
    # A correction says what it replaces: the old one comes down with it, and the board shows one October.
    corrected = statement(community, "2026-10")
    corrected["lines"][0]["income_cents"] = 21_000_000
    corrected["lines"][0]["balance_cents"] = 15_700_000
    fixed = await disclosure.client.post(url, json={**corrected, "supersedes": first.json()["id"]}, headers=headers)
    assert fixed.status_code == 201, fixed.text
    assert fixed.json()["content"]["supersedes"] == first.json()["id"]
    listed = (await disclosure.client.get("/public/v1/items", params={"unit": community, "kind": "finance"})).json()
    assert [i["id"] for i in listed["items"]] == [fixed.json()["id"]]
    # A month not yet begun has no accounts to disclose.
    ahead = await disclosure.client.post(url, json=statement(community, "2026-12"), headers=headers)
    assert ahead.status_code == 422 and ahead.json()["rule"] == "finance.period_ahead", ahead.text


async def test_an_item_for_a_code_of_no_level_is_a_422_naming_the_unit_code(disclosure):
    # What the public API could not read back is not written either.
    community = new_community()
    resp = await disclosure.client.post(
        "/api/v1/disclosure/items",
        json={"unit_code": community + "0", "kind": "residents", "category": "notice", "title": "通知", "body": "正文"},
        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "unit_code"


async def test_codes_follow_the_configured_grid_serial_width(disclosure):
    # A district whose grids have 4-digit serials (DISCLOSURE_GRID_SERIAL_WIDTH, as the registry's): a 16-digit grid
    # takes posts and its board is read; a 15-digit code is no level's.
    community = new_community()
    post = lambda code: disclosure.client.post(  # noqa: E731
        "/api/v1/disclosure/items", headers=disclosure.token("community_staff", community),
        json={"unit_code": code, "kind": "residents", "category": "notice", "title": "网格通知", "body": "正文"})
    width = disclosure.settings.grid_serial_width
    disclosure.settings.grid_serial_width = 4
    configure_grid_width(4)
    try:
        grid = community + "0012"
        posted = await post(grid)
        assert posted.status_code == 201 and posted.json()["unit_code"] == grid, posted.text
        assert (await post(community + "001")).status_code == 422
        building = await post(grid + "001")
        assert building.status_code == 422 and building.json()["rule"] == "disclosure.place_too_fine"
        board = await disclosure.client.get("/public/v1/items", params={"unit": grid})
        assert board.status_code == 200 and [i["id"] for i in board.json()["items"]] == [posted.json()["id"]]
        assert (await disclosure.client.get("/public/v1/items", params={"unit": community + "001"})).status_code == 422
    finally:
        disclosure.settings.grid_serial_width = width
        configure_grid_width(width)


async def test_a_statement_for_a_month_of_no_year_the_board_reads_is_a_422_naming_the_period(disclosure):
    community = new_community()
    for period in ("0000-05", "0206-11", "9999-01"):
        resp = await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(community, period),
                                            headers=disclosure.token("community_staff", community))
        assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "period", resp.text
    report = await disclosure.client.get("/api/v1/disclosure/reports/cadence", params={"unit_code": community},
                                         headers=disclosure.token("community_staff", community))
    assert report.status_code == 200, report.text


async def test_staff_cannot_post_outside_their_scope(disclosure):
    community = new_community()
    other = new_community()
    resp = await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(other),
                                        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 403


async def test_residents_cannot_post(disclosure):
    community = new_community()
    resp = await disclosure.client.post(
        "/api/v1/disclosure/items",
        json={"unit_code": community, "kind": "residents", "category": "notice", "title": "t", "body": "b"},
        headers=disclosure.token("resident", community + "0010010101001"))
    assert resp.status_code == 403


async def test_minutes_are_redacted_before_publication(disclosure):
    community = new_community()
    body = (f"会议由{PLANTED_NAMES[0]}主持，{PLANTED_NAMES[1]}记录。联系电话{PLANTED_PHONES[0]}，"
            f"座机{PLANTED_PHONES[1]}，身份证{PLANTED_ID}。{PLANTED_NAMES[2]}发言。")
    resp = await disclosure.client.post(
        "/api/v1/disclosure/items",
        json={"unit_code": community, "kind": "party", "category": "minutes", "title": f"{PLANTED_NAMES[0]}主持的支部会议",
              "body": body, "people": list(PLANTED_NAMES[:3]), "held_on": "2026-11-20"},
        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 201, resp.text
    staff_view = resp.json()
    item = (await disclosure.client.get(f"/public/v1/items/{staff_view['id']}")).json()
    text = item["title"] + item["content"]["body"]
    assert "王某主持" in text and "李某记录" in text and "欧阳某发言" in text
    assert PLANTED_PHONES[0] not in text and PLANTED_ID not in text
    assert item["content"]["attendee_names"] == ["王某", "李某", "欧阳某"]
    # Nothing raw was stored: the staff view is redacted too.
    assert PLANTED_NAMES[0] not in str(staff_view)


async def test_covenant_is_residents_affairs(disclosure):
    community = new_community()
    resp = await disclosure.client.post(
        "/api/v1/disclosure/items",
        json={"unit_code": community, "kind": "residents", "category": "covenant", "title": "居民公约（修订）",
              "body": "第一条 爱护公共环境。", "major": True},
        headers=disclosure.token("community_staff", community))
    assert resp.status_code == 201
    [item] = (await disclosure.client.get("/public/v1/items", params={"unit": community, "kind": "residents"})).json()["items"]
    assert item["category_label"] == "居民公约" and item["major"] is True


async def test_withdrawal_before_five_days_is_refused_with_the_rule(disclosure, clock):
    community = new_community()
    posted = datetime(2026, 3, 1, 10, tzinfo=SHANGHAI)
    clock.set(posted)
    headers = disclosure.token("community_staff", community)
    item = (await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(community, "2026-02"),
                                         headers=headers)).json()
    clock.set(datetime(2026, 3, 6, 23, 59, tzinfo=SHANGHAI))
    resp = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/withdraw", json={"reason": "更正"},
                                        headers=headers)
    assert resp.status_code == 422
    assert resp.json()["rule"] == "min_display_days"
    assert resp.json()["earliest_withdrawal_at"].startswith("2026-03-07T00:00:00+08:00")
    # Unless it discloses someone's personal information: then it comes down at once, and says why.
    resp = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/withdraw",
                                        json={"reason": "附件含身份证号", "personal_data": True}, headers=headers)
    assert resp.status_code == 200 and resp.json()["withdrawal_reason"] == "[个人信息] 附件含身份证号"
    assert (await disclosure.client.get(f"/public/v1/items/{item['id']}")).status_code == 404


async def test_an_item_with_an_unanswered_objection_stays_up_until_it_is_answered(disclosure, clock):
    community = new_community()
    clock.set(datetime(2026, 3, 1, 10, tzinfo=SHANGHAI))
    headers = disclosure.token("community_staff", community)
    item = (await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(community, "2026-02"),
                                         headers=headers)).json()
    clock.set(datetime(2026, 3, 5, 10, tzinfo=SHANGHAI))
    resident = disclosure.token("resident", community + "001002010101", sub=f"resident-{uuid.uuid4().hex[:6]}")
    asked = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/questions", headers=resident,
                                         json={"kind": "objection", "body": "支出明细不清楚"})
    assert asked.status_code == 201, asked.text
    clock.set(datetime(2026, 3, 7, 0, 0, tzinfo=SHANGHAI))
    url = f"/api/v1/disclosure/items/{item['id']}/withdraw"
    held = await disclosure.client.post(url, json={"reason": "到期撤下"}, headers=headers)
    assert held.status_code == 422 and held.json()["rule"] == "disclosure.questions_open", held.text
    answered = await disclosure.client.post(f"/api/v1/disclosure/questions/{asked.json()['id']}/answer",
                                            json={"body": "明细见附件"}, headers=headers)
    assert answered.status_code == 200, answered.text
    assert (await disclosure.client.post(url, json={"reason": "到期撤下"}, headers=headers)).status_code == 200


async def test_a_correction_does_not_take_down_a_statement_whose_objection_awaits_an_answer(disclosure, clock):
    community = new_community()
    clock.set(datetime(2026, 3, 1, 10, tzinfo=SHANGHAI))
    headers = disclosure.token("community_staff", community)
    url = "/api/v1/disclosure/finance-statements"
    first = (await disclosure.client.post(url, json=statement(community, "2026-02"), headers=headers)).json()
    clock.set(datetime(2026, 3, 2, 10, tzinfo=SHANGHAI))
    resident = disclosure.token("resident", community + "001002010101", sub=f"resident-{uuid.uuid4().hex[:6]}")
    asked = await disclosure.client.post(f"/api/v1/disclosure/items/{first['id']}/questions", headers=resident,
                                         json={"kind": "objection", "body": "支出明细不清楚"})
    assert asked.status_code == 201, asked.text
    corrected = {**statement(community, "2026-02"), "supersedes": first["id"], "note": "更正党组织服务群众经费"}
    held = await disclosure.client.post(url, json=corrected, headers=headers)
    assert held.status_code == 422 and held.json()["rule"] == "disclosure.questions_open", held.text
    assert held.json()["questions_open"] == 1
    # Nothing written: the statement stands with its objection, and no second February is on the board.
    listed = (await disclosure.client.get("/public/v1/items", params={"unit": community, "kind": "finance"})).json()
    assert [i["id"] for i in listed["items"]] == [first["id"]]
    standing = (await disclosure.client.get(f"/public/v1/items/{first['id']}")).json()
    assert [q["body"] for q in standing["questions"]] == ["支出明细不清楚"]
    answered = await disclosure.client.post(f"/api/v1/disclosure/questions/{asked.json()['id']}/answer",
                                            json={"body": "已更正，见更正后的公开"}, headers=headers)
    assert answered.status_code == 200, answered.text
    fixed = await disclosure.client.post(url, json=corrected, headers=headers)
    assert fixed.status_code == 201, fixed.text
    listed = (await disclosure.client.get("/public/v1/items", params={"unit": community, "kind": "finance"})).json()
    assert [i["id"] for i in listed["items"]] == [fixed.json()["id"]]


async def test_withdrawal_after_five_days_hides_the_item_and_publishes_the_event(disclosure, clock):
    community = new_community()
    clock.set(datetime(2026, 3, 1, 10, tzinfo=SHANGHAI))
    headers = disclosure.token("community_staff", community)
    item = (await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(community, "2026-02"),
                                         headers=headers)).json()
    clock.set(datetime(2026, 3, 7, 0, 0, tzinfo=SHANGHAI))
    resp = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/withdraw", json={"reason": "更正"},
                                        headers=headers)
    assert resp.status_code == 200 and resp.json()["withdrawn_at"]
    assert (await disclosure.client.get(f"/public/v1/items/{item['id']}")).status_code == 404
    again = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/withdraw", json={"reason": "x"},
                                         headers=headers)
    assert again.status_code == 409

    async def withdrawn_event_written():
        async with disclosure.app.state.sessions() as session:
            return await session.scalar(text(
                "SELECT count(*) FROM outbox_event WHERE type = 'gov.youmin.disclosure.item.withdrawn.v1' "
                "AND key = :k"), {"k": item["id"]})

    assert await eventually(withdrawn_event_written) == 1


async def test_publication_writes_item_published_to_the_outbox(disclosure):
    community = new_community()
    item = (await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(community),
                                         headers=disclosure.token("street_staff", community[:9]))).json()
    async with disclosure.app.state.sessions() as session:
        row = (await session.execute(text("SELECT data FROM outbox_event WHERE key = :k"), {"k": item["id"]})).one()
    assert row.data["kind"] == "finance" and row.data["unit_code"] == community
    assert row.data["category"] == "finance_statement"


async def test_posted_at_unit_visible_under_its_street_but_not_a_sibling(disclosure):
    community = new_community()
    street = community[:9]
    sibling = street + ("999" if community[9:] != "999" else "998")
    await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(community),
                                 headers=disclosure.token("community_staff", community))
    under_street = (await disclosure.client.get("/public/v1/items", params={"unit": street, "limit": 200})).json()
    under_sibling = (await disclosure.client.get("/public/v1/items", params={"unit": sibling})).json()
    assert community in {i["unit_code"] for i in under_street["items"]}
    assert community not in {i["unit_code"] for i in under_sibling["items"]}


async def test_items_filter_by_period(disclosure, clock):
    community = new_community()
    headers = disclosure.token("community_staff", community)
    clock.set(datetime(2026, 9, 30, 23, 30, tzinfo=SHANGHAI))
    await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(community, "2026-09"),
                                 headers=headers)
    clock.set(datetime(2026, 10, 1, 0, 30, tzinfo=SHANGHAI))
    await disclosure.client.post("/api/v1/disclosure/finance-statements", json=statement(community, "2026-10"),
                                 headers=headers)
    sept = (await disclosure.client.get("/public/v1/items", params={"unit": community, "period": "2026-09"})).json()
    q4 = (await disclosure.client.get("/public/v1/items", params={"unit": community, "period": "2026-Q4"})).json()
    assert [i["content"]["period"] for i in sept["items"]] == ["2026-09"]
    assert [i["content"]["period"] for i in q4["items"]] == ["2026-10"]
    bad = await disclosure.client.get("/public/v1/items", params={"unit": community, "period": "2026-13"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "period"


def test_masking_format_comes_from_settings():
    settings = Settings(redaction={"masking": {"name": "surname_stars"}})
    assert redact_content({"speaker_name": "王建国"}, settings.redaction_config()) == {"speaker_name": "王**"}


async def test_a_finance_line_given_with_its_opening_balance_must_add_up(disclosure):
    community = new_community()
    headers = disclosure.token("community_staff", community)
    line = {"fund_type": "party_service", "opening_balance_cents": 10_000, "income_cents": 5_000,
            "expenditure_cents": 3_000}
    wrong = await disclosure.client.post("/api/v1/disclosure/finance-statements", headers=headers, json={
        "unit_code": community, "period": "2026-10", "lines": [{**line, "balance_cents": 77}]})
    assert wrong.status_code == 422 and wrong.json()["field"] == "lines.0.balance_cents"
    right = await disclosure.client.post("/api/v1/disclosure/finance-statements", headers=headers, json={
        "unit_code": community, "period": "2026-10", "lines": [{**line, "balance_cents": 12_000}]})
    assert right.status_code == 201, right.text
    assert right.json()["content"]["lines"][0]["opening_balance_cents"] == 10_000
    # An auditor reads it on the board and in the line export beside the income, spending and balance.
    page = (await disclosure.client.get(f"/portal/items/{right.json()['id']}")).text
    assert "期初" in page and "¥100.00" in page
    export = (await disclosure.client.get("/public/v1/items.csv", params={"unit": community, "lines": True})).content
    header, row = export.decode("utf-8-sig").strip().splitlines()
    assert header.split(",")[7:11] == ["opening_balance_yuan", "income_yuan", "expenditure_yuan", "balance_yuan"]
    assert row.split(",")[7:11] == ["100.00", "50.00", "30.00", "120.00"]
