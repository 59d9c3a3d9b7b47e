"""Migration matters_0008 turns the stored online choices into per-vote totals and receipts, keeping every count."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from youmin.kit.migrate import drop_database, ensure_database, upgrade_async
from youmin.kit.relay import asyncpg_dsn


async def test_stored_choices_become_totals_and_receipts_without_a_choice_for_secret_ballots(infra):
    url = infra.database_url("matters_ballot_migration")
    await drop_database(url)
    await ensure_database(url)
    try:
        await upgrade_async("matters", url, "matters_0007")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            now = datetime(2026, 11, 20, tzinfo=UTC)
            votes = {"secret": uuid.uuid4(), "open": uuid.uuid4(), "silent": uuid.uuid4()}
            # Only the tables the migration reads matter here: no matter rows behind the votes.
            await conn.execute("SET session_replication_role = replica")
            for name, secret in (("secret", True), ("open", False), ("silent", True)):
                await conn.execute(
                    "INSERT INTO vote (vote_id, matter_id, scope_code, rule_version, rule, secret, status,"
                    " base_size, opens_at, opened_by) VALUES ($1, $2, '370705001001', 'urban-2018', '{}', $3,"
                    " 'open', 10, $4, 's')", votes[name], uuid.uuid4(), secret, now)
            choices = [("secret", "for"), ("secret", "for"), ("secret", "against"), ("secret", "abstain"),
                       ("open", "against")]
            await conn.executemany("INSERT INTO ballot_choice (receipt_digest, vote_id, choice) VALUES ($1, $2, $3)",
                                   [(f"d{i}", votes[v], c) for i, (v, c) in enumerate(choices)])
        finally:
            await conn.close()

        await upgrade_async("matters", url, "matters_0008")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            totals = {r["vote_id"]: (r["votes_for"], r["votes_against"], r["abstain"])
                      for r in await conn.fetch("SELECT * FROM vote_online_count")}
            assert totals == {votes["secret"]: (2, 1, 1), votes["open"]: (0, 1, 0)}
            receipts = {r["receipt_digest"]: r["choice"] for r in await conn.fetch("SELECT * FROM ballot_receipt")}
            assert receipts == {"d0": None, "d1": None, "d2": None, "d3": None, "d4": "against"}
            assert await conn.fetchval("SELECT to_regclass('ballot_choice')") is None
        finally:
            await conn.close()
    finally:
        await drop_database(url)
