import asyncio
import uuid

from gateway import apikeys
from youmin.kit.db import transaction
from tests.integration.gateway.conftest import gateway_app  # noqa: F401
from tests.integration.gateway.test_gateway_hardening import _admin


async def test_self_rotate_racing_admin_revoke(gateway_app):
    client = gateway_app.state.test_client
    issued = (await client.post(f"/liaison/v1/admin/departments/d-{uuid.uuid4().hex[:6]}/keys", json={},
                                headers=_admin(gateway_app))).json()
    async with transaction(gateway_app.state.sessions) as revoking:
        assert await apikeys.revoke_key(revoking, issued["key_id"])
        rotating = asyncio.create_task(client.post("/liaison/v1/keys/rotate", headers={"x-api-key": issued["api_key"]}))
        await asyncio.sleep(0.5)
        assert not rotating.done()
    resp = await rotating
    print("rotate after revoke:", resp.status_code, resp.text[:200])
    if resp.status_code == 200:
        new = resp.json()["api_key"]
        works = (await client.get("/liaison/v1/webhooks", headers={"x-api-key": new})).status_code
        print("successor of revoked key works:", works)
        assert works != 200, "a revoked key minted a working successor"


async def test_two_self_rotations_at_once(gateway_app):
    client = gateway_app.state.test_client
    issued = (await client.post(f"/liaison/v1/admin/departments/d-{uuid.uuid4().hex[:6]}/keys", json={},
                                headers=_admin(gateway_app))).json()
    h = {"x-api-key": issued["api_key"]}
    rs = await asyncio.gather(*[client.post("/liaison/v1/keys/rotate", headers=h) for _ in range(5)])
    ok = [r.json()["api_key"] for r in rs if r.status_code == 200]
    print("statuses", [r.status_code for r in rs])
    live = [k for k in ok if (await client.get("/liaison/v1/webhooks", headers={"x-api-key": k})).status_code == 200]
    assert len(live) <= 1, f"{len(live)} live successors"
