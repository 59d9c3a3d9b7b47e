"""The event backbone against real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import ClassVar

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from youmin.kit.consumer import EventConsumer, prune_inbox

from youmin.kit.db import make_engine, make_sessionmaker, transaction
from youmin.kit.events import EVENT_TYPES, Envelope, Event, decode_record
from youmin.kit.kafka import ensure_topics, make_consumer, make_producer
from youmin.kit.migrate import drop_database, ensure_database
from youmin.kit.outbox import publish
from youmin.kit.relay import RELAY_ERRORS, OutboxRelay, asyncpg_dsn
from youmin.kit.service import ConsumerSpec, create_service_app
from youmin.kit.settings import ServiceSettings
from youmin.testing import create_messaging_tables, eventually, running

KIT_DB = "kitcheck"  # a database of these tests' own, so no running service's transactions mix in


class RelayKilled(BaseException):
    """Stands for the process dying: not an Exception, so nothing catches it."""


def probe_event_type(topic: str) -> type[Event]:
    """Returns an event type publishing to its own topic, for isolation between tests."""

    class ProbeEmitted(Event):
        type: ClassVar[str] = "gov.youmin.test.probe.emitted.v1"
        source: ClassVar[str] = "/youmin/test"
        key_field: ClassVar[str] = "aggregate_id"
        aggregate_id: str
        seq: int

    ProbeEmitted.topic = topic
    EVENT_TYPES.pop(ProbeEmitted.type, None)
    return ProbeEmitted


@pytest.fixture(scope="module")
async def kit_database(infra):
    url = infra.database_url(KIT_DB)
    await ensure_database(url)
    await create_messaging_tables(url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE probe_effect (event_id text, aggregate_id text, seq int)"))
    await engine.dispose()
    yield url
    await drop_database(url)


@pytest.fixture
async def db(kit_database):
    engine = make_engine(kit_database)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM outbox_event"))
        await conn.execute(text("TRUNCATE probe_effect"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def topic(infra):
    name = f"test.probe.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.bootstrap, [name, f"{name}.dlq"], partitions=3)
    return name


def relay_for(infra, **kw) -> OutboxRelay:
    return OutboxRelay(
        service=f"test-{uuid.uuid4().hex[:6]}",
        database_url=infra.database_url(KIT_DB),
        producer_factory=lambda: make_producer(infra.bootstrap, idempotence=False, client_id="test-relay",
                                               request_timeout_ms=3000),
        **{"poll_seconds": 0.1, **kw},
    )


async def read_topic(infra, topic: str, expected: int, timeout: float = 60) -> list:
    """Reads records from the start of a topic until `expected` have arrived."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    records = []
    try:
        async def enough():
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            return len(records) >= expected
        await eventually(enough, timeout=timeout)
        # A short extra read catches anything published beyond what was expected.
        for recs in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(recs)
    finally:
        await consumer.stop()
    return records


async def test_thousand_events_written_while_broker_down_arrive_in_key_order(infra, db, topic, restore_network):
    Probe = probe_event_type(topic)
    sessions = make_sessionmaker(db)
    infra.proxy.cut()
    relay = relay_for(infra)
    task = asyncio.create_task(relay.run())
    keys = [f"agg-{i}" for i in range(20)]
    for batch in range(10):
        async with transaction(sessions) as session:
            await publish(session, *(Probe(aggregate_id=keys[n % 20], seq=batch * 100 + n) for n in range(100)))
    async with db.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM outbox_event WHERE sent_at IS NULL")) == 1000
    await asyncio.sleep(1.0)  # the relay is trying against a dead network meanwhile
    assert relay.published == 0
    infra.proxy.restore()
    await eventually(lambda: _unsent(db, 0), timeout=90)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    records = await read_topic(infra, topic, 1000)
    seqs_by_key = defaultdict(list)
    for r in records:
        event = decode_record(r.headers, r.key, r.value)
        seqs_by_key[r.key.decode()].append(event.get_data()["seq"])
    assert sum(len(v) for v in seqs_by_key.values()) >= 1000
    assert {s for v in seqs_by_key.values() for s in v} == set(range(1000))
    for key, seqs in seqs_by_key.items():
        deduped = list(dict.fromkeys(seqs))
        assert deduped == sorted(deduped), f"events of {key} out of order"


async def _unsent(db, n: int) -> bool:
    async with db.connect() as conn:
        return await conn.scalar(text("SELECT count(*) FROM outbox_event WHERE sent_at IS NULL")) == n


async def probe_handler(session, event):
    data = event.get_data()
    await session.execute(text("INSERT INTO probe_effect VALUES (:e, :a, :s)"),
                          {"e": event.get_id(), "a": data["aggregate_id"], "s": data["seq"]})


