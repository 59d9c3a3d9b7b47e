"""The outbox relay across a restart of the broker and of PostgreSQL: nothing it has not handed over is lost.

Each test owns the process it restarts (a Tansu broker, an embedded PostgreSQL) so the run's shared ones are left
alone. Both are real processes reached over real connections.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import ClassVar

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from youmin.infra import EmbeddedPostgres, TansuBroker, free_port
from youmin.kit.events import EVENT_TYPES, Event
from youmin.kit.kafka import ensure_topics, make_producer
from youmin.kit.migrate import drop_database, ensure_database
from youmin.kit.outbox import publish
from youmin.kit.relay import RELAY_ERRORS, OutboxRelay, asyncpg_dsn
from youmin.kit.settings import service_database_url
from youmin.testing import create_messaging_tables, eventually

ROOT = Path(__file__).resolve().parents[3]
WAIT = 60.0  # every wait is bounded: a relay that never recovers fails the test instead of hanging it

# A backstop beyond the bounded waits, should a process refuse to stop.
pytestmark = pytest.mark.timeout(180)


class RestartProbe(Event):
    type: ClassVar[str] = "gov.youmin.test.restart.emitted.v1"
    source: ClassVar[str] = "/youmin/test"
    key_field: ClassVar[str] = "aggregate_id"
    topic: ClassVar[str] = ""
    aggregate_id: str
    seq: int


EVENT_TYPES.pop(RestartProbe.type, None)  # a test type: not part of the system's catalogue


def probe_type(topic: str) -> type[RestartProbe]:
    """Returns a probe event type publishing to a topic of the test's own."""
    return type("RestartProbeOn", (RestartProbe,), {"topic": topic})


@pytest.fixture
def own_broker() -> Iterator[TansuBroker]:
    """A broker of the test's own, which it may stop and start again on the same port."""
    log_path = ROOT / ".data" / f"test-relay-restart-tansu-{uuid.uuid4().hex[:6]}.log"
    broker = TansuBroker(port=free_port(), log_path=log_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        if broker.log_path:
            broker.log_path.unlink(missing_ok=True)


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of the test's own: restarting the run's shared one would break other tests' pools."""
    (ROOT / ".data").mkdir(exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="test-relay-postgres-", dir=ROOT / ".data"))
    pg = EmbeddedPostgres(data_dir / "pg", port=free_port())
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def create_outbox_database(server_url: str) -> str:
    """Creates a database holding the outbox tables on a server; returns its URL."""
    url = service_database_url(server_url, f"relayrestart_{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    await create_messaging_tables(url)
    return url


@pytest.fixture
async def shared_server_database(postgres_server_url: str) -> AsyncIterator[str]:
    url = await create_outbox_database(postgres_server_url)
    try:
        yield url
    finally:
        await drop_database(url)


def relay_for(database_url: str, bootstrap: str, **kw) -> OutboxRelay:
    return OutboxRelay(
        service=f"test-restart-{uuid.uuid4().hex[:6]}",
        database_url=database_url,
        producer_factory=lambda: make_producer(bootstrap, idempotence=False, client_id="test-relay",
                                               request_timeout_ms=3000),
        batch_size=100,
        poll_seconds=0.1,
        **kw,
    )


async def write_events(database_url: str, probe: type[RestartProbe], seqs: range) -> list[str]:
    """Commits one transaction writing an event per seq to the outbox; returns their event ids."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        async with conn.transaction():
            return await publish(conn, *(probe(aggregate_id=f"agg-{s % 16}", seq=s) for s in seqs))
    finally:
        await conn.close()


async def query(database_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def nothing_unsent(database_url: str) -> bool:
    rows = await query(database_url, "SELECT count(*) AS n FROM outbox_event WHERE sent_at IS NULL")
    return rows[0]["n"] == 0


async def event_ids_of(database_url: str, row_ids: list[int]) -> set[str]:
    rows = await query(database_url, "SELECT event_id::text AS e FROM outbox_event WHERE id = ANY($1::bigint[])",
                       row_ids)
    return {r["e"] for r in rows}


async def failed_again(relay: OutboxRelay, task: asyncio.Task, before: float) -> bool:
    """Whether the relay has failed more than `before` times; an error if it has stopped running."""
    if task.done():
        raise AssertionError(f"the relay stopped for good: {task.exception()!r}")
    return RELAY_ERRORS.labels(relay.service)._value.get() > before


async def read_event_ids(bootstrap: str, topic: str, wanted: set[str]) -> Counter[str]:
    """Reads a topic from its start until every wanted event id has arrived; returns how often each id came."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await asyncio.wait_for(consumer.start(), WAIT)
    seen: Counter[str] = Counter()

    async def read() -> None:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            seen.update(dict(r.headers)["ce_id"].decode() for r in records)

    try:
        async def all_arrived() -> bool:
            await read()
            return not wanted - seen.keys()

        try:
            await eventually(all_arrived, timeout=WAIT)
        except AssertionError:
            missing = wanted - seen.keys()
            raise AssertionError(f"{len(missing)} of {len(wanted)} events never reached the broker") from None
        await read()  # a short extra read: duplicates beyond the first copy
    finally:
        await consumer.stop()
    return seen


async def stop_task(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 15)


async def test_events_unsent_when_the_broker_dies_reach_the_broker_that_replaces_it(
    shared_server_database: str, own_broker: TansuBroker
) -> None:
    database_url, broker = shared_server_database, own_broker
    topic = f"test.restart.{uuid.uuid4().hex[:8]}"
    probe = probe_type(topic)
    await ensure_topics(broker.bootstrap, [topic], partitions=3)

    # The hook runs between the broker's acknowledgement and the mark: it records what the old broker acknowledged,
    # and on the third batch holds the relay (the next batch already in flight) while the test stops the broker.
    acked_rows: list[int] = []
    midflight, broker_down = asyncio.Event(), asyncio.Event()

    async def after_publish(ids: list[int]) -> None:
        acked_rows.extend(ids)
        if len(acked_rows) >= 300 and not midflight.is_set():
            midflight.set()
            await broker_down.wait()

    relay = relay_for(database_url, broker.bootstrap, after_publish=after_publish)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.leading.wait(), WAIT)
        before_crash = await write_events(database_url, probe, range(1000))
        await asyncio.wait_for(midflight.wait(), WAIT)
        errors_before = RELAY_ERRORS.labels(relay.service)._value.get()
        await asyncio.to_thread(broker.stop)
        broker_down.set()

        while_down = []
        for start in (1000, 1100, 1200):
            while_down += await write_events(database_url, probe, range(start, start + 100))
        # The relay fails on the dead broker and keeps trying: a second failure is a retry's, not the first run's.
        await eventually(lambda: failed_again(relay, task, errors_before + 1), timeout=WAIT)
        assert not relay.leading.is_set()

        # With the relay failed, every acknowledgement it will ever get from the old broker is in.
        acked_by_old = await event_ids_of(database_url, acked_rows)
        marked = await query(database_url, "SELECT id FROM outbox_event WHERE sent_at IS NOT NULL")
        assert {r["id"] for r in marked} <= set(acked_rows), "a row was marked sent without an acknowledgement"
        unsent_at_crash = set(before_crash) - acked_by_old
        assert unsent_at_crash, "the broker must die while events written before it are still unsent"

        # The new broker is empty, as an in-memory broker is after a restart: its topics are created again, as the
        # stack does on start (youmin.stack.prepare / `youmin migrate`). Were the relay to ask for the topic first,
        # Tansu would create it itself (with its default partitions): the events would still arrive.
        await asyncio.to_thread(broker.start)
        await ensure_topics(broker.bootstrap, [topic], partitions=3)
        await eventually(lambda: nothing_unsent(database_url), timeout=WAIT)
        assert not task.done()

        # What the old broker acknowledged before it died was delivered to it and went with it (the in-memory
        # broker's limit, README "keeps its topics in memory"): a durable Kafka keeps it. Everything else (the
        # events in flight or not yet read when it died, and those written while it was down) reaches the new one.
        wanted = unsent_at_crash | set(while_down)
        received = await read_event_ids(broker.bootstrap, topic, wanted)
        assert set(received) <= set(before_crash) | set(while_down)
    finally:
        await stop_task(task)


