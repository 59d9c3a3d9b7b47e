"""Event backbone: outbox -> relay -> broker -> consumer (with inbox), beside raw aiokafka produce -> consume.

Run: .venv/bin/python -m bench.backbone [--events 20000] [--rate 500] [--seconds 10]
Targets (issue 2): throughput >= 40% of raw; p99 end-to-end latency < 250 ms at a sustained 500 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import ClassVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.progress import Progress

from bench.common import bench_infra, console, percentile, table
from youmin.kit.consumer import EventConsumer
from youmin.kit.db import make_engine, make_sessionmaker, transaction
from youmin.kit.events import EVENT_TYPES, Envelope, Event
from youmin.kit.kafka import ensure_topics, make_consumer, make_producer
from youmin.kit.outbox import publish
from youmin.kit.relay import OutboxRelay

SERVICE = "registry"
PAYLOAD = "x" * 120


def event_type(topic: str) -> type[Event]:
    class BenchEmitted(Event):
        type: ClassVar[str] = "gov.youmin.bench.probe.emitted.v1"
        source: ClassVar[str] = "/youmin/bench"
        key_field: ClassVar[str] = "aggregate_id"
        aggregate_id: str
        seq: int
        sent_ns: int
        padding: str

    BenchEmitted.topic = topic
    EVENT_TYPES.pop(BenchEmitted.type, None)
    return BenchEmitted


async def raw_run(bootstrap: str, n: int, rate: float | None) -> tuple[float, list[float]]:
    """Raw aiokafka produce -> consume; returns (events/s, latencies in ms)."""
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [topic], partitions=3)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"raw-{topic}", enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    latencies: list[float] = []
    done = asyncio.Event()

    async def consume() -> None:
        while len(latencies) < n:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time_ns()
            for tp, records in batch.items():
                for r in records:
                    latencies.append((now - int(r.value.split(b"|", 1)[0])) / 1e6)
                await consumer.commit({tp: records[-1].offset + 1})
        done.set()

    reader = asyncio.create_task(consume())
    while not consumer.assignment():  # the group join is not part of the measurement
        await asyncio.sleep(0.05)
    started = time.perf_counter()
    futures = []
    for i in range(n):
        if rate:
            await _pace(started, i, rate)
        futures.append(await producer.send(topic, f"{time.time_ns()}|{PAYLOAD}".encode(), key=f"agg-{i % 50}".encode()))
    await asyncio.gather(*futures)
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - started
    reader.cancel()
    await producer.stop()
    await consumer.stop()
    return n / elapsed, latencies


async def _pace(started: float, i: int, rate: float) -> None:
    due = started + i / rate
    delay = due - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def pipeline_run(infra, n: int, rate: float | None) -> tuple[float, list[float]]:
    """Outbox writes -> relay -> broker -> inbox consumer; returns (events/s, latencies in ms)."""
    topic = f"bench.outbox.{uuid.uuid4().hex[:6]}"
    await ensure_topics(infra.bootstrap, [topic, f"{topic}.dlq"], partitions=3)
    Probe = event_type(topic)
    engine = make_engine(infra.database_url(SERVICE), pool_size=5)
    sessions = make_sessionmaker(engine)
    latencies: list[float] = []

    async def handler(session, event) -> None:
        # The effect measured is the inbox row committed with the offset; the handler only takes the time.
        latencies.append((time.time_ns() - event.get_data()["sent_ns"]) / 1e6)
    relay = OutboxRelay(service=f"bench-{topic}", database_url=infra.database_url(SERVICE), poll_seconds=0.05,
                        producer_factory=lambda: make_producer(infra.bootstrap, idempotence=False, client_id="bench"))
    consumer = EventConsumer(
        name=f"bench-{topic}", topics=[topic], handlers={Probe.type: handler}, sessions=sessions,
        consumer_factory=lambda *t, **k: make_consumer(infra.bootstrap, *t, **k),
        producer_factory=lambda: make_producer(infra.bootstrap, idempotence=False, client_id="bench"),
    )
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
    await asyncio.wait_for(consumer.assigned.wait(), 60)  # the group join is not part of the measurement
    started = time.perf_counter()
    batch = 10 if rate else 500
    for i in range(0, n, batch):
        if rate:
            await _pace(started, i, rate)
        async with transaction(sessions) as session:
            await publish(session, *(Probe(aggregate_id=f"agg-{j % 50}", seq=j, sent_ns=time.time_ns(), padding=PAYLOAD)
                                     for j in range(i, min(n, i + batch))))
    await consumer.wait_for(lambda s: s.processed >= n, timeout=600)
    elapsed = time.perf_counter() - started
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await engine.dispose()
    return n / elapsed, latencies


async def main(events: int, rate: float, seconds: float) -> None:
    async with bench_infra() as infra:
        sustained = int(rate * seconds)
        with Progress(console=console, transient=True) as progress:
            step = progress.add_task("benchmarking", total=4)
            raw_tp, _ = await raw_run(infra.bootstrap, events, None)
            progress.advance(step)
            pipe_tp, _ = await pipeline_run(infra, events, None)
            progress.advance(step)
            _, raw_lat = await raw_run(infra.bootstrap, sustained, rate)
            progress.advance(step)
            _, pipe_lat = await pipeline_run(infra, sustained, rate)
            progress.advance(step)
    console.print(table(
        f"Event backbone ({events:,} events for throughput; {sustained:,} at {rate:.0f}/s for latency)",
        ["path", "events/s", "p50 ms", "p99 ms", "ratio to raw"],
        [
            ["raw aiokafka produce -> consume", raw_tp, percentile(raw_lat, 50), percentile(raw_lat, 99), "1.00"],
            ["outbox -> relay -> broker -> inbox consumer", pipe_tp, percentile(pipe_lat, 50), percentile(pipe_lat, 99),
             f"{pipe_tp / raw_tp:.2f}"],
        ],
    ))
    console.print(f"targets: throughput ratio >= 0.40 (got {pipe_tp / raw_tp:.2f}); "
                  f"p99 < 250 ms at {rate:.0f}/s (got {percentile(pipe_lat, 99):.1f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rate, args.seconds))