def consumer_for(infra, topic: str, group: str, handler=probe_handler, **kw) -> EventConsumer:
    return EventConsumer(
        name=group, topics=[topic], handlers={"gov.youmin.test.probe.emitted.v1": handler},
        sessions=make_sessionmaker(make_engine(infra.database_url(KIT_DB))),
        consumer_factory=lambda *t, **k: make_consumer(infra.bootstrap, *t, **k),
        producer_factory=lambda: make_producer(infra.bootstrap, idempotence=False, client_id=group),
        max_attempts=kw.pop("max_attempts", 3), retry_base_seconds=0.01, **kw,
    )


async def effect_count(db) -> int:
    async with db.connect() as conn:
        return await conn.scalar(text("SELECT count(*) FROM probe_effect"))


async def test_relay_killed_between_publish_and_mark_sent_gives_duplicate_on_wire_single_effect(infra, db, topic):
    Probe = probe_event_type(topic)
    async with transaction(make_sessionmaker(db)) as session:
        await publish(session, *(Probe(aggregate_id="agg-1", seq=n) for n in range(5)))

    async def die(_ids):
        raise RelayKilled

    first = asyncio.create_task(relay_for(infra, after_publish=die).run())
    with pytest.raises(RelayKilled):
        await first
    assert await _unsent(db, 5), "rows must stay unsent when the relay dies before marking them"
    second = relay_for(infra)
    task = asyncio.create_task(second.run())
    await eventually(lambda: _unsent(db, 0))
    task.cancel()

    records = await read_topic(infra, topic, 10)
    ids = [dict(r.headers)["ce_id"] for r in records]
    assert len(ids) == 10 and len(set(ids)) == 5, "each event is on the wire twice"

    consumer = consumer_for(infra, topic, f"g-{uuid.uuid4().hex[:6]}")
    ctask = asyncio.create_task(consumer.run())
    await consumer.wait_for(lambda s: s.processed + s.duplicates >= 10, timeout=60)
    ctask.cancel()
    await asyncio.gather(ctask, return_exceptions=True)
    assert consumer.stats.processed == 5 and consumer.stats.duplicates == 5
    assert await effect_count(db) == 5


async def test_transactions_committing_out_of_id_order_are_neither_skipped_nor_overtaken(infra, db, topic):
    Probe = probe_event_type(topic)
    sessions = make_sessionmaker(db)
    relay = relay_for(infra)
    task = asyncio.create_task(relay.run())
    slow = sessions()
    await slow.begin()
    await publish(slow, Probe(aggregate_id="agg-x", seq=1))  # takes the lower id, commits last
    async with transaction(sessions) as fast:
        await publish(fast, Probe(aggregate_id="agg-x", seq=2))
    await asyncio.sleep(1.0)  # give the relay several polls while the slow transaction is open
    assert relay.published == 0, "a row above the xmin horizon must wait for the older transaction"
    await slow.commit()
    await slow.close()
    await eventually(lambda: _unsent(db, 0))
    task.cancel()
    records = await read_topic(infra, topic, 2)
    assert [decode_record(r.headers, r.key, r.value).get_data()["seq"] for r in records] == [1, 2]


async def test_poison_message_goes_to_dead_letter_topic_and_partition_moves_on(infra, db, topic):
    Probe = probe_event_type(topic)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    from youmin.kit.events import Envelope

    good1, poison, good2 = (Envelope.of(Probe(aggregate_id="same-key", seq=n)) for n in (1, 666, 2))
    for env in (good1, poison, good2):
        await producer.send_and_wait(topic, env.value(), key=b"same-key", headers=env.headers())
    await producer.send_and_wait(topic, b"not json at all", key=b"same-key", headers=[("x", b"y")])
    await producer.stop()

    async def picky(session, event):
        if event.get_data()["seq"] == 666:
            raise ValueError("seq 666 cannot be handled")
        await probe_handler(session, event)

    consumer = consumer_for(infra, topic, f"g-{uuid.uuid4().hex[:6]}", handler=picky)
    task = asyncio.create_task(consumer.run())
    await consumer.wait_for(lambda s: s.processed >= 2 and s.dead_lettered >= 2, timeout=60)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await effect_count(db) == 2

    dead = await read_topic(infra, f"{topic}.dlq", 2)
    by_id = {dict(r.headers).get("ce_id"): dict(r.headers) for r in dead}
    assert b"seq 666 cannot be handled" in by_id[poison.id.encode()]["dlq_error"]
    assert by_id[poison.id.encode()]["dlq_attempts"] == b"3"
    assert any("dlq_error" in h and h.get("x") == b"y" for h in by_id.values()), "an undecodable record is dead-lettered with its headers"