async def test_events_written_around_a_postgres_restart_all_reach_the_broker(
    own_postgres: EmbeddedPostgres, own_broker: TansuBroker
) -> None:
    pg, broker = own_postgres, own_broker
    database_url = await create_outbox_database(pg.url)
    topic = f"test.restart.{uuid.uuid4().hex[:8]}"
    probe = probe_type(topic)
    await ensure_topics(broker.bootstrap, [topic], partitions=3)

    # Once armed, the hook holds the relay after the broker acknowledged a batch and before its mark, while the
    # test stops PostgreSQL under it.
    armed, held, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    held_rows: list[int] = []

    async def after_publish(ids: list[int]) -> None:
        if armed.is_set() and not held.is_set():
            held_rows.extend(ids)
            held.set()
            await release.wait()

    relay = relay_for(database_url, broker.bootstrap, after_publish=after_publish)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.leading.wait(), WAIT)
        first = await write_events(database_url, probe, range(200))
        await eventually(lambda: nothing_unsent(database_url), timeout=WAIT)

        armed.set()
        before_restart = await write_events(database_url, probe, range(200, 500))
        await asyncio.wait_for(held.wait(), WAIT)
        held_events = await event_ids_of(database_url, held_rows)
        errors_before = RELAY_ERRORS.labels(relay.service)._value.get()
        await asyncio.to_thread(pg.stop)
        release.set()  # the mark now fails: the acknowledged batch stays unsent in the outbox

        await eventually(lambda: failed_again(relay, task, errors_before + 1), timeout=WAIT)
        assert not relay.leading.is_set()

        await asyncio.to_thread(pg.start)
        after_restart = await write_events(database_url, probe, range(500, 700))
        await eventually(lambda: nothing_unsent(database_url), timeout=WAIT)
        assert not task.done()

        written = set(first) | set(before_restart) | set(after_restart)
        received = await read_event_ids(broker.bootstrap, topic, written)
        assert set(received) == written
        # The batch the broker acknowledged just before the database went away could not be marked: it is sent
        # again after the restart, so it is on the wire twice (the consumers' inbox drops the second copy).
        assert held_events and all(received[e] == 2 for e in held_events)
    finally:
        await stop_task(task)  # the database goes with the server's data directory
