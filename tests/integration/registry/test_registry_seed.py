"""The Kuiwen demo seed: published figures, determinism, idempotence, no personal data in its events."""

from __future__ import annotations

import json

import asyncpg
import pytest
from rich.console import Console

from services.registry import schemas
from services.registry.seed import DEMO_PASSWORD, DEMO_PHONES, seed_demo, seeded_personal_data
from services.registry.service import RegistryService
from youmin.kit.db import make_engine, make_sessionmaker, transaction
from youmin.kit.events import validate_data
from youmin.kit.migrate import drop_database, ensure_database, upgrade_async
from youmin.kit.relay import asyncpg_dsn
from youmin.kit.settings import service_database_url

SCALE = 0.005  # 1,315 households: the staff figures are exact at every scale


@pytest.fixture(scope="module")
async def seeded(infra):
    """A registry database of its own, seeded once."""
    url = service_database_url(infra.server_url, "registry", infra.suffix + "_seed")
    await ensure_database(url)
    await upgrade_async("registry", url)
    await seed_demo(url, scale=SCALE, console=Console(quiet=True))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    yield url, conn
    await conn.close()
    await drop_database(url)


async def test_seed_reproduces_kuiwens_published_structure_and_staff_figures(seeded):
    _, conn = seeded
    levels = dict(await conn.fetch("SELECT level, count(*) FROM org_unit GROUP BY level"))
    assert (levels["district"], levels["street"], levels["community"], levels["grid"]) == (1, 8, 65, 413)
    assert levels["household"] == round(263_000 * SCALE)
    streets = [r[0] for r in await conn.fetch("SELECT code FROM org_unit WHERE level = 'street' ORDER BY code")]
    assert streets == [f"370705{n:03d}" for n in (1, 2, 3, 4, 5, 6, 7, 9)]
    names = {r[0] for r in await conn.fetch("SELECT name FROM org_unit WHERE level = 'community'")}
    assert {"苇湾社区", "幸福街社区", "南湖社区"} <= names
    roles = dict(await conn.fetch("SELECT role, count(*) FROM role_grant WHERE revoked_on IS NULL GROUP BY role"))
    assert roles["grid_manager"] == 1315 and roles["community_worker"] == 784 and roles["mediator"] == 235
    assert await conn.fetchval("SELECT count(*) FROM role_grant WHERE certified_social_worker") == 198
    assert await conn.fetchval("SELECT count(*) FROM role_grant WHERE role = 'part_time_member' AND length(scope_code) = 9") == 58
    assert await conn.fetchval("SELECT count(*) FROM role_grant WHERE role = 'part_time_member' AND length(scope_code) = 12") == 261
    assert await conn.fetchval("SELECT count(*) FROM social_organisation") == 488
    assert await conn.fetchval("SELECT count(*) FROM department") == 53


async def test_seed_generator_matches_the_people_in_the_database(seeded):
    _, conn = seeded
    generated = {id_number for _, _, id_number in seeded_personal_data(SCALE)}
    stored = {r[0] for r in await conn.fetch("SELECT id_number FROM person_personal")}
    assert generated == stored


async def test_second_seed_run_changes_nothing(seeded):
    url, conn = seeded
    tables = ("org_unit", "person", "role_grant", "household_contact", "party_org", "outbox_event", "department_assignment")
    before = [await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables]
    await conn.execute("DELETE FROM import_job WHERE kind = 'seed'")  # forget the marker: every step runs again
    await seed_demo(url, scale=SCALE, console=Console(quiet=True))
    assert [await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables] == before


async def test_seed_events_are_valid_and_carry_no_personal_data(seeded):
    _, conn = seeded
    secrets = set()
    for name, phone, id_number in seeded_personal_data(SCALE):
        secrets.update(v for v in (phone, id_number) if v)
    rows = await conn.fetch("SELECT type, data::text AS data FROM outbox_event")
    assert len(rows) > 1315
    for row in rows:
        validate_data(row["type"], json.loads(row["data"]))
        assert not any(token in secrets for token in json.loads(row["data"]).values() if isinstance(token, str))
    blob = "\n".join(r["data"] for r in rows)
    assert not [s for s in list(secrets)[:2000] if s in blob]


async def test_demo_grid_manager_logs_in_with_the_documented_password(seeded):
    url, _ = seeded
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            identity = await RegistryService(session).verify_credentials(
                schemas.CredentialCheck(phone=DEMO_PHONES["grid_manager"], password=DEMO_PASSWORD))
    finally:
        await engine.dispose()
    assert [g.role for g in identity.grants] == ["grid_manager"]


async def test_coverage_report_of_the_district_names_the_seeded_gaps(seeded):
    url, _ = seeded
    from youmin.kit.auth import Grant, Principal

    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            report = await RegistryService(session).coverage(
                Principal(sub="t", grants=[Grant(role="district_staff", scope="370705")]), "370705", 10)
    finally:
        await engine.dispose()
    assert report.communities_without_liaison.count == 1
    assert report.communities_without_legal_adviser.count == 2
    assert report.grid_branches_failing_six_haves_count > 0
    assert all(set(g.missing) == {"funds", "signage"} for g in report.grid_branches_failing_six_haves)
    assert 0 < report.households_without_party_contact.count < 1315 * 0.05
    assert report.households_without_visiting_cadre.count == 0


async def test_a_larger_seed_loads_over_a_smaller_one_and_keeps_its_households(seeded):
    # Last in this module: it grows the module's database. `youmin up` seeds the demo size; the README's full-size
    # command then seeds over it.
    url, conn = seeded
    before = {r["id_number"]: r["household_code"] for r in await conn.fetch(
        "SELECT pp.id_number, h.code AS household_code FROM person p JOIN person_personal pp USING (person_id) "
        "JOIN org_unit h ON h.unit_id = p.household_id")}
    await seed_demo(url, scale=2 * SCALE, console=Console(quiet=True))
    assert await conn.fetchval("SELECT count(*) FROM org_unit WHERE level = 'household'") == round(263_000 * 2 * SCALE)
    after = {r["id_number"]: r["household_code"] for r in await conn.fetch(
        "SELECT pp.id_number, h.code AS household_code FROM person p JOIN person_personal pp USING (person_id) "
        "JOIN org_unit h ON h.unit_id = p.household_id")}
    assert before.items() <= after.items() and len(after) > len(before)
