"""Items stored at a building's or building unit's code before the board cut places to the grid are moved to their
grid by the migration (disclosure_0012), content included."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg

from youmin.kit.migrate import drop_database, ensure_database, upgrade_async
from youmin.kit.relay import asyncpg_dsn

GRID = "370705001001001"


async def test_items_stored_below_a_grid_are_moved_to_their_grid(infra):
    url = infra.database_url("disclosure_grid_migration")
    await drop_database(url)
    await ensure_database(url)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    rows = {  # id: (unit_code, content) as stored before
        uuid.uuid4(): (GRID + "00201", {"scope_code": GRID + "00201", "role": "unit_head"}),
        uuid.uuid4(): (GRID + "002", {"unit_code": GRID + "002", "percent": 50}),
        uuid.uuid4(): (GRID, {"scope_code": GRID, "note": "网格"}),
        uuid.uuid4(): ("370705001001", {"scope_code": None, "period": "2026-10"}),
    }
    try:
        await upgrade_async("disclosure", url, "disclosure_0011")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for item_id, (unit, content) in rows.items():
                await conn.execute(
                    "INSERT INTO disclosure_item (id, unit_code, community_code, kind, category, title, content,"
                    " published_at, updated_at) VALUES ($1, $2, $3, 'residents', 'duty_change', 't', $4::jsonb, $5, $5)",
                    item_id, unit, unit[:12], json.dumps(content), now)
            await upgrade_async("disclosure", url, "head")
            got = {r["id"]: (r["unit_code"], json.loads(r["content"])) for r in
                   await conn.fetch("SELECT id, unit_code, content::text AS content FROM disclosure_item")}
        finally:
            await conn.close()
    finally:
        await drop_database(url)
    ids = list(rows)
    assert got[ids[0]] == (GRID, {"scope_code": GRID, "role": "unit_head"})
    assert got[ids[1]] == (GRID, {"unit_code": GRID, "percent": 50})
    assert got[ids[2]] == rows[ids[2]]  # a grid's, and a community's, stay as they were
    assert got[ids[3]] == rows[ids[3]]
