"""Inbox-deduplicated consumers: effects and inbox row in one transaction, offsets after the commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from cloudevents.core.base import BaseCloudEvent
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from youmin.kit.db import is_transient, transaction
from youmin.kit.events import read_record
from youmin.kit.logging import get_logger
from youmin.kit.errors import describe_error, describe_trace

log = get_logger("youmin.consumer")

PROCESSED = Counter("youmin_consumer_processed_total", "Events whose effects committed", ["consumer"])
DUPLICATES = Counter("youmin_consumer_duplicates_total", "Events skipped by the inbox", ["consumer"])
DEAD_LETTERED = Counter("youmin_consumer_dead_lettered_total", "Events sent to a dead-letter topic", ["consumer"])
RESTARTS = Counter("youmin_consumer_restarts_total", "Consumer restarts by the watchdog", ["consumer"])

Handler = Callable[[AsyncSession, BaseCloudEvent], Awaitable[None]]

_CLAIM = text(
    """
    INSERT INTO inbox_event (consumer, source, event_id, type) VALUES (:consumer, :source, :event_id, :type)
    ON CONFLICT DO NOTHING
    """
)


_CLAIM_MANY = text(
    """
    INSERT INTO inbox_event (consumer, source, event_id, type)
    SELECT :consumer, u.source, u.event_id, u.type
    FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[]), CAST(:types AS text[])) AS u(source, event_id, type)
    ON CONFLICT DO NOTHING
    RETURNING source, event_id
    """
)


# The inbox remembers an event only as long as it can come again: a redelivery after a crash comes within
# moments, a replay of a topic from its start (an operator resetting a group's offsets, or a group idle longer than
# the broker keeps its offsets) within the topic's retention. Rows processed longer ago than the inbox retention,
# which must exceed the broker's retention, are deleted a chunk at a time, oldest first (they lie at the start of the
# table, where the scan begins). The registry's events are never deleted: their topics are kept for good
# (youmin.kit.kafka.KEPT_FOREVER), and a unit's creation applied again would take it back to how it was created.
_PRUNE_INBOX = text(
    """
    DELETE FROM inbox_event WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM inbox_event WHERE processed_at < now() - make_interval(secs => :seconds)
        AND type NOT LIKE 'gov.youmin.registry.%' LIMIT :chunk))
    """
)
INBOX_PRUNED = Counter("youmin_inbox_pruned_total", "Inbox rows deleted after the inbox retention", ["service"])


async def prune_inbox(sessions: async_sessionmaker[AsyncSession], service: str, retention_seconds: float, *,
                      chunk: int = 5000, chunks: int = 20) -> int:
    """Deletes inbox rows processed longer ago than the retention, at most `chunks` chunks of `chunk` rows, each its
    own transaction; returns how many."""
    deleted = 0
    for _ in range(chunks):
        async with transaction(sessions) as session:
            result = await session.execute(_PRUNE_INBOX, {"seconds": retention_seconds, "chunk": chunk})
        deleted += result.rowcount
        if result.rowcount < chunk:
            break
    if deleted:
        INBOX_PRUNED.labels(service).inc(deleted)
        log.info("inbox.pruned", service=service, rows=deleted)
    return deleted


class Stalled(Exception):
    """The consumer made no progress although records are waiting."""


class HandlerStalled(Exception):
    """An event whose handler overran handler_seconds on max_attempts deliveries: dead-lettered without running it
    again (delivered anew after each restart, it would hold its partitions for good)."""


@dataclass
class ConsumerStats:
    """What a consumer has done; tests wait on it instead of sleeping."""

    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    restarts: int = 0


class EventConsumer:
    """Consumes topics into one service's database through handlers keyed by event type."""

    def __init__(
        self,
        *,
        name: str,
        topics: list[str],
        handlers: dict[str, Handler],
        sessions: async_sessionmaker[AsyncSession],
        consumer_factory: Callable[..., AIOKafkaConsumer],
        producer_factory: Callable[[], AIOKafkaProducer],
        max_attempts: int = 5,
        stall_seconds: float = 60.0,
        retry_base_seconds: float = 0.05,
        start_grace_seconds: float = 60.0,
        outage_retry_seconds: float = 5.0,
        handler_seconds: float | None = None,
    ) -> None:
        self.name = name
        self.topics = topics
        self.handlers = handlers
        self.sessions = sessions
        self.consumer_factory = consumer_factory
        self.producer_factory = producer_factory
        self.max_attempts = max_attempts
        self.stall_seconds = stall_seconds
        self.retry_base_seconds = retry_base_seconds
        self.start_grace_seconds = start_grace_seconds
        self.outage_retry_seconds = outage_retry_seconds
        # How long one handler may run before the watchdog takes it for wedged (a dead connection, say) and restarts
        # the consumer; a handler at work is not a stall before then (re-coding a street's rows after a move takes a
        # while), and a batch's handlers are progress one by one. Default: ten times stall_seconds.
        self.handler_seconds = handler_seconds if handler_seconds is not None else 10 * stall_seconds
        self._handling_since: float | None = None
        # The event whose handler is running, and how often each event's handler overran handler_seconds (kept across
        # the restarts the overruns cause; an event is forgotten once dead-lettered or applied).
        self._handling_event: tuple[str, str] | None = None
        self._overruns: dict[tuple[str, str], int] = {}
        self._offsets_checked_at = 0.0
        self._started = False
        self.stats = ConsumerStats()
        self._progress_at = time.monotonic()
        self._dlq_producer: AIOKafkaProducer | None = None
        self._changed = asyncio.Condition()
        #: Set once the group has assigned partitions to this consumer.
        self.assigned = asyncio.Event()

    async def run(self) -> None:
        """Runs until cancelled; the watchdog restarts a stalled or failed consumer."""
        while True:
            consumer = self.consumer_factory(*self.topics, group_id=self.name, client_id=self.name)
            poll = asyncio.create_task(self._poll(consumer))
            try:
                await self._watch(poll)
            except Exception as exc:  # noqa: BLE001 - restart on any failure
                self.stats.restarts += 1
                RESTARTS.labels(self.name).inc()
                log.warning("consumer.restarting", consumer=self.name, error=describe_error(exc))
            finally:
                # Whatever ends this round (restart, cancellation, a crash), the group member leaves.
                poll.cancel()
                await asyncio.gather(poll, return_exceptions=True)
                await self._stop(consumer)
            await asyncio.sleep(1.0)

    async def _stop(self, consumer: AIOKafkaConsumer) -> None:
        try:
            await asyncio.wait_for(consumer.stop(), 10)
        except Exception:  # noqa: BLE001
            pass
        producer, self._dlq_producer = self._dlq_producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception:  # noqa: BLE001
                pass

    async def _watch(self, poll: asyncio.Task[None]) -> None:
        self._progress_at = time.monotonic()
        self._started = False
        while True:
            done, _ = await asyncio.wait({poll}, timeout=min(5.0, self.stall_seconds / 2))
            if done:
                poll.result()  # re-raises the poll loop's failure
                return
            handling_since = self._handling_since
            if handling_since is not None:
                if time.monotonic() - handling_since > self.handler_seconds:
                    if (event := self._handling_event) is not None:
                        self._overruns[event] = self._overruns.get(event, 0) + 1
                    raise Stalled(f"a handler has run for over {self.handler_seconds}s")
                continue
            # Joining the group may legitimately take a while; a start that never ends is a stall too.
            limit = self.stall_seconds if self._started else max(self.stall_seconds, self.start_grace_seconds)
            if time.monotonic() - self._progress_at > limit:
                raise Stalled(f"no progress for {limit}s")

    async def _poll(self, consumer: AIOKafkaConsumer) -> None:
        await consumer.start()
        self._progress_at = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            if consumer.assignment():
                self.assigned.set()
                if not self._started:
                    self._started = True
                    self._progress_at = time.monotonic()
            if not batches:
                if not await self._lagging(consumer):
                    self._progress_at = time.monotonic()
                continue
            # The whole poll (all partitions) normally commits in one database transaction, then one
            # offset commit; if that fails, each partition is replayed record by record, in order.
            if not await self._apply_batch([r for records in batches.values() for r in records]):
                for tp, records in batches.items():
                    for record in records:
                        await self._handle_record(record)
                        # Each record done (applied or dead-lettered) is committed at once: a long replay of failing
                        # records is progress, not a stall, and a restart never dead-letters a record twice.
                        await consumer.commit({tp: record.offset + 1})
                        self._progress_at = time.monotonic()
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
            self._progress_at = time.monotonic()

    async def _lagging(self, consumer: AIOKafkaConsumer) -> bool:
        """Whether an empty poll hides records waiting: the last fetch's high-water marks say so, and now and then
        the broker is asked (a fetcher that gets no answers keeps its last marks; a broker that does not answer is
        a stall too)."""
        assignment = consumer.assignment()
        for tp in assignment:
            highwater = consumer.highwater(tp)
            if highwater is not None and highwater > await consumer.position(tp):
                return True
        if not assignment or time.monotonic() - self._offsets_checked_at < self.stall_seconds / 4:
            return False
        try:
            async with asyncio.timeout(min(10.0, self.stall_seconds / 2)):
                ends = await consumer.end_offsets(list(assignment))
                for tp, end in ends.items():
                    if end > await consumer.position(tp):
                        return True
        except (TimeoutError, KafkaError):
            return True
        self._offsets_checked_at = time.monotonic()
        return False

    async def _apply_batch(self, records: list[ConsumerRecord]) -> bool:
        """Claims a batch in the inbox with one statement and runs its handlers in one transaction.

        Returns False, having changed nothing, if any record cannot be decoded or any handler fails.
        """
        try:
            events = [read_record(r.headers, r.key, r.value) for r in records]
        except Exception:  # noqa: BLE001 - the slow path dead-letters the undecodable record
            return False
        if self._overruns and any(self._overran(e) for e in events):
            return False  # the slow path dead-letters the event whose handler keeps overrunning
        try:
            async with self.sessions() as session:
                async with session.begin():
                    claimed = await session.execute(
                        _CLAIM_MANY,
                        {"consumer": self.name, "sources": [e.get_source() for e in events],
                         "ids": [e.get_id() for e in events], "types": [e.get_type() for e in events]},
                    )
                    fresh = set(map(tuple, claimed))  # (source, event_id) of the events claimed now
                    applied = 0
                    for event in events:
                        key = (event.get_source(), event.get_id())
                        if key not in fresh:
                            continue
                        fresh.discard(key)  # the same event twice in one batch runs once
                        applied += 1
                        await self._run_handler(session, event)
        except Exception as exc:  # noqa: BLE001 - replayed one by one
            log.info("consumer.batch_replayed_singly", consumer=self.name, size=len(records), error=describe_error(exc))
            return False
        self.stats.processed += applied
        self.stats.duplicates += len(events) - applied
        PROCESSED.labels(self.name).inc(applied)
        DUPLICATES.labels(self.name).inc(len(events) - applied)
        await self._notify()
        return True

    async def _claim_and_handle(self, session: AsyncSession, event: BaseCloudEvent) -> bool:
        """Claims the event in the inbox and runs its handler; returns False for a duplicate."""
        claimed = await session.execute(
            _CLAIM,
            {"consumer": self.name, "source": event.get_source(), "event_id": event.get_id(), "type": event.get_type()},
        )
        if claimed.rowcount == 0:
            return False
        await self._run_handler(session, event)
        return True

    async def _run_handler(self, session: AsyncSession, event: BaseCloudEvent) -> None:
        """Runs the event's handler, if its type has one, with the event's id and type in every log line it writes."""
        handler = self.handlers.get(event.get_type())
        if handler is None:
            return
        structlog.contextvars.bind_contextvars(event_id=event.get_id(), event_type=event.get_type())
        self._handling_event = (event.get_source(), event.get_id())
        self._handling_since = time.monotonic()
        try:
            await handler(session, event)
            if self._overruns:
                self._overruns.pop(self._handling_event, None)  # it came through after all
        finally:
            self._handling_since = None
            self._handling_event = None
            self._progress_at = time.monotonic()
            structlog.contextvars.unbind_contextvars("event_id", "event_type")

    async def _handle_record(self, record: ConsumerRecord) -> None:
        """Applies one record; a record that keeps failing goes to the dead-letter topic.

        A failure because the database is unavailable (restarting, unreachable, out of connections) is not the
        record's fault: it is tried again, for as long as the outage lasts, and its offset is not committed meanwhile.
        """
        error: BaseException | None = None
        attempt = 0
        waits = 0
        while attempt < self.max_attempts:
            try:
                event = read_record(record.headers, record.key, record.value)
            except Exception as exc:  # noqa: BLE001 - an undecodable record is poison at once
                error = exc
                attempt += 1
                break
            if self._overran(event):
                overruns = self._overruns.pop((event.get_source(), event.get_id()))
                error = HandlerStalled(f"its handler ran over {self.handler_seconds}s on {overruns} deliveries")
                attempt = overruns
                break
            try:
                await self._apply(event)
                return
            except Exception as exc:  # noqa: BLE001 - retried, then dead-lettered
                error = exc
                if is_transient(exc):
                    waits += 1
                    log.warning("consumer.database_unavailable", consumer=self.name, wait=waits, error=describe_error(exc),
                                event_id=event.get_id(), event_type=event.get_type())
                    # Waiting out an outage is not a stall: the watchdog would only rejoin the group to wait again.
                    self._progress_at = time.monotonic()
                    await asyncio.sleep(min(self.retry_base_seconds * 2 ** min(waits, 10), self.outage_retry_seconds))
                    continue
                attempt += 1
                log.warning("consumer.handler_failed", consumer=self.name, attempt=attempt, error=describe_error(exc),
                            event_id=event.get_id(), event_type=event.get_type())
                if attempt < self.max_attempts:
                    await asyncio.sleep(min(self.retry_base_seconds * 2 ** (attempt - 1), 2.0))
        await self._dead_letter(record, error, attempt)

    def _overran(self, event: BaseCloudEvent) -> bool:
        """Whether the event's handler overran handler_seconds on max_attempts deliveries."""
        return self._overruns.get((event.get_source(), event.get_id()), 0) >= self.max_attempts

    async def _apply(self, event: BaseCloudEvent) -> None:
        async with self.sessions() as session:
            async with session.begin():
                fresh = await self._claim_and_handle(session, event)
        if fresh:
            self.stats.processed += 1
            PROCESSED.labels(self.name).inc()
        else:
            self.stats.duplicates += 1
            DUPLICATES.labels(self.name).inc()
        await self._notify()

    async def _dead_letter(self, record: ConsumerRecord, error: BaseException | None, attempts: int) -> None:
        if self._dlq_producer is None:
            producer = self.producer_factory()
            await producer.start()
            self._dlq_producer = producer
        reason = describe_error(error)[:2000] if error is not None else "NoneType: None"
        headers = [*[(k, v) for k, v in record.headers if not k.startswith("dlq_")]]
        headers += [
            ("dlq_error", reason.encode()),
            ("dlq_trace", describe_trace(error)[-4000:].encode() if error else b""),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_consumer", self.name.encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
        ]
        await self._dlq_producer.send_and_wait(f"{record.topic}.dlq", value=record.value, key=record.key, headers=headers)
        self.stats.dead_lettered += 1
        DEAD_LETTERED.labels(self.name).inc()
        event_id = next((value.decode("utf-8", "replace") for name, value in record.headers if name == "ce_id"), None)
        log.error("consumer.dead_lettered", consumer=self.name, topic=record.topic, partition=record.partition,
                  offset=record.offset, event_id=event_id, error=reason)
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[ConsumerStats], bool], timeout: float = 30.0) -> None:
        """Waits until the stats satisfy the predicate (for tests and benchmarks)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self.stats))


