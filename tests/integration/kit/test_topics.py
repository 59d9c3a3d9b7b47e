"""The topics as the stack creates them: the registry's and the dead letters are kept for good."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from youmin.kit.kafka import all_topics, ensure_topics


async def test_the_registry_topics_and_every_dead_letter_topic_keep_their_records_for_good(infra):
    await ensure_topics(infra.bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in all_topics()])
    finally:
        await admin.close()
    retention = {resource[3]: {entry[0]: entry[1] for entry in resource[4]}.get("retention.ms")
                 for response in described for resource in response.resources}
    kept = {t for t, ms in retention.items() if ms == "-1"}
    assert kept == {t for t in all_topics() if t.startswith("registry.") or t.endswith(".dlq")}
    assert "matters.matters" in retention and "matters.matters" not in kept