async def test_consumer_restarted_mid_stream_resumes_without_loss_or_double_effect(infra, db, topic):
    Probe = probe_event_type(topic)
    sessions = make_sessionmaker(db)
    relay_task = asyncio.create_task(relay_for(infra).run())
    group = f"g-{uuid.uuid4().hex[:6]}"

    async def wave(start: int) -> None:
        async with transaction(sessions) as session:
            await publish(session, *(Probe(aggregate_id=f"agg-{n % 7}", seq=n) for n in range(start, start + 100)))

    async def dies_at_150(session, event):
        if event.get_data()["seq"] == 150:
            raise ProcessDied  # the process dies in the middle of a batch
        await probe_handler(session, event)

    first = consumer_for(infra, topic, group, handler=dies_at_150)
    t1 = asyncio.create_task(first.run())
    await wave(0)
    await first.wait_for(lambda s: s.processed >= 100, timeout=60)
    await wave(100)
    with pytest.raises(ProcessDied):
        await asyncio.wait_for(t1, 60)
    assert await effect_count(db) == 100, "the batch the process died in left no effect"

    await wave(200)
    second = consumer_for(infra, topic, group)
    t2 = asyncio.create_task(second.run())
    await eventually(lambda: _effects_are(db, 300), timeout=90)
    await second.wait_for(lambda s: s.processed >= 200, timeout=30)
    t2.cancel()
    relay_task.cancel()
    await asyncio.gather(t2, relay_task, return_exceptions=True)
    async with db.connect() as conn:
        distinct = await conn.scalar(text("SELECT count(DISTINCT seq) FROM probe_effect"))
    assert distinct == 300 and await effect_count(db) == 300
    assert second.stats.processed == 200, "the second consumer resumes after the first one's committed offsets"


async def test_a_consumer_that_dies_after_its_transaction_commits_but_before_its_offset_does_applies_nothing_twice(
        infra, db, topic):
    Probe = probe_event_type(topic)
    relay_task = asyncio.create_task(relay_for(infra).run())
    group = f"g-{uuid.uuid4().hex[:6]}"

    def dies_committing_offsets(*topics, **kw):
        consumer = make_consumer(infra.bootstrap, *topics, **kw)

        async def commit(offsets=None):
            raise ProcessDied  # the effects and inbox rows are in the database; the offsets never reach the broker

        consumer.commit = commit
        return consumer

    first = consumer_for(infra, topic, group)
    first.consumer_factory = dies_committing_offsets
    t1 = asyncio.create_task(first.run())
    async with transaction(make_sessionmaker(db)) as session:
        await publish(session, *(Probe(aggregate_id=f"agg-{n % 5}", seq=n) for n in range(50)))
    with pytest.raises(ProcessDied):
        await asyncio.wait_for(t1, 60)
    applied = await effect_count(db)
    assert applied > 0 and first.stats.processed == applied

    # Started again, the group reads from its last committed offset (none): the events applied come again.
    second = consumer_for(infra, topic, group)
    t2 = asyncio.create_task(second.run())
    await eventually(lambda: _effects_are(db, 50), timeout=90)
    await second.wait_for(lambda s: s.processed + s.duplicates >= 50, timeout=30)
    t2.cancel()
    relay_task.cancel()
    await asyncio.gather(t2, relay_task, return_exceptions=True)
    assert second.stats.duplicates == applied and second.stats.processed == 50 - applied
    async with db.connect() as conn:
        assert await conn.scalar(text("SELECT count(DISTINCT seq) FROM probe_effect")) == 50
    assert await effect_count(db) == 50


class ProcessDied(BaseException):
    """Stands for the consumer's process dying; nothing in the consumer catches it."""


async def _effects_are(db, n: int) -> bool:
    return await effect_count(db) == n


async def test_watchdog_restarts_a_consumer_that_stops_making_progress(infra, db, topic):
    Probe = probe_event_type(topic)
    async with transaction(make_sessionmaker(db)) as session:
        await publish(session, Probe(aggregate_id="agg-stuck", seq=1))
    relay_task = asyncio.create_task(relay_for(infra).run())
    stuck = asyncio.Event()

    async def hangs_once(session, event):
        if not stuck.is_set():
            stuck.set()
            await asyncio.sleep(3600)  # a handler wedged on a dead connection, say
        await probe_handler(session, event)

    consumer = consumer_for(infra, topic, f"g-{uuid.uuid4().hex[:6]}", handler=hangs_once, stall_seconds=2,
                            handler_seconds=3)
    task = asyncio.create_task(consumer.run())
    await consumer.wait_for(lambda s: s.processed >= 1, timeout=60)
    task.cancel()
    relay_task.cancel()
    await asyncio.gather(task, relay_task, return_exceptions=True)
    assert stuck.is_set() and consumer.stats.restarts >= 1
    assert await effect_count(db) == 1


