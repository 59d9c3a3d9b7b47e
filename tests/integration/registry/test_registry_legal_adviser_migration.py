"""Migration registry_0007 upgrades a database where the race it closes left a community two legal advisers."""

from __future__ import annotations

import json
import uuid
from datetime import date

import asyncpg
from alembic.script import ScriptDirectory

from youmin.kit.events import validate_data
from youmin.kit.migrate import alembic_config, drop_database, ensure_database, upgrade_async
from youmin.kit.relay import asyncpg_dsn

GRANTED = "gov.youmin.registry.role.granted.v1"
REVOKED = "gov.youmin.registry.role.revoked.v1"


def ids(n: int) -> list[uuid.UUID]:
    return sorted(uuid.uuid4() for _ in range(n))


async def test_a_community_with_two_active_legal_advisers_keeps_the_earliest_and_upgrades_to_head(infra):
    url = infra.database_url("registry_adviser_migration")
    await drop_database(url)
    await ensure_database(url)
    try:
        await upgrade_async("registry", url, "registry_0006")
        doubled, same_day, single = "370705001001", "370705001002", "370705001003"
        people = ids(6)
        # doubled: the later grant goes. same_day: both in effect the same day; the one granted first (its event
        # written first) stays, though its id sorts last. single: nothing to do. A revoked adviser is left alone.
        first, later, same_day_kept, same_day_other = ids(4)
        same_day_kept, same_day_other = max(same_day_kept, same_day_other), min(same_day_kept, same_day_other)
        single_grant, old_grant = ids(2)
        grants = [
            (first, people[0], doubled, date(2026, 1, 1), None),
            (later, people[1], doubled, date(2026, 2, 1), None),
            (old_grant, people[2], doubled, date(2025, 1, 1), date(2025, 6, 1)),
            (same_day_kept, people[3], same_day, date(2026, 3, 1), None),
            (same_day_other, people[4], same_day, date(2026, 3, 1), None),
            (single_grant, people[5], single, date(2026, 1, 1), None),
        ]
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.executemany("INSERT INTO person (person_id) VALUES ($1)", [(p,) for p in people])
            await conn.executemany(
                "INSERT INTO role_grant (grant_id, person_id, role, scope_code, effective_on, revoked_on)"
                " VALUES ($1, $2, 'legal_adviser', $3, $4, $5)", grants)
            for grant_id, person_id in ((same_day_kept, people[3]), (same_day_other, people[4])):
                await conn.execute(
                    "INSERT INTO outbox_event (event_id, topic, key, type, source, subject, time, data)"
                    " VALUES (registry_uuid7(), 'registry.people', $1, $2, '/youmin/registry', $1, now(), $3::json)",
                    str(person_id), GRANTED, json.dumps({"grant_id": str(grant_id), "person_id": str(person_id),
                                                         "role": "legal_adviser", "scope_code": same_day,
                                                         "certified_social_worker": False,
                                                         "effective_on": "2026-03-01"}))
        finally:
            await conn.close()

        await upgrade_async("registry", url)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            active = {r["scope_code"]: r["grant_id"] for r in await conn.fetch(
                "SELECT scope_code, grant_id FROM role_grant WHERE role = 'legal_adviser' AND revoked_on IS NULL")}
            assert active == {doubled: first, same_day: same_day_kept, single: single_grant}
            revoked_on = dict(await conn.fetch("SELECT grant_id, revoked_on FROM role_grant WHERE grant_id = ANY($1)",
                                               [later, same_day_other, old_grant]))
            assert revoked_on[old_grant] == date(2025, 6, 1)
            assert revoked_on[later] == revoked_on[same_day_other] and revoked_on[later] >= date(2026, 3, 1)
            events = [validate_data(r["type"], json.loads(r["data"])) for r in await conn.fetch(
                "SELECT type, data FROM outbox_event WHERE type = $1 ORDER BY id", REVOKED)]
            assert {(e.grant_id, e.scope_code, e.effective_on) for e in events} == {
                (later, doubled, revoked_on[later]), (same_day_other, same_day, revoked_on[same_day_other])}
            assert await conn.fetchval("SELECT to_regclass('uq_role_grant_scope_code') IS NOT NULL")
            head = ScriptDirectory.from_config(alembic_config("registry", url)).get_current_head()
            assert await conn.fetchval("SELECT version_num FROM alembic_version") == head
        finally:
            await conn.close()
    finally:
        await drop_database(url)
