"""Alembic per service: one database and one migration history each."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from youmin.kit.relay import asyncpg_dsn

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(service: str, url: str) -> Config:
    """Returns the Alembic configuration of a service against a database URL."""
    cfg = Config()
    folder = ROOT / "gateway" if service == "gateway" else ROOT / "services" / service
    cfg.set_main_option("script_location", str(folder / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(slug)s")
    return cfg


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Upgrades a service's database (synchronous; runs its own event loop)."""
    command.upgrade(alembic_config(service, url), revision)


async def upgrade_async(service: str, url: str, revision: str = "head") -> None:
    """Upgrades a service's database from inside a running event loop."""
    await asyncio.to_thread(upgrade, service, url, revision)


async def ensure_database(url: str) -> bool:
    """Creates the database named in the URL if it does not exist; returns whether it did."""
    target = make_url(url)
    admin = await asyncpg.connect(asyncpg_dsn(target.set(database="postgres").render_as_string(hide_password=False)))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target.database)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{target.database}" ENCODING \'UTF8\' TEMPLATE template0')
        return not exists
    finally:
        await admin.close()


async def drop_database(url: str) -> None:
    """Drops the database named in the URL (tests only)."""
    target = make_url(url)
    admin = await asyncpg.connect(asyncpg_dsn(target.set(database="postgres").render_as_string(hide_password=False)))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await admin.close()


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py: runs migrations online over asyncpg."""
    url = context.config.get_main_option("sqlalchemy.url")

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())


def outbox_data_as_json(*, downgrade: bool = False) -> None:
    """Stores outbox event data as json (the text as written) instead of jsonb; called from a service migration."""
    from alembic import op
    from sqlalchemy.dialects import postgresql

    to, using = (postgresql.JSONB(), "data::jsonb") if downgrade else (postgresql.JSON(), "data::json")
    op.alter_column("outbox_event", "data", type_=to, postgresql_using=using)


def drop_outbox_event_id_unique(*, downgrade: bool = False) -> None:
    """Drops the unique index on outbox event ids; called from a service migration.

    The ids carry 74 or more random bits (version 7 UUIDs; version 4 before), so the index guarded nothing, while
    each insert and each mark-sent update wrote an entry in it: about a third of the database's work per event.
    """
    from alembic import op

    if downgrade:
        op.create_unique_constraint("uq_outbox_event_event_id", "outbox_event", ["event_id"])
    else:
        op.drop_constraint("uq_outbox_event_event_id", "outbox_event", type_="unique")


def replica_changed_at(*, downgrade: bool = False) -> None:
    """Adds the time of the event that last wrote each replica row of residents, households and department
    assignments (an older event arriving later no longer overwrites it); called from a service migration."""
    from alembic import op
    import sqlalchemy as sa

    for table in ("replica_resident", "replica_household", "replica_department_assignment"):
        if downgrade:
            op.drop_column(table, "changed_at")
        else:
            op.add_column(table, sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))


def create_messaging_tables() -> None:
    """Creates the outbox and inbox tables; called from each service's first migration."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects import postgresql

    from youmin.kit.outbox import Xid8

    op.create_table(
        "outbox_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text()),
        sa.Column("dataschema", sa.Text()),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("txid", Xid8(), server_default=sa.text("pg_current_xact_id()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_event"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_event_id"),
    )
    op.create_index("ix_outbox_event_unsent", "outbox_event", ["id"], postgresql_where=sa.text("sent_at IS NULL"))
    op.create_table(
        "inbox_event",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "source", "event_id", name="pk_inbox_event"),
    )
