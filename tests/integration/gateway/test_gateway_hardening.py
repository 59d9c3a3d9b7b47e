"""Hardening at the gateway: rate limits, CORS for the portal only, headers, request ids, API key administration."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway import apikeys
from youmin.kit.auth import Grant, mint_token
from youmin.kit.db import transaction
from youmin.testing import running


def _admin(app) -> dict:
    token = mint_token(app.state.settings, "district-admin", [Grant(role="district_staff", scope="370705")])
    return {"authorization": f"Bearer {token}"}


async def test_ip_rate_limit_answers_429_with_retry_after(make_gateway):
    app = make_gateway(rate_limit_ip_capacity=3, rate_limit_ip_per_second=0.01)
    async with running(app) as client:
        statuses = [(await client.get("/open311/v2/services.json")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        resp = await client.get("/open311/v2/services.json")
        assert int(resp.headers["retry-after"]) >= 1
        assert resp.json()["limit"] == "ip"


async def test_user_rate_limit_is_per_user(make_gateway):
    app = make_gateway(rate_limit_user_capacity=2, rate_limit_user_per_second=0.01)
    async with running(app) as client:
        alice = {"authorization": "Bearer " + mint_token(app.state.settings, "alice", [])}
        bob = {"authorization": "Bearer " + mint_token(app.state.settings, "bob", [])}
        seen = [(await client.get("/api/v1/matters/x", headers=alice)).status_code for _ in range(3)]
        assert seen[-1] == 429 and 429 not in seen[:2]
        assert (await client.get("/api/v1/matters/x", headers=bob)).status_code != 429


async def test_a_made_up_api_key_does_not_spare_a_users_bucket(make_gateway):
    app = make_gateway(rate_limit_user_capacity=2, rate_limit_user_per_second=0.01)
    async with running(app) as client:
        alice = {"authorization": "Bearer " + mint_token(app.state.settings, "alice", [])}
        seen = [(await client.get("/api/v1/matters/x", headers={**alice, "x-api-key": f"ym_{uuid.uuid4().hex[:12]}_zz"})).status_code
                for _ in range(3)]
        assert seen[-1] == 429 and 429 not in seen[:2]


@pytest.mark.parametrize("given", ["caf\xe9", "a b", "x" * 200, "id\u4e2d"])
async def test_a_request_id_that_is_not_a_plain_token_is_replaced(gateway_app, given):
    resp = await gateway_app.state.test_client.post("/auth/login", json={"phone": "13800000009", "password": "x"},
                                                    headers={"x-request-id": given.encode("utf-8")})
    # The registry behind this gateway is unreachable: a 503 problem, not a crash on the header.
    assert resp.status_code == 503 and resp.headers["content-type"].startswith("application/problem+json"), resp.text
    assert resp.headers["x-request-id"] != given.encode("utf-8").decode("latin-1") and len(resp.headers["x-request-id"]) == 32
    kept = await gateway_app.state.test_client.get("/healthz", headers={"x-request-id": "trace-42.a:b"})
    assert kept.headers["x-request-id"] == "trace-42.a:b"


async def test_api_key_rate_limit_is_per_key(make_gateway):
    app = make_gateway(rate_limit_key_capacity=2, rate_limit_key_per_second=0.01)
    async with running(app) as client:
        key = {"x-api-key": "ym_0123456789ab_secret"}
        seen = [(await client.get("/liaison/v1/webhooks", headers=key)).status_code for _ in range(3)]
        assert seen == [401, 401, 429]
        # A made-up key that names the same (logged, not secret) key id has a bucket of its own: it cannot spend
        # the department's allowance.
        forged = {"x-api-key": "ym_0123456789ab_guessed"}
        assert (await client.get("/liaison/v1/webhooks", headers=forged)).status_code == 401


async def test_cors_allows_the_portal_origin_only(gateway_app):
    client = gateway_app.state.test_client
    portal = gateway_app.state.settings.cors_origins[0]
    ok = await client.options("/open311/v2/services.json", headers={
        "origin": portal, "access-control-request-method": "GET"})
    assert ok.headers.get("access-control-allow-origin") == portal
    evil = await client.get("/open311/v2/services.json", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers


async def test_every_response_carries_security_headers_and_the_request_id(gateway_app):
    client = gateway_app.state.test_client
    resp = await client.get("/api/v1/registry/units", headers={"x-request-id": "req-abc"})
    assert resp.status_code == 401
    assert resp.headers["x-request-id"] == "req-abc"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["cache-control"] == "no-store"
    assert (await client.get("/open311/v2/services.json")).headers["x-request-id"]


async def test_oversized_body_is_refused_with_413(gateway_app):
    resp = await gateway_app.state.test_client.post("/auth/login", content=b"x" * 2_000_000,
                                                    headers={"content-type": "application/json"})
    assert resp.status_code == 413


async def test_unreachable_service_gives_502_problem(gateway_app):
    token = mint_token(gateway_app.state.settings, "u", [Grant(role="resident", scope="370705001001")])
    resp = await gateway_app.state.test_client.get("/api/v1/matters/matters", headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 502
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_department_and_service_tokens_cannot_use_the_resident_api(gateway_app):
    settings = gateway_app.state.settings
    for token in (mint_token(settings, "d", [], kind="department", department="d1"),
                  mint_token(settings, "s", [], kind="service")):
        resp = await gateway_app.state.test_client.get("/api/v1/matters/matters", headers={"authorization": f"Bearer {token}"})
        assert resp.status_code == 403


# Dot segments are sent encoded: httpx resolves a plain "/../" before sending, so the gateway would never see it.
@pytest.mark.parametrize("path", ["/api/v1/registry/%2e%2e/%2e%2e/internal/v1/registry/credentials",
                                  "/public/v1/%2e%2e/%2e%2e/metrics", "/public/v1/%2E%2E/%2E%2E/internal/v1/registry/x",
                                  "/portal/..%2f..%2fapi/v1/disclosure/items", "/portal/%2e%2e/%2e%2e/metrics",
                                  "/api/v1/matters/%2e%2e/%2e%2e/metrics", "/public/v1/items/%2e/x"])
async def test_no_proxied_route_reaches_outside_its_prefix(gateway_app, path):
    # The services behind this gateway are unreachable: a path sent on would be a 502, a refused one is a 404.
    token = mint_token(gateway_app.state.settings, "u", [Grant(role="admin", scope="370705")])
    resp = await gateway_app.state.test_client.get(path, headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 404, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_district_staff_issue_rotate_and_revoke_department_keys(gateway_app):
    client = gateway_app.state.test_client
    department = f"dept-{uuid.uuid4().hex[:8]}"
    issued = await client.post(f"/liaison/v1/admin/departments/{department}/keys", json={"label": "12345 hotline"},
                               headers=_admin(gateway_app))
    assert issued.status_code == 201
    first = issued.json()
    assert (await client.get("/liaison/v1/webhooks", headers={"x-api-key": first["api_key"]})).status_code == 200
    rotated = (await client.post(f"/liaison/v1/admin/keys/{first['key_id']}/rotate", headers=_admin(gateway_app))).json()
    assert (await client.get("/liaison/v1/webhooks", headers={"x-api-key": first["api_key"]})).status_code == 401
    assert (await client.get("/liaison/v1/webhooks", headers={"x-api-key": rotated["api_key"]})).status_code == 200
    revoked = await client.post(f"/liaison/v1/admin/keys/{rotated['key_id']}/revoke", headers=_admin(gateway_app))
    assert revoked.json()["revoked_at"]
    assert (await client.get("/liaison/v1/webhooks", headers={"x-api-key": rotated["api_key"]})).status_code == 401
    listed = (await client.get(f"/liaison/v1/admin/departments/{department}/keys", headers=_admin(gateway_app))).json()
    assert {k["key_id"] for k in listed["items"]} == {first["key_id"], rotated["key_id"]}
    assert all("api_key" not in k and "key_hash" not in k for k in listed["items"])


async def test_a_key_revoked_while_it_is_being_rotated_leaves_no_live_successor_unnoticed(gateway_app):
    # Revocation waits for a rotation holding the key: it then finds the key replaced (404 naming the successor),
    # never a 200 that leaves the new key working.
    client = gateway_app.state.test_client
    issued = (await client.post(f"/liaison/v1/admin/departments/dept-{uuid.uuid4().hex[:8]}/keys", json={"label": "x"},
                                headers=_admin(gateway_app))).json()
    async with transaction(gateway_app.state.sessions) as rotating:
        rotated = await apikeys.rotate_key(rotating, issued["key_id"])
        assert rotated is not None
        revoking = asyncio.create_task(client.post(f"/liaison/v1/admin/keys/{issued['key_id']}/revoke",
                                                   headers=_admin(gateway_app)))
        await asyncio.sleep(0.5)
        assert not revoking.done()  # waiting for the rotation's lock
    revoked = await revoking
    assert revoked.status_code == 404 and rotated[1].key_id in revoked.json()["detail"], revoked.text
    assert (await client.get("/liaison/v1/webhooks", headers={"x-api-key": rotated[0]})).status_code == 200


async def test_department_rotates_its_own_key(gateway_app):
    client = gateway_app.state.test_client
    first = (await client.post(f"/liaison/v1/admin/departments/d-{uuid.uuid4().hex[:6]}/keys", json={},
                               headers=_admin(gateway_app))).json()
    rotated = await client.post("/liaison/v1/keys/rotate", headers={"x-api-key": first["api_key"]})
    assert rotated.status_code == 200
    assert (await client.get("/liaison/v1/webhooks", headers={"x-api-key": first["api_key"]})).status_code == 401
    assert (await client.get("/liaison/v1/webhooks", headers={"x-api-key": rotated.json()["api_key"]})).status_code == 200


async def test_a_key_rotated_twice_at_once_has_one_successor(gateway_app):
    # A client retrying a rotation that seemed to time out: the second rotation authenticates with the key while the
    # first still holds its lock, waits, then finds the key replaced; no second live key comes of it.
    client = gateway_app.state.test_client
    department = f"d-{uuid.uuid4().hex[:6]}"
    first = (await client.post(f"/liaison/v1/admin/departments/{department}/keys", json={},
                               headers=_admin(gateway_app))).json()
    async with transaction(gateway_app.state.sessions) as rotating:
        assert await apikeys.rotate_key(rotating, first["key_id"]) is not None
        again = asyncio.create_task(client.post("/liaison/v1/keys/rotate", headers={"x-api-key": first["api_key"]}))
        await asyncio.sleep(0.5)
        assert not again.done()  # authenticated with the key, waiting for the first rotation's lock
    assert (await again).status_code == 401
    keys = (await client.get(f"/liaison/v1/admin/departments/{department}/keys", headers=_admin(gateway_app))).json()
    assert len([k for k in keys["items"] if k["revoked_at"] is None]) == 1, keys


async def test_only_district_staff_manage_keys(gateway_app):
    client = gateway_app.state.test_client
    street = mint_token(gateway_app.state.settings, "s", [Grant(role="district_staff", scope="370705001")])
    resident = mint_token(gateway_app.state.settings, "r", [Grant(role="resident", scope="370705")])
    for token in (street, resident):
        resp = await client.post("/liaison/v1/admin/departments/d1/keys", json={}, headers={"authorization": f"Bearer {token}"})
        assert resp.status_code == 403
    assert (await client.post("/liaison/v1/admin/departments/d1/keys", json={})).status_code == 401


async def test_an_open311_post_draws_on_its_keys_bucket_though_the_key_comes_in_the_form(make_gateway):
    # The guard reads no body: the key's bucket is taken once the form's key is verified, as a header's would be.
    app = make_gateway(rate_limit_key_capacity=2, rate_limit_key_per_second=0.01)
    async with running(app) as client:
        async with transaction(app.state.sessions) as session:
            key = await apikeys.create_key(session, f"dept-{uuid.uuid4().hex[:8]}")
        form = {"api_key": key, "service_code": "public_safety", "description": "井盖缺失",
                "address_id": "370705001001"}
        answers = [await client.post("/open311/v2/requests.json", data=form) for _ in range(3)]
    assert [a.status_code == 429 for a in answers] == [False, False, True], [a.text for a in answers]
    refused = answers[-1]
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()[0]["code"] == 429 and "rate limit" in refused.json()[0]["description"]
