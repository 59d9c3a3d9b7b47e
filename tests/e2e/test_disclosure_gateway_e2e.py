"""The disclosure service through the gateway: staff post, the public reads, revalidates and exports."""

from __future__ import annotations

import random

from services.disclosure.leakcheck import PublicBodyRecorder


def community_code() -> str:
    return f"370705{random.randint(60, 99):03d}{random.randint(100, 999):03d}"


async def test_posted_statement_is_public_through_the_gateway_with_revalidation(stack):
    community = community_code()
    recorder = PublicBodyRecorder()
    async with stack.client(stack.token("community_staff", community)) as staff:
        resp = await staff.post("/api/v1/disclosure/finance-statements", json={
            "unit_code": community, "period": "2026-10",
            "note": "经办人王建国，电话13812345678",
            "lines": [{"fund_type": "party_service", "income_cents": 20_000_000, "expenditure_cents": 1_000_000,
                       "balance_cents": 19_000_000}]})
        assert resp.status_code == 201, resp.text
        item_id = resp.json()["id"]
    async with stack.client() as public:
        public.event_hooks["response"] = [recorder.hook]
        listing = await public.get("/public/v1/items", params={"unit": community[:9], "kind": "finance"})
        assert listing.status_code == 200
        assert item_id in [i["id"] for i in listing.json()["items"]]
        etag = listing.headers["etag"]
        again = await public.get("/public/v1/items", params={"unit": community[:9], "kind": "finance"},
                                 headers={"if-none-match": etag})
        assert again.status_code == 304
        page = await public.get(f"/portal/items/{item_id}")
        assert page.status_code == 200
        # The portal's policy admits its own stylesheet and nothing else (no script, frame, form or outside source).
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
        home = await public.get("/")
        assert home.status_code == 200 and "三务" in home.text and home.headers["content-security-policy"] == policy
        head = await public.head("/public/v1/items", params={"unit": community[:9], "kind": "finance"})
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
        assert int(head.headers["content-length"]) == len(listing.content)
        csv = await public.get("/public/v1/items.csv", params={"unit": community, "lines": True})
        assert csv.status_code == 200 and "190000.00" in csv.text
    assert recorder.leaks(["王建国"]) == []


async def test_staff_api_needs_a_token_at_the_gateway(stack):
    async with stack.client() as anonymous:
        resp = await anonymous.post("/api/v1/disclosure/items", json={})
    assert resp.status_code == 401
