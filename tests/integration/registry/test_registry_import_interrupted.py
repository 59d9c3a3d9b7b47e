"""An import that does not run to its end (cancelled, its connection terminated) is reported failed, not running."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from conftest import new_id_number, registry_settings

from services.registry import importer
from services.registry.app import create_app
from youmin.kit.relay import asyncpg_dsn
from youmin.testing import eventually, running

API = "/api/v1/registry"


def households_file(tmp_path, grid: str):
    path = tmp_path / "households.csv"
    path.write_text("household_code,name,id_number,role_in_household\n"
                    f"{grid}001010101,孙八,{new_id_number()},representative\n", encoding="utf-8")
    return path


async def job(registry, source_name: str):
    conn = await registry.db()
    try:
        return await conn.fetchrow("SELECT * FROM import_job WHERE source_name = $1", source_name)
    finally:
        await conn.close()


async def start_held_import(registry, tmp_path, **kw) -> tuple[asyncio.Task, asyncpg.Connection,
                                                                asyncpg.Connection, str]:
    """Starts an import of a new household that waits on a lock on the org tree; returns the import's task, the
    connection holding the lock (in a transaction), the import's connection and the import's source name."""
    grid = await registry.fresh_grid()
    blocker, conn = await registry.db(), await registry.db()
    try:
        # Should the test stop holding it, the lock goes with the idle transaction rather than stall the run.
        await blocker.execute("SET idle_in_transaction_session_timeout = '60s'")
        await blocker.execute("BEGIN")
        await blocker.execute("LOCK TABLE org_unit IN EXCLUSIVE MODE")
        source_name = f"held-{uuid.uuid4().hex}"
        task = asyncio.create_task(importer.import_file(conn, "households", households_file(tmp_path, grid),
                                                        source_name=source_name, **kw))
        pid = conn.get_server_pid()

        async def waiting() -> bool:
            return task.done() or await blocker.fetchval(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid)

        await eventually(waiting, timeout=10)
        assert not task.done(), task
        assert (await job(registry, source_name))["status"] == "running"
    except BaseException:
        await blocker.close()
        await conn.close()
        raise
    return task, blocker, conn, source_name


async def reported(registry, source_name: str) -> dict:
    import_id = (await job(registry, source_name))["import_id"]
    response = await registry.client.get(f"{API}/imports/{import_id}", headers=registry.admin)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("own_connection", [True, False])
async def test_a_cancelled_import_is_reported_failed_as_interrupted(registry, tmp_path, own_connection):
    connect = {"connect": registry.db} if own_connection else {}
    task, blocker, conn, source_name = await start_held_import(registry, tmp_path, **connect)
    try:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stored = await job(registry, source_name)
    finally:
        await blocker.close()
        await conn.close()
    # Written by the import itself, not left to a sweeper.
    assert stored["status"] == "failed" and stored["finished_at"] is not None
    answer = await reported(registry, source_name)
    assert answer["status"] == "failed" and answer["rows_created"] == 0
    assert answer["errors"][0]["reason"].startswith("interrupted: the import stopped before it finished (it was "
                                                    "cancelled)")


async def test_an_import_whose_database_session_is_terminated_is_reported_failed(registry, tmp_path):
    task, blocker, conn, source_name = await start_held_import(registry, tmp_path, connect=registry.db)
    try:
        assert await blocker.fetchval("SELECT pg_terminate_backend($1)", conn.get_server_pid())
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await task
        stored = await job(registry, source_name)
    finally:
        await blocker.close()
        await conn.close()
    assert stored["status"] == "failed"
    answer = await reported(registry, source_name)
    assert answer["status"] == "failed"
    assert answer["errors"][0]["reason"].startswith("interrupted: the import stopped before it finished (the database "
                                                    "connection was lost")


async def test_an_import_cut_off_with_no_way_to_write_its_outcome_is_swept(registry, tmp_path):
    # No connection of its own to write on and its session terminated (the database restarted under it): the job is
    # left running, with nobody holding its lock.
    task, blocker, conn, source_name = await start_held_import(registry, tmp_path)
    try:
        await blocker.fetchval("SELECT pg_terminate_backend($1)", conn.get_server_pid())
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await task
    finally:
        await blocker.close()
        await conn.close()
    assert (await job(registry, source_name))["status"] == "running"
    answer = await reported(registry, source_name)
    assert answer["status"] == "failed"
    assert answer["errors"][0]["reason"].startswith("interrupted:")
    assert (await job(registry, source_name))["status"] == "failed"


async def insert_job(conn: asyncpg.Connection, source_name: str) -> uuid.UUID:
    import_id = importer.uuid7()
    await conn.execute("INSERT INTO import_job (import_id, kind, source_name, status) VALUES ($1, 'units', $2,"
                       " 'running')", import_id, source_name)
    return import_id


async def test_the_sweeper_fails_running_jobs_nobody_holds_and_leaves_live_ones_at_start_up(registry, infra):
    live_session = await registry.db()
    try:
        stale = await insert_job(live_session, f"stale-{uuid.uuid4().hex}")
        live = importer.uuid7()
        # A live import holds its job's lock from before its row is written.
        await live_session.execute("SELECT pg_advisory_lock($1)", importer.job_lock_key(live))
        await live_session.execute("INSERT INTO import_job (import_id, kind, source_name, status) VALUES ($1, 'units',"
                                   " $2, 'running')", live, f"live-{uuid.uuid4().hex}")
        # Another replica starting up sweeps.
        app = create_app(registry_settings(infra, coming_of_age_seconds=0))
        async with running(app):
            async def swept() -> bool:
                return await live_session.fetchval("SELECT status FROM import_job WHERE import_id = $1",
                                                   stale) == "failed"

            await eventually(swept, timeout=10)
        statuses = dict(await live_session.fetch("SELECT import_id, status FROM import_job WHERE import_id = ANY($1)",
                                                 [stale, live]))
        assert statuses == {stale: "failed", live: "running"}
        reason = await live_session.fetchval("SELECT errors->0->>'reason' FROM import_job WHERE import_id = $1", stale)
        assert reason.startswith("interrupted:")
        answer = await registry.client.get(f"{API}/imports/{live}", headers=registry.admin)
        assert answer.json()["status"] == "running"
    finally:
        await live_session.execute("UPDATE import_job SET status = 'failed' WHERE import_id = $1", live)
        await live_session.close()


class _CommitThenCancelled(asyncpg.Connection):
    """A connection whose COMMIT lands on the server, and whose caller is cancelled before hearing so."""

    async def execute(self, query: str, *args, **kwargs):
        result = await super().execute(query, *args, **kwargs)
        if query.strip().upper().startswith("COMMIT"):
            raise asyncio.CancelledError
        return result


async def test_an_import_cancelled_after_its_commit_landed_stays_succeeded(registry, tmp_path):
    grid = await registry.fresh_grid()
    conn = await asyncpg.connect(asyncpg_dsn(registry.settings.db_url()), connection_class=_CommitThenCancelled)
    source_name = f"committed-{uuid.uuid4().hex}"
    try:
        with pytest.raises(asyncio.CancelledError):
            await importer.import_file(conn, "households", households_file(tmp_path, grid), source_name=source_name,
                                       connect=registry.db)
    finally:
        await conn.close()
    stored = await job(registry, source_name)
    assert (stored["status"], stored["rows_created"]) == ("succeeded", 1), dict(stored)
    check = await registry.db()
    try:
        assert await check.fetchval("SELECT count(*) FROM household h JOIN org_unit u USING (unit_id) WHERE u.code = $1",
                                    f"{grid}001010101") == 1
    finally:
        await check.close()


def test_an_interruption_says_whether_the_connection_was_lost_or_the_database_refused_for_now():
    assert "(it was cancelled)" in importer.interruption(asyncio.CancelledError())
    assert "the database connection was lost" in importer.interruption(ConnectionResetError("reset"))
    deadlock = importer.interruption(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"))
    assert "the database could not take it now" in deadlock and "40P01" in deadlock
    assert importer.interruption(ValueError("x")).startswith("import aborted")