async def test_an_event_whose_handler_overruns_on_every_delivery_is_dead_lettered_and_its_partition_moves_on(
        infra, db, topic):
    # A handler that hangs on one event (a defect, not an outage) would hang again on each delivery after the
    # watchdog's restart, and hold its partitions for good: after max_attempts overruns the event is dead-lettered
    # without running it again, and the events behind it on the same key are applied.
    Probe = probe_event_type(topic)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    from youmin.kit.events import Envelope

    wedging, after = (Envelope.of(Probe(aggregate_id="same-key", seq=n)) for n in (13, 14))
    for env in (wedging, after):
        await producer.send_and_wait(topic, env.value(), key=b"same-key", headers=env.headers())
    await producer.stop()
    runs = []

    async def wedges_on_13(session, event):
        runs.append(event.get_data()["seq"])
        if event.get_data()["seq"] == 13:
            await asyncio.sleep(3600)
        await probe_handler(session, event)

    consumer = consumer_for(infra, topic, f"g-{uuid.uuid4().hex[:6]}", handler=wedges_on_13, stall_seconds=1,
                            handler_seconds=1.5, max_attempts=2)
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.wait_for(lambda s: s.processed >= 1 and s.dead_lettered >= 1, timeout=90)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert runs.count(13) == 2 and 14 in runs  # run on two deliveries, then not again
    assert consumer.stats.restarts >= 2 and consumer.stats.dead_lettered == 1
    assert await effect_count(db) == 1
    [dead] = await read_topic(infra, f"{topic}.dlq", 1)
    headers = dict(dead.headers)
    assert headers["ce_id"] == wedging.id.encode()
    assert b"HandlerStalled" in headers["dlq_error"] and headers["dlq_attempts"] == b"2"


async def test_a_handler_that_takes_longer_than_the_stall_limit_is_work_not_a_stall(infra, db, topic):
    # Re-coding a street's rows after a move takes a while: the watchdog lets a handler at work finish (up to
    # handler_seconds), and a batch of slow handlers is progress one by one; nothing is restarted or run twice.
    Probe = probe_event_type(topic)
    async with transaction(make_sessionmaker(db)) as session:
        for seq in (1, 2, 3):
            await publish(session, Probe(aggregate_id="agg-slow", seq=seq))
    relay_task = asyncio.create_task(relay_for(infra).run())
    runs = []

    async def slow(session, event):
        runs.append(event.get_data()["seq"])
        await asyncio.sleep(1.5)
        await probe_handler(session, event)

    consumer = consumer_for(infra, topic, f"g-{uuid.uuid4().hex[:6]}", handler=slow, stall_seconds=1)
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.wait_for(lambda s: s.processed >= 3, timeout=60)
    finally:
        task.cancel()
        relay_task.cancel()
        await asyncio.gather(task, relay_task, return_exceptions=True)
    assert consumer.stats.restarts == 0 and sorted(runs) == [1, 2, 3]
    assert await effect_count(db) == 3


async def test_a_long_transaction_in_another_database_does_not_hold_the_relay_back(infra, db, topic):
    Probe = probe_event_type(topic)
    other = await asyncpg.connect(asyncpg_dsn(infra.database_url("mediation")))
    long_tx = other.transaction()
    await long_tx.start()
    await other.fetchval("SELECT pg_current_xact_id()")  # holds an xid, as a slow writer would
    try:
        relay = relay_for(infra)
        task = asyncio.create_task(relay.run())
        async with transaction(make_sessionmaker(db)) as session:
            await publish(session, Probe(aggregate_id="agg-free", seq=1))
        await eventually(lambda: _unsent(db, 0), timeout=30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await long_tx.rollback()
        await other.close()


async def test_a_statement_that_hangs_is_given_up_and_the_relay_starts_again(infra, db, topic):
    # A statement that does not come back (here it waits on a lock; on a network that drops packets it would wait for
    # the kernel) ends after statement_seconds: the relay reconnects, named for the operator, and publishes on.
    Probe = probe_event_type(topic)
    relay = relay_for(infra, statement_seconds=0.5)
    task = asyncio.create_task(relay.run())
    blocker = await asyncpg.connect(asyncpg_dsn(infra.database_url(KIT_DB)))
    try:
        await asyncio.wait_for(relay.leading.wait(), 30)
        named = await blocker.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                                       f"youmin-relay:{relay.service}")
        assert named == 1
        errors_before = RELAY_ERRORS.labels(relay.service)._value.get()
        hold = blocker.transaction()
        await hold.start()
        await blocker.execute("LOCK TABLE outbox_event IN ACCESS EXCLUSIVE MODE")
        await eventually(lambda: _relay_errors_above(relay, errors_before), timeout=30)
        await hold.rollback()
        async with transaction(make_sessionmaker(db)) as session:
            await publish(session, Probe(aggregate_id="agg-hang", seq=1))
        await eventually(lambda: _unsent(db, 0), timeout=30)
        assert len(await read_topic(infra, topic, 1)) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await blocker.close()


