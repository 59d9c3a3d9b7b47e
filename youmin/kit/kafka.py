"""Kafka clients configured the one way Youmin uses them."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

#: Topics by aggregate (DESIGN.md section 3); each has a `.dlq` companion.
TOPICS = ("registry.units", "registry.people", "matters.matters", "mediation.cases", "disclosure.items")


# Topics whose records are kept for good rather than for the broker's retention: the registry's, from which every
# service's replica of the tree is built (a service started, or a replica rebuilt, after the retention would miss the
# units and roles older than it), and the dead-letter topics (a dead letter waits for an operator, however long).
KEPT_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}


def topic_configs(topic: str) -> dict[str, str]:
    """The settings a topic is created with."""
    return dict(KEPT_FOREVER) if topic.startswith("registry.") or topic.endswith(".dlq") else {}


def all_topics() -> list[str]:
    """Returns every topic including the dead-letter topics."""
    return [t for topic in TOPICS for t in (topic, f"{topic}.dlq")]


FETCH_MAX_WAIT_MS = 100


def make_producer(bootstrap: str, *, idempotence: bool, client_id: str, request_timeout_ms: int = 15000) -> AIOKafkaProducer:
    """Creates a producer that waits for all in-sync replicas (acks=all)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=idempotence,
        linger_ms=2,
        request_timeout_ms=request_timeout_ms,
        max_batch_size=256 * 1024,
    )


def make_consumer(bootstrap: str, *topics: str, group_id: str, client_id: str) -> AIOKafkaConsumer:
    """Creates a consumer with auto-commit off; offsets are committed after the database commit."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        metadata_max_age_ms=5000,
        # A caught-up consumer's fetch waits at most this long for new records; the local broker does not
        # answer early when records arrive, so this bounds the end-to-end latency.
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )


async def ensure_topics(bootstrap: str, topics: list[str] | None = None, *, partitions: int = 3, timeout: float = 30) -> None:
    """Creates the topics that do not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in (topics or all_topics()) if t not in existing]
        if missing:
            try:
                await admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1,
                                                    topic_configs=topic_configs(t)) for t in missing])
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
