"""Households under concurrent writes."""

from __future__ import annotations

import asyncio
import json

from conftest import new_id_number, new_phone

API = "/api/v1/registry"


async def new_household(registry, grid: str, serial: str = "0101") -> str:
    code = f"{grid}00101{serial}"
    for unit_code, name in ((grid + "001", "1号楼"), (grid + "00101", "1单元"), (code, serial)):
        response = await registry.create_unit(unit_code, name)
        assert response.status_code in (201, 422), response.text
    return code


async def new_resident(registry, household: str) -> str:
    response = await registry.client.post(f"{API}/people", headers=registry.admin, json={
        "name": "王五", "id_number": new_id_number(), "phone": new_phone(), "household_code": household})
    assert response.status_code == 201, response.text
    return response.json()["person_id"]


async def stored_proxies(registry, household: str) -> list[str]:
    conn = await registry.db()
    try:
        rows = await conn.fetch("SELECT p.person_id FROM household_proxy p JOIN org_unit u"
                                " ON u.unit_id = p.household_id WHERE u.code = $1 ORDER BY p.person_id", household)
        return [str(r["person_id"]) for r in rows]
    finally:
        await conn.close()


async def last_published_proxies(registry, household: str) -> list[str]:
    conn = await registry.db()
    try:
        data = await conn.fetchval(
            "SELECT data FROM outbox_event WHERE type = 'gov.youmin.registry.household.representative_set.v1'"
            " AND key = $1 ORDER BY id DESC LIMIT 1", household)
        return json.loads(data)["proxy_person_ids"]
    finally:
        await conn.close()


async def test_two_proxy_changes_at_once_leave_the_proxies_the_last_event_names(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    representative = await new_resident(registry, household)
    url = f"{API}/households/{household}/representative"
    first = await registry.client.put(url, json={"representative_person_id": representative}, headers=registry.admin)
    assert first.status_code == 200, first.text
    for _ in range(3):
        proxies = [await new_resident(registry, household) for _ in range(2)]
        # The representative stays: the household row itself is not updated, only its proxies are replaced.
        results = await asyncio.gather(*[registry.client.put(
            url, json={"representative_person_id": representative, "proxy_person_ids": [proxy]},
            headers=registry.admin) for proxy in proxies])
        assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
        stored = await stored_proxies(registry, household)
        assert len(stored) == 1
        assert stored == await last_published_proxies(registry, household)
