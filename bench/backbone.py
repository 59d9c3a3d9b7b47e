"""Event backbone: outbox -> relay -> broker -> consumer (with inbox), beside raw aiokafka produce -> consume.

Both paths run as they are deployed, on uvloop (the services' event loop under uvicorn): the producing side in
one process (for Youmin, a service writing its outbox from several concurrent transactions, as a busy service
does, and running its relay) and the consuming side in another (a service's inbox consumer). The raw
baseline is an aiokafka producer process and an aiokafka consumer process on the same broker, same run.

Run: .venv/bin/python -m bench.backbone [--events 50000] [--rounds 3] [--rate 500] [--seconds 10]
Targets (issue 2): throughput >= 40% of raw; p99 end-to-end latency < 250 ms at a sustained 500 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
import uuid
from typing import ClassVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.progress import Progress

from bench.common import bench_infra, console, median, percentile, table
from youmin.kit.events import EVENT_TYPES, Event
from youmin.kit.kafka import FETCH_MAX_WAIT_MS, ensure_topics
from youmin.testing import create_messaging_tables

PAYLOAD = "x" * 120
KEYS = 50
WRITERS = 4


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


async def _pace(started: float, i: int, rate: float | None) -> None:
    if rate:
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


# --- processes ---------------------------------------------------------------------------------------

async def raw_producer(bootstrap: str, topic: str, n: int, rate: float | None) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    started_wall, started = time.time(), time.perf_counter()
    futures = []
    for i in range(n):
        await _pace(started, i, rate)
        futures.append(await producer.send(topic, f"{time.time_ns()}|{PAYLOAD}".encode(), key=f"agg-{i % KEYS}".encode()))
    await asyncio.gather(*futures)
    await producer.stop()
    return started_wall


async def raw_consumer(bootstrap: str, topic: str, n: int, ready: mp.Event) -> tuple[float, list[float]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"raw-{topic}", enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
                                fetch_max_wait_ms=FETCH_MAX_WAIT_MS)  # the same fetch settings as Youmin's consumers
    await consumer.start()
    latencies: list[float] = []
    while len(latencies) < n:
        batch = await consumer.getmany(timeout_ms=200)
        if consumer.assignment():
            ready.set()
        now = time.time_ns()
        for records in batch.values():
            latencies += [(now - int(r.value.split(b"|", 1)[0])) / 1e6 for r in records]
        if batch:
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
    done = time.time()
    await consumer.stop()
    return done, latencies


async def outbox_producer(database_url: str, bootstrap: str, topic: str, n: int, rate: float | None) -> float:
    from youmin.kit.db import make_engine, make_sessionmaker, transaction
    from youmin.kit.kafka import make_producer
    from youmin.kit.outbox import publish
    from youmin.kit.relay import OutboxRelay

    Probe = event_type(topic)
    engine = make_engine(database_url, pool_size=4)
    sessions = make_sessionmaker(engine)
    relay = OutboxRelay(service=f"bench-{topic}", database_url=database_url, poll_seconds=0.05, batch_size=1000,
                        producer_factory=lambda: make_producer(bootstrap, idempotence=False, client_id="bench"))
    relay_task = asyncio.create_task(relay.run())
    # As for the raw producer, the clock starts once the producer is connected (the relay connects on taking the lead).
    await asyncio.wait_for(relay.leading.wait(), 60)
    started_wall, started = time.time(), time.perf_counter()
    batch = 10 if rate else 500  # at 500/s: a transaction every 20 ms, as a busy service would write
    starts = iter(range(0, n, batch))

    async def writer() -> None:
        for i in starts:
            await _pace(started, i, rate)
            async with transaction(sessions) as session:
                await publish(session, *(Probe(aggregate_id=f"agg-{j % KEYS}", seq=j, sent_ns=time.time_ns(),
                                               padding=PAYLOAD) for j in range(i, min(n, i + batch))))

    # Flat out, the service is busy: several requests write their transactions at once (as uvicorn serves them),
    # so the relay, not one connection's round trips, is what the throughput measures. Paced, one writer.
    await asyncio.gather(*(writer() for _ in range(1 if rate else WRITERS)))
    while relay.published < n:
        await asyncio.sleep(0.01)
    relay_task.cancel()
    await asyncio.gather(relay_task, return_exceptions=True)
    await engine.dispose()
    return started_wall


async def inbox_consumer(database_url: str, bootstrap: str, topic: str, n: int, ready: mp.Event) -> tuple[float, list[float]]:
    from youmin.kit.consumer import EventConsumer
    from youmin.kit.db import make_engine, make_sessionmaker
    from youmin.kit.kafka import make_consumer, make_producer

    Probe = event_type(topic)
    engine = make_engine(database_url, pool_size=4)
    latencies: list[float] = []

    async def handler(session, event) -> None:
        # The effect measured is the inbox row committed with the offset; the handler only takes the time.
        latencies.append((time.time_ns() - event.get_data()["sent_ns"]) / 1e6)

    consumer = EventConsumer(
        name=f"bench-{topic}", topics=[topic], handlers={Probe.type: handler}, sessions=make_sessionmaker(engine),
        consumer_factory=lambda *t, **k: make_consumer(bootstrap, *t, **k),
        producer_factory=lambda: make_producer(bootstrap, idempotence=False, client_id="bench"),
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.assigned.wait(), 60)
    ready.set()
    await consumer.wait_for(lambda s: s.processed >= n, timeout=900)
    done = time.time()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.dispose()
    return done, latencies


def _child(results: mp.Queue, name: str, fn_name: str, *args: object) -> None:
    # Every process runs on uvloop, the event loop the services run on under uvicorn (uvicorn[standard]).
    import uvloop

    results.put((name, uvloop.run(globals()[fn_name](*args))))


def run_pair(producer: str, consumer: str, producer_args: tuple, consumer_args: tuple) -> tuple[float, list[float]]:
    """Runs a consumer process until it is assigned, then the producer process; returns (events/s, latencies)."""
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    ready = ctx.Event()
    n = producer_args[-2]
    reader = ctx.Process(target=_child, args=(results, "consumer", consumer, *consumer_args, ready))
    reader.start()
    if not ready.wait(90):
        reader.kill()
        raise RuntimeError("the consumer was never assigned its partitions")
    writer = ctx.Process(target=_child, args=(results, "producer", producer, *producer_args))
    writer.start()
    got = dict(results.get(timeout=900) for _ in range(2))
    writer.join(30)
    reader.join(30)
    started = got["producer"]
    done, latencies = got["consumer"]
    return n / (done - started), latencies


PATHS = {"raw": ("raw_producer", "raw_consumer"), "outbox": ("outbox_producer", "inbox_consumer")}


async def main(events: int, rate: float, seconds: float, rounds: int) -> None:
    from youmin.kit.migrate import drop_database, ensure_database

    async with bench_infra(migrate=False) as infra:
        url = infra.database_url("backbone")
        await ensure_database(url)
        await create_messaging_tables(url)
        sustained = int(rate * seconds)

        async def measure(label: str, n: int, r: float | None) -> tuple[float, list[float]]:
            topic = f"bench.{label}.{uuid.uuid4().hex[:6]}"
            await ensure_topics(infra.bootstrap, [topic, f"{topic}.dlq"], partitions=3)
            extra = (url,) if label == "outbox" else ()
            producer, consumer = PATHS[label]
            return await asyncio.to_thread(
                run_pair, producer, consumer, (*extra, infra.bootstrap, topic, n, r), (*extra, infra.bootstrap, topic, n))

        throughput: dict[str, list[float]] = {"raw": [], "outbox": []}
        with Progress(console=console, transient=True) as progress:
            step = progress.add_task("benchmarking", total=2 * rounds + 2)
            # Throughput rounds alternate the two paths, so a slow spell of a shared machine falls on both.
            for _ in range(rounds):
                for label in ("raw", "outbox"):
                    throughput[label].append((await measure(label, events, None))[0])
                    progress.advance(step)
            latencies = {}
            for label in ("raw", "outbox"):
                latencies[label] = (await measure(label, sustained, rate))[1]
                progress.advance(step)
        await drop_database(url)
    ratios = [o / r for r, o in zip(throughput["raw"], throughput["outbox"], strict=True)]
    raw_tp, pipe_tp, ratio = median(throughput["raw"]), median(throughput["outbox"]), median(ratios)
    raw_lat, pipe_lat = latencies["raw"], latencies["outbox"]
    console.print(table(
        f"Event backbone ({events:,} events per throughput round, median of {rounds} alternating rounds; "
        f"{sustained:,} at {rate:.0f}/s for latency)",
        ["path", "events/s", f"p50 ms @{rate:.0f}/s", f"p99 ms @{rate:.0f}/s", "throughput ratio"],
        [
            ["raw aiokafka produce -> consume", raw_tp, percentile(raw_lat, 50), percentile(raw_lat, 99), "1.00"],
            ["outbox -> relay -> broker -> inbox consumer", pipe_tp, percentile(pipe_lat, 50), percentile(pipe_lat, 99),
             f"{ratio:.2f}"],
        ],
    ))
    console.print("rounds (outbox / raw events/s): " + ", ".join(
        f"{o:,.0f} / {r:,.0f} = {o / r:.2f}" for r, o in zip(throughput["raw"], throughput["outbox"], strict=True)))
    console.print(f"targets: throughput ratio >= 0.40 (median {ratio:.2f}, rounds {min(ratios):.2f}-{max(ratios):.2f}); "
                  f"p99 < 250 ms at {rate:.0f}/s (got {percentile(pipe_lat, 99):.1f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds per path (median)")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rate, args.seconds, args.rounds))
