"""Every service's and the gateway's migrations build exactly the tables its models.py declares (the kit's outbox and
inbox too), name their constraints as the models do, and go down to nothing and back up again one revision at a time."""

from __future__ import annotations

import asyncio
import importlib

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData

from youmin.kit.db import make_engine
from youmin.kit.migrate import alembic_config, drop_database, ensure_database
from youmin.kit.relay import asyncpg_dsn
from youmin.kit.settings import service_database_url
from youmin.stack import MIGRATED

# Constraints as PostgreSQL keeps them (not null constraints aside: alembic compares nullability).
_CONSTRAINTS = """
    SELECT t.relname AS table_name, c.contype AS kind, c.conname AS name, pg_get_constraintdef(c.oid) AS definition
    FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
    WHERE c.connamespace = 'public'::regnamespace AND c.contype <> 'n' AND t.relname <> 'alembic_version'
"""

_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"


def models_metadata(name: str) -> MetaData:
    """Returns the metadata of a service's (or the gateway's) models."""
    module = "gateway.models" if name == "gateway" else f"services.{name}.models"
    return importlib.import_module(module).Base.metadata


async def fetch(url: str, query: str) -> list[tuple]:
    """Returns the rows of a query on a database, as sorted tuples."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return sorted(tuple(row) for row in await conn.fetch(query))
    finally:
        await conn.close()


@pytest.mark.parametrize("name", MIGRATED)
async def test_migrations_match_the_models(infra, name):
    metadata = models_metadata(name)
    engine = make_engine(infra.database_url(name))
    opts = {"compare_type": True, "compare_server_default": True}
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync, opts=opts), metadata))
    finally:
        await engine.dispose()
    assert diff == []


@pytest.mark.parametrize("name", MIGRATED)
async def test_migrated_constraints_are_named_and_defined_as_the_models_create_them(infra, name):
    # Alembic compares neither check constraints nor constraint names: a database built from the models alone is the
    # reference.
    url = service_database_url(infra.server_url, f"{name}_models", infra.suffix)
    await ensure_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(models_metadata(name).create_all)
        expected = await fetch(url, _CONSTRAINTS)
    finally:
        await engine.dispose()
        await drop_database(url)
    assert await fetch(infra.database_url(name), _CONSTRAINTS) == expected


def _down_to_base(name: str, url: str) -> list[str]:
    """Takes a database at head down to base one revision at a time; returns the revisions, base first."""
    cfg = alembic_config(name, url)
    revisions = [r.revision for r in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]
    command.upgrade(cfg, "head")
    for _ in revisions:
        command.downgrade(cfg, "-1")
    return revisions


def _up(name: str, url: str, steps: int) -> None:
    """Takes a database up one revision at a time."""
    cfg = alembic_config(name, url)
    for _ in range(steps):
        command.upgrade(cfg, "+1")


@pytest.mark.parametrize("name", MIGRATED)
async def test_migrations_go_down_to_base_and_up_to_head_again_one_revision_at_a_time(infra, name):
    url = service_database_url(infra.server_url, f"{name}_round_trip", infra.suffix)
    await ensure_database(url)
    try:
        revisions = await asyncio.to_thread(_down_to_base, name, url)
        assert await fetch(url, _TABLES) == []
        assert await fetch(url, "SELECT version_num FROM alembic_version") == []
        await asyncio.to_thread(_up, name, url, len(revisions))
        assert await fetch(url, "SELECT version_num FROM alembic_version") == [(revisions[-1],)]
        assert await fetch(url, _CONSTRAINTS) == await fetch(infra.database_url(name), _CONSTRAINTS)
    finally:
        await drop_database(url)