async def test_an_events_time_is_the_databases_clock_not_the_writing_processs(db, topic, monkeypatch):
    # Two replicas of a service whose clocks differ: the later of two writes must carry the later time, for the
    # replicas keep the newer change by it. A process whose clock is years behind still stamps the database's time.
    import youmin.kit.outbox as outbox

    class Behind(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2001, 1, 1, tzinfo=tz)

    Probe = probe_event_type(topic)
    monkeypatch.setattr(outbox, "datetime", Behind, raising=False)
    async with transaction(make_sessionmaker(db)) as session:
        await publish(session, Probe(aggregate_id="agg-clock", seq=1))
        started = (await session.execute(text("SELECT transaction_timestamp()"))).scalar_one()
    async with db.connect() as conn:
        stamped = (await conn.execute(text("SELECT time FROM outbox_event WHERE key = 'agg-clock'"))).scalar_one()
        now = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
    assert started <= stamped <= now


async def _relay_errors_above(relay: OutboxRelay, before: float) -> bool:
    return RELAY_ERRORS.labels(relay.service)._value.get() > before


async def test_relay_places_each_key_on_the_partition_a_plain_send_would(infra, db, topic):
    """The relay groups records into per-partition batches itself; a key must still land where the producer's
    default partitioner puts it, so events of one aggregate share a partition with any other producer's."""
    Probe = probe_event_type(topic)
    keys = [f"agg-{i}" for i in range(30)]
    async with transaction(make_sessionmaker(db)) as session:
        await publish(session, *(Probe(aggregate_id=key, seq=n) for n, key in enumerate(keys)))
    relay = relay_for(infra)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _unsent(db, 0), timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    by_relay = {r.key.decode(): r.partition for r in await read_topic(infra, topic, len(keys))}
    producer = make_producer(infra.bootstrap, idempotence=False, client_id="test-plain-send")
    await producer.start()
    try:
        by_send = {key: (await (await producer.send(topic, b"{}", key=key.encode()))).partition for key in keys}
    finally:
        await producer.stop()
    assert by_relay == by_send
    assert len(set(by_send.values())) > 1  # the keys really spread over the partitions


async def test_a_row_committed_late_below_batches_already_in_flight_is_still_published(infra, db, topic):
    """The relay reads each next batch after the last id in flight. A transaction that took its id earlier but
    its transaction id later (so the horizon lets younger rows past it) must not be left behind by that."""
    Probe = probe_event_type(topic)
    sessions = make_sessionmaker(db)
    early_xid = sessions()
    await early_xid.begin()
    await early_xid.execute(text("INSERT INTO probe_effect VALUES ('x', 'agg-early', 0)"))  # takes its xid first
    late_commit = sessions()
    await late_commit.begin()
    await publish(late_commit, Probe(aggregate_id="agg-late", seq=0))  # the lowest outbox id, a younger xid
    await publish(early_xid, *(Probe(aggregate_id=f"agg-{n % 5}", seq=n) for n in range(1, 36)))
    await early_xid.commit()
    await early_xid.close()
    relay = relay_for(infra, batch_size=10)  # 35 settled rows: three full batches back to back, then a short one
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _unsent(db, 0))  # the 35 committed rows; the open one is not visible yet
        await asyncio.sleep(0.5)  # several more polls while the late transaction stays open
        assert relay.published == 35
        await late_commit.commit()
        await late_commit.close()
        await eventually(lambda: _unsent(db, 0))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    records = await read_topic(infra, topic, 36)
    assert sorted(decode_record(r.headers, r.key, r.value).get_data()["seq"] for r in records) == list(range(36))


