"""Every service's and the gateway's migrations build exactly the tables its models.py declares (the kit's outbox and
inbox too)."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from youmin.kit.db import make_engine
from youmin.stack import MIGRATED


def models_metadata(name: str) -> MetaData:
    """Returns the metadata of a service's (or the gateway's) models."""
    module = "gateway.models" if name == "gateway" else f"services.{name}.models"
    return importlib.import_module(module).Base.metadata


@pytest.mark.parametrize("name", MIGRATED)
async def test_migrations_match_the_models(infra, name):
    metadata = models_metadata(name)
    engine = make_engine(infra.database_url(name))
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []
