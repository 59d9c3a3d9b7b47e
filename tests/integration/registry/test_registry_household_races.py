"""Households under concurrent writes: who speaks for a household, and registering someone while it is retired."""

from __future__ import annotations

import asyncio
import json

from conftest import new_household, new_id_number, new_phone

from services.registry import importer
from youmin.testing import eventually

API = "/api/v1/registry"


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


async def wait_until_blocked(registry, *pids: int) -> None:
    """Waits until each backend waits on a lock."""
    async def blocked() -> bool:
        conn = await registry.db()
        try:
            waiting = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])"
                                          " AND wait_event_type = 'Lock'", list(pids))
            return waiting == len(pids)
        finally:
            await conn.close()

    await eventually(blocked, timeout=10)


async def blocked_or_done(registry, task: asyncio.Task) -> None:
    """Waits until a request is done or some registry backend besides the one already blocked waits on a lock."""
    async def settled() -> bool:
        if task.done():
            return True
        conn = await registry.db()
        try:
            return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                       " AND wait_event_type = 'Lock'") >= 2
        finally:
            await conn.close()

    await eventually(settled, timeout=10)


async def test_a_person_registered_while_their_household_is_retired_keeps_it_or_is_refused(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    blocker = await registry.db()
    try:
        # Registration is held just before it writes the person, after it has read the household; the retirement
        # runs meanwhile.
        await blocker.execute("SET idle_in_transaction_session_timeout = '60s'")
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE person IN SHARE MODE")
        register = asyncio.create_task(registry.client.post(f"{API}/people", headers=registry.admin, json={
            "name": "赵六", "id_number": new_id_number(), "household_code": household}))
        await eventually(lambda: _lock_waiters(registry, "person"), timeout=10)
        retire = asyncio.create_task(registry.client.post(f"{API}/units/{household}/retire", json={},
                                                          headers=registry.admin))
        await blocked_or_done(registry, retire)
        await tx.rollback()
        registered, retired = await register, await retire
    finally:
        await blocker.close()
    assert (registered.status_code, retired.status_code) in ((201, 409), (422, 200)), (registered.text, retired.text)
    conn = await registry.db()
    try:
        lodgers = await conn.fetchval("SELECT count(*) FROM person p JOIN org_unit u ON u.unit_id = p.household_id"
                                      " WHERE u.code = $1 AND u.retired_on IS NOT NULL", household)
    finally:
        await conn.close()
    assert lodgers == 0


async def test_an_import_into_a_household_being_retired_keeps_it_or_is_refused(registry, tmp_path):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    path = tmp_path / "households.csv"
    path.write_text("household_code,name,id_number,role_in_household\n"
                    f"{household},钱七,{new_id_number()},representative\n", encoding="utf-8")
    blocker, conn = await registry.db(), await registry.db()
    try:
        await blocker.execute("SET idle_in_transaction_session_timeout = '60s'")
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE person IN SHARE MODE")
        imported = asyncio.create_task(importer.import_file(conn, "households", path))
        await wait_until_blocked(registry, conn.get_server_pid())
        retire = asyncio.create_task(registry.client.post(f"{API}/units/{household}/retire", json={},
                                                          headers=registry.admin))
        await blocked_or_done(registry, retire)
        await tx.rollback()
        result, retired = await imported, await retire
        lodgers = await conn.fetchval("SELECT count(*) FROM person p JOIN org_unit u ON u.unit_id = p.household_id"
                                      " WHERE u.code = $1 AND u.retired_on IS NOT NULL", household)
    finally:
        await blocker.close()
        await conn.close()
    assert (result.status, retired.status_code) in (("succeeded", 409), ("failed", 200)), (result, retired.text)
    assert lodgers == 0


async def _lock_waiters(registry, table: str) -> bool:
    conn = await registry.db()
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = $1"
            " AND NOT l.granted", table) > 0
    finally:
        await conn.close()