async def test_sent_rows_are_pruned_after_their_retention_and_unsent_ones_never(infra, db, topic, monkeypatch):
    Probe = probe_event_type(topic)
    async with transaction(make_sessionmaker(db)) as session:
        await publish(session, *(Probe(aggregate_id="agg-p", seq=n) for n in range(6)))
    async with db.begin() as conn:
        ids = list((await conn.execute(text("SELECT id FROM outbox_event ORDER BY id"))).scalars())
        # Two sent long ago, two sent just now, two not sent (the oldest of them older than the retention).
        await conn.execute(text("UPDATE outbox_event SET sent_at = now() - interval '9 days' WHERE id = ANY(:ids)"),
                           {"ids": ids[1:3]})
        await conn.execute(text("UPDATE outbox_event SET sent_at = now() WHERE id = ANY(:ids)"), {"ids": ids[3:5]})
        await conn.execute(text("UPDATE outbox_event SET time = now() - interval '30 days' WHERE id = :id"),
                           {"id": ids[0]})
    relay = relay_for(infra, retention=timedelta(days=7))
    conn = await asyncpg.connect(asyncpg_dsn(infra.database_url(KIT_DB)))
    try:
        # A pass stops after its cap of chunks and asks for the next pass at once; the backlog goes over passes.
        monkeypatch.setattr("youmin.kit.relay.PRUNE_CHUNK", 1)
        monkeypatch.setattr("youmin.kit.relay.PRUNE_CHUNKS_PER_PASS", 1)
        assert await relay.prune(conn) == 1 and relay._pruned_at == 0.0
        assert await relay.prune(conn) == 1
        assert await relay.prune(conn) == 0 and relay._pruned_at > 0
    finally:
        await conn.close()
    async with db.connect() as conn:
        left = list((await conn.execute(text("SELECT id FROM outbox_event ORDER BY id"))).scalars())
    assert left == [ids[0], *ids[3:]]


async def test_inbox_rows_past_their_retention_are_pruned_in_chunks_and_recent_ones_kept(db):
    async with db.begin() as conn:
        await conn.execute(text("DELETE FROM inbox_event"))
        await conn.execute(text(
            "INSERT INTO inbox_event (consumer, source, event_id, type, processed_at) "
            "SELECT 'c', 's', 'old-' || n, 't', now() - interval '31 days' FROM generate_series(1, 5) AS n"))
        await conn.execute(text(
            "INSERT INTO inbox_event (consumer, source, event_id, type, processed_at) "
            "SELECT 'c', 's', 'recent-' || n, 't', now() - interval '29 days' FROM generate_series(1, 3) AS n"))
        await conn.execute(text(  # the registry's: its topics are kept for good, and so are these
            "INSERT INTO inbox_event (consumer, source, event_id, type, processed_at) "
            "VALUES ('c', 's', 'unit-1', 'gov.youmin.registry.unit.created.v1', now() - interval '400 days')"))
    sessions = make_sessionmaker(db)
    thirty_days = 30 * 24 * 3600.0
    # A pass deletes at most its chunks; what is left goes in the next pass.
    assert await prune_inbox(sessions, "kit", thirty_days, chunk=2, chunks=2) == 4
    assert await prune_inbox(sessions, "kit", thirty_days, chunk=2, chunks=2) == 1
    assert await prune_inbox(sessions, "kit", thirty_days, chunk=2, chunks=2) == 0
    async with db.connect() as conn:
        left = sorted((await conn.execute(text("SELECT event_id FROM inbox_event"))).scalars())
    assert left == ["recent-1", "recent-2", "recent-3", "unit-1"]


async def test_a_service_with_consumers_prunes_its_inbox_as_it_starts(infra, db, topic):
    async with db.begin() as conn:
        await conn.execute(text("DELETE FROM inbox_event"))
        await conn.execute(text("INSERT INTO inbox_event (consumer, source, event_id, type, processed_at) VALUES "
                                "('c', 's', 'old', 't', now() - interval '31 days'), ('c', 's', 'new', 't', now())"))
    settings = ServiceSettings(name="kit", service_database_url=infra.database_url(KIT_DB),
                               kafka_bootstrap_servers=infra.bootstrap, relay_enabled=False, environment="test")
    app = create_service_app(settings, title="kit", consumers=[ConsumerSpec("kit-inbox-probe", [topic], {})])

    async def inbox() -> list[str]:
        async with db.connect() as conn:
            return sorted((await conn.execute(text("SELECT event_id FROM inbox_event"))).scalars())

    async with running(app):
        assert await eventually(lambda: _is(inbox, ["new"]))


async def _is(read, expected) -> bool:
    return await read() == expected


