"""Database plumbing: engine, sessions, one transaction per request or per message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_base() -> type[DeclarativeBase]:
    """Returns a fresh declarative base with the project's naming convention (one per service)."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    return Base


def make_engine(url: str, *, pool_size: int = 20, pool_timeout: float = 10.0) -> AsyncEngine:
    """Creates the async engine of one service.

    A fixed pool: its connections are opened once and kept. With overflow connections, every burst above the
    pool size opened connections that were closed again as soon as they were returned, each costing a server
    process and asyncpg's type introspection (a millisecond of database time), and the requests that opened
    them waited for it. A request finding every connection busy waits up to `pool_timeout` for one, then is
    answered 503 (see errors.py).

    No pre-ping (it doubles the round trips of a short transaction): after a database restart the first
    statement on a stale connection fails, SQLAlchemy then invalidates the whole pool, and the request is
    answered 503 without anything half-written.
    """
    # Each connection keeps up to 500 prepared statements (asyncpg's default through SQLAlchemy is 100): statements
    # that carry a value in their text (matters' duplicate suggestions carry the community) would otherwise push
    # the service's other statements out, to be parsed and planned again.
    return create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout,
                               pool_pre_ping=False, connect_args={"prepared_statement_cache_size": 500})


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Creates the session factory; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Opens a session, commits on success and rolls back on error."""
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
