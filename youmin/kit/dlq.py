"""Dead letters: looking at them, and sending them back to their topic once what failed them is fixed.

A consumer that cannot apply a record (a malformed event, a handler that keeps failing) sends it to `<topic>.dlq`
with the error in its headers and moves on. `youmin dlq show` lists them; `youmin dlq redrive` sends each back to its
original topic with its original headers. Every consumer deduplicates by event id (the inbox), so a record that some
consumers had already applied is skipped by them and applied by the one that failed it.

A record sent back arrives after the later events of its key. The registry replica keeps the later state: a revoked
grant stays revoked, and a residency, household representative or department assignment is overwritten only by an
event at least as recent (youmin.kit.replica).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from youmin.kit.kafka import make_consumer, make_producer

REDRIVE_GROUP = "youmin-dlq-redrive"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered record, as an operator reads it."""

    offset: int
    partition: int
    consumer: str
    error: str
    event_type: str
    event_id: str


def _header(headers: dict[str, bytes], name: str) -> str:
    return headers.get(name, b"").decode("utf-8", "replace")


async def _drain(consumer: AIOKafkaConsumer, handle, timeout_s: float) -> None:
    """Reads every record up to the partitions' end as of now, passing each batch to `handle`."""
    async with asyncio.timeout(timeout_s):
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                await handle(tp, records)
            done = True
            for tp in consumer.assignment():
                if await consumer.position(tp) < ends.get(tp, 0):
                    done = False
            if done:
                return


async def show(bootstrap: str, topic: str, *, timeout_s: float = 60.0) -> list[DeadLetter]:
    """Lists the dead letters of a topic (reads them without consuming them)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", client_id="youmin-dlq-show")
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        partitions = consumer.partitions_for_topic(f"{topic}.dlq") or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh client knows no topics yet
            partitions = consumer.partitions_for_topic(f"{topic}.dlq") or set()
        consumer.assign([TopicPartition(f"{topic}.dlq", p) for p in sorted(partitions)])

        async def collect(tp, records) -> None:
            for r in records:
                h = dict(r.headers)
                found.append(DeadLetter(r.offset, tp.partition, _header(h, "dlq_consumer"), _header(h, "dlq_error"),
                                        _header(h, "ce_type"), _header(h, "ce_id")))

        if partitions:
            await _drain(consumer, collect, timeout_s)
    finally:
        await consumer.stop()
    return sorted(found, key=lambda d: (d.partition, d.offset))


async def redrive(bootstrap: str, topic: str, *, consumer_name: str | None = None, timeout_s: float = 60.0) -> int:
    """Sends the dead letters of a topic back to it (only those a named consumer dead-lettered, if given); returns how
    many. Progress is kept per consumer name, so each dead letter is sent back once; an event several consumers
    dead-lettered goes back once in a run (every consumer group reads the one copy), not once per consumer, which
    would multiply the letters while the cause is still there."""
    group = f"{REDRIVE_GROUP}.{consumer_name or 'all'}"
    consumer = make_consumer(bootstrap, f"{topic}.dlq", group_id=group, client_id=group)
    producer = make_producer(bootstrap, idempotence=False, client_id=group)
    await consumer.start()
    await producer.start()
    sent = 0
    seen: set[tuple[str, str]] = set()
    try:
        async def send_back(tp, records) -> None:
            nonlocal sent
            for r in records:
                h = dict(r.headers)
                if consumer_name is not None and _header(h, "dlq_consumer") != consumer_name:
                    continue
                if event_id := _header(h, "ce_id"):  # an undecodable record may carry none: each goes back
                    if (_header(h, "ce_source"), event_id) in seen:
                        continue
                    seen.add((_header(h, "ce_source"), event_id))
                original = [(k, v) for k, v in r.headers if not k.startswith("dlq_")]
                await producer.send_and_wait(_header(h, "dlq_original_topic") or topic, value=r.value, key=r.key,
                                             headers=original)
                sent += 1
            await consumer.commit({tp: records[-1].offset + 1})

        await _drain(consumer, send_back, timeout_s)
    finally:
        await producer.stop()
        await consumer.stop()
    return sent