async def test_commits_close_together_go_out_in_one_batch(infra, db, topic):
    """The commit that wakes the relay and those of the next moments (the linger) are read, sent and marked together."""
    Probe = probe_event_type(topic)
    batches: list[list[int]] = []

    async def seen(ids: list[int]) -> None:
        batches.append(ids)

    relay = relay_for(infra, poll_seconds=30, linger_seconds=1.0, after_publish=seen)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.leading.wait(), 30)
        await asyncio.sleep(0.3)  # the first (empty) run is over: the relay waits for a wake-up
        sessions = make_sessionmaker(db)
        for n in range(3):  # three transactions a tenth of a second apart, each notifying, within the linger
            async with transaction(sessions) as session:
                await publish(session, Probe(aggregate_id="agg-linger", seq=n))
            await asyncio.sleep(0.1)
        await eventually(lambda: _unsent(db, 0), timeout=30)
        assert [len(b) for b in batches] == [3]
        assert [json.loads(r.value)["seq"] for r in await read_topic(infra, topic, 3)] == [0, 1, 2]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_relay_stops_when_cancelled_as_it_is_woken(infra, db):
    """A service shutting down cancels its relay; a NOTIFY wake-up arriving at that moment must not swallow the
    cancellation (Python 3.11's asyncio.wait_for did, and the relay went on polling for ever)."""
    for _ in range(5):
        relay = relay_for(infra, poll_seconds=30)
        task = asyncio.create_task(relay.run())
        await asyncio.wait_for(relay.leading.wait(), 30)
        await asyncio.sleep(0.3)  # the first (empty) run is over: the relay waits for a wake-up
        relay._wake.set()  # what the NOTIFY listener does
        assert task.cancel()
        done, _ = await asyncio.wait({task}, timeout=15)
        assert done and task.cancelled(), "the relay outlived its cancellation"


