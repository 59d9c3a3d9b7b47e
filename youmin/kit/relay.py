"""The outbox relay: publishes committed outbox rows in commit order, marks them sent after acks=all."""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from datetime import timedelta
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from prometheus_client import Counter, Gauge
from sqlalchemy.engine import make_url

from youmin.kit.horizon import SETTLED_BELOW
from youmin.kit.logging import get_logger
from youmin.kit.outbox import NOTIFY_CHANNEL
from youmin.kit.errors import describe_error

log = get_logger("youmin.relay")

PUBLISHED = Counter("youmin_outbox_published_total", "Outbox rows published and acknowledged", ["service"])
RELAY_ERRORS = Counter("youmin_outbox_relay_errors_total", "Relay failures (broker or database)", ["service"])
PRUNED = Counter("youmin_outbox_pruned_total", "Sent outbox rows deleted after their retention", ["service"])
LEADER = Gauge("youmin_outbox_relay_leader", "1 while this process holds the relay lock", ["service"])

# Rows are read in id (insertion) order; the prefix whose writing transactions are all below the
# horizon (youmin.kit.horizon) is published. A row of a transaction that may still be running (txid >= xmin) stops
# the batch, so a late-committing transaction is waited for instead of being overtaken or skipped.
_SELECT = f"""
    SELECT id, event_id::text, topic, key, type, source, subject, dataschema, time, data::text,
           txid < {SETTLED_BELOW} AS settled
    FROM outbox_event
    WHERE sent_at IS NULL AND id > $2
    ORDER BY id
    LIMIT $1
"""
_SPECVERSION_HEADER = ("ce_specversion", b"1.0")
_CONTENT_TYPE_HEADER = ("content-type", b"application/json")


@lru_cache(maxsize=1 << 16)
def _partition_index(key: bytes, count: int) -> int:
    """The index, among a topic's sorted partitions, that the producer's default partitioner gives a key (the Java
    client's murmur2), remembered: aggregates come back again and again."""
    return (murmur2(key) & 0x7FFFFFFF) % count
_MARK = "UPDATE outbox_event SET sent_at = now() WHERE id = ANY($1::bigint[])"
# The oldest sent rows come first by id (rows are sent in id order); of those, the ones sent before the cut-off
# go. Unsent rows always stay.
_PRUNE = """
    DELETE FROM outbox_event
    WHERE id IN (SELECT id FROM outbox_event WHERE sent_at IS NOT NULL ORDER BY id LIMIT $2)
      AND sent_at < now() - $1::interval
"""
PRUNE_EVERY_SECONDS = 60.0
PRUNE_CHUNK = 5000
PRUNE_CHUNKS_PER_PASS = 10  # a large backlog is worked off over several passes, between publishing runs


def asyncpg_dsn(url: str) -> str:
    """Turns a SQLAlchemy URL into a plain libpq DSN for asyncpg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def lock_key(service: str) -> int:
    """Returns the advisory lock id of a service's relay."""
    return zlib.crc32(f"youmin-relay:{service}".encode())


