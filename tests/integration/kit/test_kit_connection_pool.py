"""The services' connection pool: fixed (no connection opened and closed per burst), and a 503 when it stays busy."""

from __future__ import annotations

import asyncio

import httpx
import pydantic
from fastapi import FastAPI
from sqlalchemy import text

from youmin.kit.db import make_engine, make_sessionmaker, transaction
from youmin.kit.errors import install_error_handlers
from youmin.kit.migrate import ensure_database

DB = "kit_pool"


async def _sessions_of(infra, url: str) -> int:
    """The number of server sessions ever opened to a database (pg_stat_database.sessions)."""
    engine = make_engine(infra.database_url("registry"), pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            name = url.rsplit("/", 1)[1]
            return await conn.scalar(text("SELECT sessions FROM pg_stat_database WHERE datname = :d"), {"d": name})
    finally:
        await engine.dispose()


async def test_bursts_above_the_pool_size_reuse_its_connections_and_a_pool_busy_too_long_is_a_503(infra):
    url = infra.database_url(DB)
    await ensure_database(url)
    engine = make_engine(url, pool_size=4, pool_timeout=0.5)
    sessions = make_sessionmaker(engine)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/sleep")
    async def sleep(seconds: float = 0.05) -> dict:
        async with transaction(sessions) as session:
            await session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return {"ok": True}

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
            before = await _sessions_of(infra, url)
            for _ in range(5):  # five bursts of 12 requests over a pool of 4
                answers = await asyncio.gather(*[client.get("/sleep") for _ in range(12)])
                assert [a.status_code for a in answers] == [200] * 12
            # The 60 requests shared the pool's 4 connections (overflow would have opened and closed 8 per burst).
            assert await _sessions_of(infra, url) - before <= 4

            # Four requests hold every connection for 2 s: the fifth waits 0.5 s for one, then is told to retry.
            holding = [asyncio.create_task(client.get("/sleep", params={"seconds": 2})) for _ in range(4)]
            await asyncio.sleep(0.3)
            busy = await client.get("/sleep")
            assert busy.status_code == 503
            assert busy.headers["content-type"] == "application/problem+json"
            assert busy.headers["retry-after"] == "1" and busy.json()["type"] == "/problems/busy"
            assert [a.status_code for a in await asyncio.gather(*holding)] == [200] * 4
            assert (await client.get("/sleep")).status_code == 200
    finally:
        await engine.dispose()


async def test_readiness_with_every_pooled_connection_at_work_is_ready_at_once(infra):
    # A busy service is a working one: the probe does not queue behind the requests for a pooled connection (the
    # pool would make it wait 10 s and fail it).
    from youmin.kit.service import health_router

    url = infra.database_url(DB)
    await ensure_database(url)
    engine = make_engine(url, pool_size=2, pool_timeout=10)

    class BrokerUp:
        asked = 0

        async def ok(self) -> bool:
            BrokerUp.asked += 1
            return True

    app = FastAPI()
    app.include_router(health_router())
    app.state.engine, app.state.broker_probe = engine, BrokerUp()
    held = [await engine.connect() for _ in range(2)]
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok", ready.text
            # A flood of probes (no credentials needed) is answered from one check a second, not one connection each.
            flood = await asyncio.gather(*[client.get("/readyz") for _ in range(50)])
            assert {r.status_code for r in flood} == {200} and BrokerUp.asked == 1
            for conn in held:
                await conn.close()
            held = []
            assert (await client.get("/readyz")).json()["checks"]["database"] == "ok"
    finally:
        for conn in held:
            await conn.close()
        await engine.dispose()


async def test_a_database_error_is_described_without_the_values_it_quotes(infra):
    # A unique violation's DETAIL quotes the row ("Key (phone)=(13812341234) already exists"): logs and dead letters
    # get the kind, SQLSTATE and constraint instead.
    from youmin.kit.errors import describe_error, describe_trace

    url = infra.database_url(DB)
    await ensure_database(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS zz_contact (phone text CONSTRAINT uq_zz_contact_phone UNIQUE)"))
            await conn.execute(text("DELETE FROM zz_contact"))
            await conn.execute(text("INSERT INTO zz_contact VALUES ('13812341234')"))
        try:
            async with engine.begin() as conn:
                phone = "138" + "12341234"  # a value the traceback's source lines do not show
                await conn.execute(text("INSERT INTO zz_contact VALUES (:p)"), {"p": phone})
        except Exception as exc:  # noqa: BLE001
            caught = exc
        described, trace = describe_error(caught), describe_trace(caught)
        assert "23505" in described and "uq_zz_contact_phone" in described
        assert "13812341234" not in described + trace and "1234" not in described
        assert "IntegrityError" in described and "Traceback" not in trace and 'File "' in trace
        # Any other error keeps its message, on one line, with numbers masked; a validation error its fields, not the
        # values given; a statement the database could not take what to fix.
        assert describe_error(ValueError("no household for 13812341234")) == "ValueError: no household for 138****1234"
        assert describe_error(ValueError("one\ntwo")) == "ValueError: one | two"
        try:
            pydantic.TypeAdapter(int).validate_python("张三")
        except pydantic.ValidationError as exc:
            assert "张三" not in describe_error(exc) and "valid integer" in describe_error(exc)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("SELECT no_such_column FROM zz_contact"))
        except Exception as exc:  # noqa: BLE001
            assert "42703" in describe_error(exc) and "no_such_column" in describe_error(exc)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS zz_contact"))
        await engine.dispose()