async def test_a_database_outage_is_waited_out_not_dead_lettered(infra, db, topic):
    from sqlalchemy.engine import make_url

    from youmin.infra import free_port
    from youmin.testing import TcpProxy

    Probe = probe_event_type(topic)
    sessions = make_sessionmaker(db)
    async with transaction(sessions) as session:
        await publish(session, *(Probe(aggregate_id=f"agg-{n}", seq=n) for n in range(5)))
    relay_task = asyncio.create_task(relay_for(infra).run())
    await eventually(lambda: _unsent(db, 0), timeout=30)
    relay_task.cancel()
    await asyncio.gather(relay_task, return_exceptions=True)

    # The consumer reaches PostgreSQL through a proxy that the test cuts: connections drop and are refused.
    url = make_url(infra.database_url(KIT_DB))
    proxy = TcpProxy(upstream_port=url.port, listen_port=free_port())
    proxy.start()
    engine = make_engine(url.set(port=proxy.listen_port).render_as_string(hide_password=False))
    group = f"g-{uuid.uuid4().hex[:6]}"
    consumer = EventConsumer(
        name=group, topics=[topic], handlers={"gov.youmin.test.probe.emitted.v1": probe_handler},
        sessions=make_sessionmaker(engine),
        consumer_factory=lambda *t, **k: make_consumer(infra.bootstrap, *t, **k),
        producer_factory=lambda: make_producer(infra.bootstrap, idempotence=False, client_id=group),
        retry_base_seconds=0.05, outage_retry_seconds=0.5,
    )
    proxy.cut()
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.assigned.wait()
        await asyncio.sleep(4)  # far longer than the retries a handler error gets before it is dead-lettered
        assert (consumer.stats.processed, consumer.stats.dead_lettered) == (0, 0)
        proxy.restore()
        await consumer.wait_for(lambda s: s.processed >= 5, timeout=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()
        proxy.stop()
    assert consumer.stats.dead_lettered == 0 and await effect_count(db) == 5


async def test_an_event_too_large_for_the_broker_is_refused_in_the_writers_transaction(db, topic):
    from youmin.kit.errors import RuleViolation
    from youmin.kit.outbox import MAX_EVENT_DATA_BYTES

    Probe = probe_event_type(topic)
    sessions = make_sessionmaker(db)
    with pytest.raises(RuleViolation) as refused:
        async with transaction(sessions) as session:
            await publish(session, Probe(aggregate_id="small", seq=1),
                          Probe(aggregate_id="😀" * (MAX_EVENT_DATA_BYTES // 4 + 1), seq=2))
    assert refused.value.extra["rule"] == "event.too_large"
    assert await _unsent(db, 0)  # neither event was written: nothing for the relay to stall on


async def test_dead_letters_are_listed_and_sent_back_once_the_handler_is_fixed(infra, db, topic):
    from youmin.kit import dlq
    from youmin.kit.events import Envelope

    Probe = probe_event_type(topic)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    events = [Envelope.of(Probe(aggregate_id="k", seq=n)) for n in (1, 13, 2)]
    for env in events:
        await producer.send_and_wait(topic, env.value(), key=b"k", headers=env.headers())
    await producer.stop()
    broken = {"yes": True}

    async def unlucky(session, event):
        if event.get_data()["seq"] == 13 and broken["yes"]:
            raise ValueError("seq 13 is unlucky")
        await probe_handler(session, event)

    group = f"g-{uuid.uuid4().hex[:6]}"
    consumer = consumer_for(infra, topic, group, handler=unlucky)
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.wait_for(lambda s: s.processed >= 2 and s.dead_lettered >= 1, timeout=60)
        letters = await dlq.show(infra.bootstrap, topic)
        assert [(d.consumer, d.event_id) for d in letters] == [(group, events[1].id)]
        assert "seq 13 is unlucky" in letters[0].error
        broken["yes"] = False  # the fix is deployed
        assert await dlq.redrive(infra.bootstrap, topic, consumer_name=group) == 1
        await consumer.wait_for(lambda s: s.processed >= 3, timeout=60)
        assert await dlq.redrive(infra.bootstrap, topic, consumer_name=group) == 0  # each dead letter goes back once
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await effect_count(db) == 3


async def test_a_long_run_of_poison_records_is_progress_and_each_is_dead_lettered_once(infra, db, topic):
    # Six failing records take longer to retry and dead-letter than the watchdog's stall limit: each one done is
    # committed, so the watchdog sees progress and a restart never sends the same record to the dead letters again.
    Probe = probe_event_type(topic)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    for env in [*(Envelope.of(Probe(aggregate_id="same-key", seq=666)) for _ in range(6)),
                Envelope.of(Probe(aggregate_id="same-key", seq=1))]:
        await producer.send_and_wait(topic, env.value(), key=b"same-key", headers=env.headers())
    await producer.stop()

    async def picky(session, event):
        if event.get_data()["seq"] == 666:
            raise ValueError("seq 666 cannot be handled")
        await probe_handler(session, event)

    group = f"g-{uuid.uuid4().hex[:6]}"
    consumer = EventConsumer(
        name=group, topics=[topic], handlers={"gov.youmin.test.probe.emitted.v1": picky},
        sessions=make_sessionmaker(make_engine(infra.database_url(KIT_DB))),
        consumer_factory=lambda *t, **k: make_consumer(infra.bootstrap, *t, **k),
        producer_factory=lambda: make_producer(infra.bootstrap, idempotence=False, client_id=group),
        max_attempts=3, retry_base_seconds=0.3, stall_seconds=3,  # ~0.9 s per poison record, 5.4 s in all
    )
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.wait_for(lambda s: s.processed >= 1, timeout=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (consumer.stats.dead_lettered, consumer.stats.restarts) == (6, 0)
    assert await effect_count(db) == 1


async def test_a_full_disk_is_waited_out_not_dead_lettered(infra, db, topic):
    # A database out of disk (or memory) is no fault of the event: it is tried again until there is room.
    Probe = probe_event_type(topic)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    env = Envelope.of(Probe(aggregate_id="disk", seq=1))
    await producer.send_and_wait(topic, env.value(), key=b"disk", headers=env.headers())
    await producer.stop()
    failures = 0

    async def disk_full_at_first(session, event):
        nonlocal failures
        if failures < 8:
            failures += 1
            await session.execute(text(
                "DO $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';"
                " END $$"))
        await probe_handler(session, event)

    consumer = consumer_for(infra, topic, f"g-{uuid.uuid4().hex[:6]}", handler=disk_full_at_first,
                            outage_retry_seconds=0.1)
    task = asyncio.create_task(consumer.run())
    try:
        await consumer.wait_for(lambda s: s.processed >= 1, timeout=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert failures == 8 and consumer.stats.dead_lettered == 0 and await effect_count(db) == 1


async def test_an_event_dead_lettered_by_several_consumers_goes_back_once(infra, topic):
    from youmin.kit import dlq

    Probe = probe_event_type(topic)
    env = Envelope.of(Probe(aggregate_id="k", seq=7))
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap)
    await producer.start()
    for consumer in ("registry-replica", "disclosure-replica"):  # two services failed the same event
        headers = [*env.headers(), ("dlq_consumer", consumer.encode()), ("dlq_error", b"ValueError: x"),
                   ("dlq_original_topic", topic.encode())]
        await producer.send_and_wait(f"{topic}.dlq", env.value(), key=b"k", headers=headers)
    await producer.stop()
    assert len(await dlq.show(infra.bootstrap, topic)) == 2
    assert await dlq.redrive(infra.bootstrap, topic) == 1
    back = await read_topic(infra, topic, 1)
    assert [dict(r.headers)["ce_id"] for r in back] == [env.id.encode()]