class OutboxRelay:
    """One relay per service: the advisory-lock holder publishes, other replicas stand by."""

    def __init__(
        self,
        *,
        service: str,
        database_url: str,
        producer_factory: Callable[[], AIOKafkaProducer],
        batch_size: int = 500,
        poll_seconds: float = 0.5,
        linger_seconds: float = 0.0,
        after_publish: Callable[[list[int]], Awaitable[None]] | None = None,
        retention: timedelta = timedelta(days=7),
        statement_seconds: float = 60.0,
    ) -> None:
        self.service = service
        # How long one statement may take before the relay gives up its connection and starts again: a connection
        # whose packets vanish (a network partition, a NAT that forgot it) otherwise hangs until the kernel gives up.
        self.statement_seconds = statement_seconds
        self.dsn = asyncpg_dsn(database_url)
        self.producer_factory = producer_factory
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        # How long a notification waits before the run it wakes: commits close together go out in one batch.
        self.linger_seconds = linger_seconds
        # Test hook: runs between the broker's acknowledgement and the mark-sent update.
        self.after_publish = after_publish
        self.retention = retention
        self._pruned_at = 0.0
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self.published = 0
        #: Set while this relay holds the lock and its producer is connected.
        self.leading = asyncio.Event()

    async def run(self) -> None:
        """Runs until cancelled, recovering from database and broker failures."""
        backoff = self.poll_seconds
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                await self._close_producer()
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive any outage
                RELAY_ERRORS.labels(self.service).inc()
                LEADER.labels(self.service).set(0)
                log.warning("relay.failed", service=self.service, error=describe_error(exc), retry_in=backoff)
                await self._close_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                backoff = self.poll_seconds

    async def _lead(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=self.statement_seconds, command_timeout=self.statement_seconds,
                                     server_settings=self._session_settings())
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(self.service)):
                await asyncio.sleep(self.poll_seconds * 4)
            # The producer connects on taking the lead, so the first event after a start or a failover does not
            # wait for the broker's metadata, and a broker that cannot be reached shows at once.
            await self._ensure_producer()
            LEADER.labels(self.service).set(1)
            self.leading.set()
            log.info("relay.leading", service=self.service)
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            while True:
                # Cleared before reading: a commit notified while a run is under way wakes the next one at once.
                self._wake.clear()
                await self._publish_run(conn)
                if time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
                    await self.prune(conn)
                # asyncio.timeout rather than wait_for: on Python 3.11, wait_for loses a cancellation that comes as
                # the wake-up does, and the relay would outlive its service's shutdown.
                try:
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                else:
                    # Under load a commit notifies every few milliseconds: gathered, they cost one read, one send
                    # and one mark between them instead of each its own.
                    await asyncio.sleep(self.linger_seconds)
        finally:
            self.leading.clear()
            LEADER.labels(self.service).set(0)
            await asyncio.shield(conn.close(timeout=2))

    def _session_settings(self) -> dict[str, str]:
        """The relay's session: named for the operator (pg_stat_activity shows which one leads), and ended by the server
        when its client is gone without a word (TCP keepalives), so that the lock it held passes to a standby within a
        minute rather than the hours the system's keepalive defaults take."""
        return {"application_name": f"youmin-relay:{self.service}"[:63], "tcp_keepalives_idle": "30",
                "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3"}

    async def prune(self, conn: asyncpg.Connection) -> int:
        """Deletes rows sent longer ago than the retention, oldest first, a chunk at a time; returns how many.

        One pass deletes at most PRUNE_CHUNKS_PER_PASS chunks, so publishing never waits long behind it; a pass
        that stops at the cap runs again after the next publishing run.
        """
        self._pruned_at = time.monotonic()
        deleted = 0
        for _ in range(PRUNE_CHUNKS_PER_PASS):
            status = await conn.execute(_PRUNE, self.retention, PRUNE_CHUNK)
            count = int(status.split()[-1])
            deleted += count
            if count < PRUNE_CHUNK:
                break
        else:
            self._pruned_at = 0.0
        if deleted:
            PRUNED.labels(self.service).inc(deleted)
            log.info("relay.pruned", service=self.service, rows=deleted)
        return deleted

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self.producer_factory()
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception:  # noqa: BLE001 - a dead broker may not let us close cleanly
                pass

    async def _publish_run(self, conn: asyncpg.Connection) -> None:
        """Publishes batches back to back until one comes up short.

        While one batch awaits the broker's acknowledgement, the next is read and sent (two in flight at most):
        the next read starts after the last id in flight. Rows are marked sent batch by batch, in order, each only
        after its acknowledgement. A run ends with nothing in flight, so the next run reads from the first unsent
        row again, which also picks up a row that committed late below an id already sent.
        """
        unsettled: list[_Sent] = []  # handed to the producer, not yet marked sent; at most two
        try:
            while True:
                sent = await self._send(conn, after=unsettled[-1].ids[-1] if unsettled else 0)
                if sent is not None:
                    unsettled.append(sent)
                while unsettled and (sent is None or len(sent.ids) < self.batch_size or len(unsettled) > 1):
                    await self._settle(conn, unsettled[0])
                    unsettled.pop(0)
                if sent is None or len(sent.ids) < self.batch_size:
                    return
        finally:
            for batch in unsettled:  # a failure or a cancellation: their rows stay unsent and go again
                if batch.acks.done():
                    if not batch.acks.cancelled():
                        batch.acks.exception()  # retrieved: the failure is already being handled
                else:
                    batch.acks.cancel()

    async def _send(self, conn: asyncpg.Connection, *, after: int) -> _Sent | None:
        """Reads the next settled rows after an id and hands them to the producer; None if there are none.

        Records are grouped into one record batch per partition (the partition the producer's default partitioner
        gives the key, as `send` would), in id order within each, and sent with `send_batch`: one future per
        partition instead of one per record.
        """
        rows = await conn.fetch(_SELECT, self.batch_size, after)
        ready = []
        for row in rows:
            if not row["settled"]:
                break
            ready.append(row)
        if not ready:
            return None
        producer = await self._ensure_producer()
        batches: dict[tuple[str, int], list] = {}
        partitions_of: dict[str, list[int]] = {}
        last_time, ce_time = None, b""
        for row_id, event_id, topic, key, type_, source, subject, dataschema, time_, data, _ in ready:
            partitions = partitions_of.get(topic)
            if partitions is None:
                partitions = partitions_of[topic] = sorted(await producer.partitions_for(topic))
            key_bytes = key.encode()
            if time_ != last_time:  # the events of one transaction share their time
                last_time, ce_time = time_, time_.isoformat().replace("+00:00", "Z").encode()
            headers = [
                _SPECVERSION_HEADER,
                ("ce_id", event_id.encode()),
                ("ce_source", source.encode()),
                ("ce_type", type_.encode()),
                ("ce_time", ce_time),
                _CONTENT_TYPE_HEADER,
            ]
            if subject:
                headers.append(("ce_subject", subject.encode()))
            if dataschema:
                headers.append(("ce_dataschema", dataschema.encode()))
            partition = partitions[_partition_index(key_bytes, len(partitions))]
            open_batches = batches.get((topic, partition))
            if open_batches is None:  # not setdefault: its default, a new batch builder, would be made every time
                open_batches = batches[topic, partition] = [producer.create_batch()]
            value = data.encode()
            if open_batches[-1].append(key=key_bytes, value=value, timestamp=None, headers=headers) is None:
                open_batches.append(producer.create_batch())
                if open_batches[-1].append(key=key_bytes, value=value, timestamp=None, headers=headers) is None:
                    raise ValueError(f"outbox row {row_id} is larger than a record batch")
        futures = [await producer.send_batch(batch, topic, partition=partition)
                   for (topic, partition), open_batches in batches.items() for batch in open_batches]
        return _Sent([row["id"] for row in ready], asyncio.gather(*futures))

    async def _settle(self, conn: asyncpg.Connection, sent: _Sent) -> None:
        """Waits for a batch's acknowledgement (acks=all), then marks its rows sent."""
        await sent.acks
        if self.after_publish is not None:
            await self.after_publish(sent.ids)
        await conn.execute(_MARK, sent.ids)
        self.published += len(sent.ids)
        PUBLISHED.labels(self.service).inc(len(sent.ids))


@dataclass(frozen=True, slots=True)
class _Sent:
    """A batch handed to the producer: its row ids, in order, and the future of its acknowledgements."""

    ids: list[int]
    acks: asyncio.Future
