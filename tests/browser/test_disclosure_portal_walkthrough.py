"""Headless Chromium walks the portal through the gateway: street → community → item, and a matter."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from disclosure_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from services.disclosure.leakcheck import find_leaks
from services.matters import events as matters
from services.mediation import events as mediation
from services.registry import events as registry
from youmin.testing import eventually

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install -y chromium)"),
]

PLANTED = ("赵丽华", "13912345678")


async def seed(portal_stack) -> dict:
    street = f"370705{random.randint(50, 59):03d}"
    community, sibling = street + f"{random.randint(100, 499):03d}", street + f"{random.randint(500, 999):03d}"
    names = {street: f"测试街道{street[-2:]}", community: "幸福街社区", sibling: "苇湾社区"}
    for code, parent, level in ((street, "370705", "street"), (community, street, "community"),
                                (sibling, street, "community")):
        await portal_stack.send(registry.UnitCreated(unit_id=uuid.uuid4(), unit_code=code, parent_code=parent,
                                                     level=level, unit_name=names[code], effective_on=date(2026, 1, 1)))
    now = datetime.now(UTC)
    matter_id = uuid.uuid4()
    await portal_stack.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=community,
                                                 category="facilities", raised_via="app",
                                                 raised_at=now - timedelta(days=20), key_project=True))
    await portal_stack.send(matters.MatterTransitioned(matter_id=matter_id, community_code=community,
                                                       from_state="raised", to_state="deciding",
                                                       action="start_decision", at=now - timedelta(days=10)))
    await portal_stack.send(matters.MatterDecided(
        matter_id=matter_id, community_code=community, unit_code=community, category="facilities",
        channel="residents_meeting", public_title="加装3号楼电梯", rule_version="urco-2018", quorum_met=True,
        passed=True, base_size=96, present=70, votes_for=58, votes_against=8, abstain=4, decided_at=now - timedelta(days=9)))
    await portal_stack.send(matters.MatterProgressUpdated(
        matter_id=matter_id, community_code=community, task_id=uuid.uuid4(), percent=60, budget_cents=48_000_000,
        spent_cents=21_000_000, at=now - timedelta(days=2)))
    for level, outcome_event in (("grid", "agreement"), ("grid", "agreement"), ("community", "terminated")):
        case = uuid.uuid4()
        await portal_stack.send(mediation.CaseOpened(case_id=case, place_code=community + "001", level=level,
                                                     dispute_type="neighbour", opened_at=now))
        if outcome_event == "agreement":
            await portal_stack.send(mediation.CaseAgreementReached(
                case_id=case, place_code=community + "001", dispute_type="neighbour", level=level,
                agreement_kind="oral", opened_at=now, at=now))
        else:
            await portal_stack.send(mediation.CaseTerminated(case_id=case, place_code=community + "001",
                                                             dispute_type="neighbour", level=level,
                                                             reason_code="party_refused", at=now))
    async with portal_stack.client(portal_stack.token("community_staff", community)) as staff:
        resp = await staff.post("/api/v1/disclosure/finance-statements", json={
            "unit_code": community, "period": "2026-10",
            "lines": [
                {"fund_type": "party_service", "income_cents": 20_000_000, "expenditure_cents": 6_420_000,
                 "balance_cents": 13_580_000},
                {"fund_type": "community_work", "income_cents": 7_800_000, "expenditure_cents": 3_100_000,
                 "balance_cents": 4_700_000},
                {"fund_type": "grid_service", "income_cents": 3_600_000, "expenditure_cents": 1_200_000,
                 "balance_cents": 2_400_000, "note": f"经办人{PLANTED[0]}，电话{PLANTED[1]}"},
            ]})
        assert resp.status_code == 201, resp.text
        statement = resp.json()
        resp = await staff.post("/api/v1/disclosure/items", json={
            "unit_code": community, "kind": "party", "category": "minutes", "title": "十月份党员大会纪要",
            "body": f"会议由{PLANTED[0]}主持，通报了加装电梯进展。", "people": [PLANTED[0]]})
        assert resp.status_code == 201, resp.text

    async with portal_stack.client() as public:
        async def ready():
            items = (await public.get("/public/v1/items", params={"unit": community})).json()["items"]
            units = (await public.get("/public/v1/units", params={"parent": street})).json()["units"]
            stats = (await public.get("/public/v1/statistics/mediation", params={"unit": community})).json()["rows"]
            categories = {i["category"] for i in items}
            return ({"matter_decision", "matter_progress", "finance_statement", "minutes", "mediation_statistics"}
                    <= categories and len(units) == 2 and sum(r["count"] for r in stats) == 6)

        await eventually(ready, timeout=60)
    return {"street": street, "community": community, "names": names, "statement": statement, "matter_id": matter_id}


async def test_portal_walkthrough_street_community_item_and_matter(portal_stack):
    from playwright.async_api import async_playwright

    data = await seed(portal_stack)
    street, community = data["street"], data["community"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages_html: list[tuple[str, str]] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                                device_scale_factor=2, is_mobile=True)
            page = await context.new_page()
            # The pages' Content-Security-Policy must not refuse anything the portal itself uses.
            refused: list[str] = []
            page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
            await page.goto(portal_stack.gateway_url + "/")
            assert await page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") \
                == "rgb(178, 34, 34)"  # the stylesheet applied
            assert await page.get_attribute('meta[name="viewport"]', "content") == "width=device-width, initial-scale=1"
            assert "三务" in await page.inner_text("header h1")
            pages_html.append(("home", await page.content()))

            await page.click(f'a.unit-link[data-code="{street}"]')
            await page.wait_for_url(f"**/portal/units/{street}")
            assert await page.inner_text("h2.unit-name") == data["names"][street]
            pages_html.append(("street", await page.content()))

            await page.click(f'a.unit-link[data-code="{community}"]')
            await page.wait_for_url(f"**/portal/units/{community}")
            assert await page.inner_text("h2.unit-name") == "幸福街社区"
            boards = await page.locator("section.board").evaluate_all("els => els.map(e => e.dataset.kind)")
            assert boards == ["party", "residents", "finance"]
            assert await page.locator("figure.chart svg").count() == 2
            # Nothing is wider than the phone's screen.
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            pages_html.append(("community", await page.content()))
            await page.screenshot(path=str(ARTIFACTS / "disclosure_portal_community.png"), full_page=True)

            await page.click(f'a.item-link[href="/portal/items/{data["statement"]["id"]}"]')
            await page.wait_for_selector("table.finance")
            rows = await page.locator("table.finance tbody tr td:first-child").all_inner_texts()
            assert rows == ["党组织服务群众经费", "社区工作经费", "网格服务经费"]
            assert await page.inner_text("table.finance tfoot") == "合计\t¥314,000.00\t¥107,200.00\t¥206,800.00\t"
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            pages_html.append(("item", await page.content()))
            await page.screenshot(path=str(ARTIFACTS / "disclosure_portal_item.png"), full_page=True)

            await page.go_back()
            await page.click(f'a.matter-link[href="/portal/matters/{data["matter_id"]}"]')
            await page.wait_for_selector("ol.timeline")
            steps = await page.locator("ol.timeline li").all_inner_texts()
            assert len(steps) == 4 and "表决通过" in steps[2] and "60%" in steps[3]
            assert "58 / 8 / 4" in await page.inner_text("table.tally")
            bar = await page.locator("svg.progress").first.bounding_box()
            assert bar is not None and bar["width"] > 100 and bar["height"] == 14
            pages_html.append(("matter", await page.content()))
            await page.screenshot(path=str(ARTIFACTS / "disclosure_portal_matter.png"), full_page=True)
        finally:
            await browser.close()

    assert refused == []
    assert (ARTIFACTS / "disclosure_portal_item.png").stat().st_size > 10_000
    leaks = [leak for name, html in pages_html for leak in find_leaks(name, html, [PLANTED[0]])]
    assert leaks == []
    assert portal_stack.recorder.leaks([PLANTED[0]]) == []
