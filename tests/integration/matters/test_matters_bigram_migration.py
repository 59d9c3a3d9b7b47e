"""Migration matters_0015 turns the stored title bigrams into integer codes (and back on downgrade)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
from alembic import command

from services.matters.rules.routing import bigram_codes, title_bigrams
from youmin.kit.migrate import alembic_config, drop_database, ensure_database, upgrade_async
from youmin.kit.relay import asyncpg_dsn


async def test_stored_bigrams_become_codes_that_the_duplicate_scoring_reads(infra):
    url = infra.database_url("matters_bigram_migration")
    await drop_database(url)
    await ensure_database(url)
    titles = {uuid.uuid4(): "三号楼路灯不亮", uuid.uuid4(): "小区路灯不亮了", uuid.uuid4(): "𠀋楼道积水"}
    try:
        await upgrade_async("matters", url, "matters_0014")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            now = datetime(2026, 11, 20, tzinfo=UTC)
            for matter_id, title in titles.items():
                await conn.execute(
                    "INSERT INTO matter (matter_id, community_code, unit_code, scope_level, title, title_bigrams,"
                    " description, category, nature, state, raised_via, proposer_sub, proposer_kind, created_at,"
                    " state_entered_at) VALUES ($1, '370705001001', '370705001001', 'community', $2, $3, 'x',"
                    " 'city_management', 'general', 'raised', 'app', 's', 'user', $4, $4)",
                    matter_id, title, title_bigrams(title), now)
        finally:
            await conn.close()

        await upgrade_async("matters", url, "matters_0015")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            stored = {r["matter_id"]: r["title_bigrams"] for r in await conn.fetch("SELECT matter_id, title_bigrams FROM matter")}
            assert stored == {m: bigram_codes(t) for m, t in titles.items()}
            # intarray's intersection counts the shared bigrams: "三号楼路灯不亮" and "小区路灯不亮了" share 路灯, 灯不, 不亮.
            common = await conn.fetchval(
                "SELECT icount(a.title_bigrams & b.title_bigrams) FROM matter a, matter b WHERE a.title = $1 AND b.title = $2",
                "三号楼路灯不亮", "小区路灯不亮了")
            assert common == 3
        finally:
            await conn.close()

        await asyncio.to_thread(command.downgrade, alembic_config("matters", url), "matters_0014")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            stored = {r["matter_id"]: r["title_bigrams"] for r in await conn.fetch("SELECT matter_id, title_bigrams FROM matter")}
            assert stored == {m: title_bigrams(t) for m, t in titles.items()}
        finally:
            await conn.close()
    finally:
        await drop_database(url)
