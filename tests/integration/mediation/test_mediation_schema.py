"""The migrations build exactly the tables models.py declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.mediation.models import Base
from youmin.kit.db import make_engine


async def test_migrations_match_the_models(infra):
    engine = make_engine(infra.database_url("mediation"))
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []
