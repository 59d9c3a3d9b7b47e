"""Database plumbing: engine, sessions, one transaction per request or per message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import MetaData, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import greenlet_spawn

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLSTATEs that say "try again later", not "this is wrong": connection exceptions (class 08), serialization failure,
# deadlock, insufficient resources (disk full, out of memory, too many connections; not 53400, a configured limit the
# same work meets again), a standby that is read-only during a failover, lock timeout, and a server shutting down or
# starting up.
_TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "53100", "53200", "53300", "25006", "55P03", "57P01", "57P02", "57P03")


def is_transient(exc: BaseException) -> bool:
    """Tells whether an error comes from the database (or the way to it) being unavailable for now: a lost or
    refused connection, a timeout, a pool that has none free, a server restarting, a serialization failure. Work
    that failed so succeeds when tried again later; it is not the data's fault."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OSError, TimeoutError, sa_exc.TimeoutError)):  # OSError: ConnectionError too
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and state.startswith(_TRANSIENT_SQLSTATES):
            return True
        if type(current).__module__.startswith("asyncpg") and type(current).__name__ in (
                "ConnectionDoesNotExistError", "InterfaceError") and "connection" in str(current).lower():
            return True  # asyncpg's own: "connection was closed in the middle of operation", "connection is closed"
        current = current.__cause__ or getattr(current, "orig", None)
    return False


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

    No pre-ping (it doubles the round trips of a short transaction). A connection asyncpg has seen closed (the
    server ended it) is replaced when it is checked out (_closed_is_disconnected). On one whose end went
    unnoticed, the first statement fails, SQLAlchemy then invalidates the whole pool, and the request is
    answered 503 without anything half-written.
    """
    # Each connection keeps up to 500 prepared statements (asyncpg's default through SQLAlchemy is 100), both in
    # SQLAlchemy's cache and in asyncpg's own (the statements sent to it directly, see driver_connection): statements
    # that carry a value in their text (matters' duplicate suggestions carry the community) would otherwise push
    # the service's other statements out, to be parsed and planned again.
    # Bound parameters are kept out of error messages: they carry names, phone and ID numbers, and a database error's
    # text reaches the logs and dead-letter headers.
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout,
                                 pool_pre_ping=False, hide_parameters=True,
                                 connect_args={"prepared_statement_cache_size": 500, "statement_cache_size": 500})
    event.listen(engine.sync_engine, "checkout", _closed_is_disconnected)
    return engine


def _closed_is_disconnected(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection that asyncpg already knows closed (the server ended it while it waited in the pool, or a
    statement sent around SQLAlchemy met its loss) is replaced at checkout, without a round trip: the pool takes
    DisconnectionError as "open another"."""
    if dbapi_connection.driver_connection.is_closed():
        raise sa_exc.DisconnectionError("the connection was closed while it waited in the pool")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Creates the session factory; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under a session's transaction, begun if no statement has begun it yet.

    For the hot write paths (raising a matter, casting a ballot), whose hand-written statements go to asyncpg
    directly, in the request's transaction (committed or rolled back with the session), without SQLAlchemy's
    per-statement machinery: that costs about as much CPU again as the round trip itself. Their errors arrive as
    asyncpg's own, which the error handlers answer as they answer SQLAlchemy's (youmin.kit.errors).
    """
    connection = await session.connection()
    fairy = await connection.get_raw_connection()
    adapted = fairy.dbapi_connection
    # SQLAlchemy's asyncpg adapter begins its transaction with its first statement; a statement sent around it
    # would otherwise run (and commit) on its own.
    if adapted._transaction is None:
        try:
            await adapted._start_transaction()
        except Exception:  # noqa: BLE001 - met again below, through SQLAlchemy
            # The pooled connection died while idle (a database restart, a failover) or the database refused: the
            # same beginning through SQLAlchemy meets the failure as any statement of its own does. It invalidates
            # the pool's connections of before a restart and raises its own error, answered 503 (or as the error
            # says); should it succeed this time, the transaction has begun.
            await connection.exec_driver_sql("SELECT 1")
    return fairy.driver_connection


@asynccontextmanager
async def autocommit_connection(session: AsyncSession) -> AsyncIterator[asyncpg.Connection | None]:
    """A pooled asyncpg connection of the session's engine, outside the session, while the session has begun nothing;
    else None (what the session did must be seen by the statement, in its transaction).

    For a use case whose whole write is one statement (raising a matter, casting a ballot): sent here, it is its own
    transaction, without the round trips of BEGIN and COMMIT nor the session's machinery. The connection goes back to
    the pool at the end of the block. Whatever the request does through the session afterwards is a transaction of
    its own. Inside the block, nothing should go through the session: it would take a second connection from the pool
    while this one is held, and a busy pool would wait on itself.
    """
    if session.in_transaction():
        yield None
        return
    fairy = await session.bind.raw_connection()
    try:
        yield fairy.driver_connection
    finally:
        await greenlet_spawn(fairy.close)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Opens a session, commits on success and rolls back on error."""
    async with sessions() as session:
        try:
            yield session
            if session.in_transaction():  # a session that has begun nothing has nothing to commit
                await session.commit()
        except BaseException:
            await session.rollback()
            raise
