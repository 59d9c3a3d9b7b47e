"""Every service's migrations build exactly the tables its models.py declares (the kit's outbox and inbox too)."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from youmin.kit.db import make_engine


@pytest.mark.parametrize("service", ["registry", "matters", "mediation", "disclosure"])
async def test_migrations_match_the_models(infra, service):
    metadata = importlib.import_module(f"services.{service}.models").Base.metadata
    engine = make_engine(infra.database_url(service))
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []
