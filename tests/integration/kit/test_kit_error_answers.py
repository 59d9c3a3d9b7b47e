"""A database that is out of reach or cannot take work for now is answered 503 to retry, however the error arrives:
a refused connection or a connect timeout (raised by asyncpg as they are), a server starting up, full of
connections or read-only after a failover; a lost race stays a 409."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from youmin.kit.db import driver_connection, make_engine, make_sessionmaker, transaction
from youmin.kit.errors import install_error_handlers
from youmin.kit.migrate import ensure_database
from youmin.kit.service import SessionDep, install_request_context

DB = "kit_error_answers"
SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


def _app(engine: AsyncEngine) -> FastAPI:
    """A service's app as the factory builds it: the kit's handlers, the request context, a session per request."""
    app = FastAPI()
    install_error_handlers(app)
    install_request_context(app, "test")
    app.state.sessions = make_sessionmaker(engine)

    @app.get("/count")
    async def count(session: SessionDep) -> dict:
        return {"count": await session.scalar(text("SELECT count(*) FROM pg_class"))}

    @app.post("/raise/{sqlstate}")
    async def raise_sqlstate(sqlstate: str, session: SessionDep) -> dict:
        # The server's own error with the SQLSTATE, as PostgreSQL sends it and asyncpg and SQLAlchemy raise it.
        await session.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'as the server says' USING ERRCODE = '{sqlstate}'; "
                                   "END $$"))
        return {}

    @app.post("/read-only")
    async def read_only(session: SessionDep) -> dict:
        # A standby promoted late, or a primary demoted by a failover, takes no writes: 25006.
        await session.execute(text("SET TRANSACTION READ ONLY"))
        await session.execute(text("INSERT INTO kit_note (body) VALUES ('refused')"))
        return {}

    @app.post("/read-only-driver")
    async def read_only_driver() -> dict:
        async with transaction(app.state.sessions) as session:
            conn = await driver_connection(session)
            await conn.execute("SET TRANSACTION READ ONLY")
            await conn.execute("INSERT INTO kit_note (body) VALUES ('refused')")
        return {}

    return app


@asynccontextmanager
async def _client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    # The default transport raises on to the test whatever the app would raise on to the server.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(engine)), base_url="http://test") as client:
        yield client


def _assert_database_unavailable(resp: httpx.Response) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"] == "/problems/database-unavailable"
    assert resp.headers["retry-after"] == "1"
    assert resp.headers["x-request-id"]


@asynccontextmanager
async def _fake_server(sqlstate: str | None) -> AsyncIterator[int]:
    """A server on loopback that speaks PostgreSQL's start-up only: it refuses every connection with the SQLSTATE (as
    a server starting up or full of connections does), or, given none, never answers at all."""
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            while True:
                length, code = struct.unpack("!ii", await reader.readexactly(8))
                await reader.readexactly(length - 8)
                if code not in (SSL_REQUEST, GSSENC_REQUEST):
                    break
                writer.write(b"N")  # no encryption: the start-up message follows in the clear
            if sqlstate is None:
                await asyncio.Event().wait()
            fields = b"".join(kind + value.encode() + b"\0" for kind, value in (
                (b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", f"refused with {sqlstate}"))) + b"\0"
            writer.write(b"E" + struct.pack("!i", 4 + len(fields)) + fields)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()


@pytest.fixture
async def engine(infra) -> AsyncIterator[AsyncEngine]:
    url = infra.database_url(DB)
    await ensure_database(url)
    engine = make_engine(url, pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS kit_note (id bigint GENERATED ALWAYS AS IDENTITY "
                                "PRIMARY KEY, body text NOT NULL)"))
    yield engine
    await engine.dispose()


async def test_a_database_refusing_connections_is_a_503_not_a_500():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: every connection to it is refused
        port = closed.getsockname()[1]
        engine = make_engine(f"postgresql+asyncpg://youmin:secret@127.0.0.1:{port}/youmin", pool_size=1)
        try:
            with pytest.raises(OSError):  # as asyncpg raises it, through SQLAlchemy's pool unwrapped
                async with engine.connect():
                    pass
            async with _client(engine) as client:
                _assert_database_unavailable(await client.get("/count"))
        finally:
            await engine.dispose()


async def test_a_database_that_does_not_answer_within_the_connect_timeout_is_a_503():
    async with _fake_server(None) as port:
        engine = create_async_engine(f"postgresql+asyncpg://youmin:secret@127.0.0.1:{port}/youmin",
                                     connect_args={"timeout": 0.3})
        try:
            with pytest.raises(TimeoutError):
                async with engine.connect():
                    pass
            async with _client(engine) as client:
                _assert_database_unavailable(await client.get("/count"))
        finally:
            await engine.dispose()


@pytest.mark.parametrize("sqlstate", ["57P03", "53300"])
async def test_a_server_starting_up_or_full_of_connections_is_a_503(sqlstate):
    async with _fake_server(sqlstate) as port:
        engine = make_engine(f"postgresql+asyncpg://youmin:secret@127.0.0.1:{port}/youmin", pool_size=1)
        try:
            with pytest.raises(DBAPIError) as raised:
                async with engine.connect():
                    pass
            # The connection was never made: nothing invalidated, only the SQLSTATE tells.
            assert not raised.value.connection_invalidated and raised.value.orig.sqlstate == sqlstate
            async with _client(engine) as client:
                _assert_database_unavailable(await client.get("/count"))
        finally:
            await engine.dispose()


@pytest.mark.parametrize("sqlstate", ["57P03", "53300", "25006"])
async def test_a_statement_refused_for_an_outage_sqlstate_is_a_503(engine, sqlstate):
    async with _client(engine) as client:
        _assert_database_unavailable(await client.post(f"/raise/{sqlstate}"))


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
async def test_a_serialization_failure_or_deadlock_stays_a_409_to_send_again(engine, sqlstate):
    async with _client(engine) as client:
        resp = await client.post(f"/raise/{sqlstate}")
    assert resp.status_code == 409 and resp.json()["type"] == "/problems/concurrent-change"
    assert resp.headers["retry-after"] == "1"


async def test_a_database_error_of_no_outage_stays_a_500(engine):
    async with _client(engine) as client:
        resp = await client.post("/raise/22012")  # division_by_zero: a defect, not a moment to wait out
    assert resp.status_code == 500 and resp.json()["type"] == "/problems/internal"


async def test_a_write_refused_by_a_read_only_database_is_a_503_through_sqlalchemy_and_the_driver(engine):
    async with _client(engine) as client:
        _assert_database_unavailable(await client.post("/read-only"))
        _assert_database_unavailable(await client.post("/read-only-driver"))
        # The connections stay usable.
        assert (await client.get("/count")).status_code == 200
