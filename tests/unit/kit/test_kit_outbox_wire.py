"""The outbox's event ids and the relay's partition choice, which must match what the producer would do."""

from __future__ import annotations

import uuid
from typing import ClassVar

import pytest
from aiokafka.partitioner import DefaultPartitioner

from youmin.kit.errors import RuleViolation
from youmin.kit.events import EVENT_TYPES, Event
from youmin.kit.outbox import new_event_ids, publish
from youmin.kit.relay import _partition_index


def test_event_ids_are_distinct_version_4_uuids_in_canonical_text() -> None:
    ids = new_event_ids(5000)
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_no_event_ids_for_no_events() -> None:
    assert new_event_ids(0) == []


def test_relay_partition_is_the_default_partitioners_for_every_key_and_count() -> None:
    partitioner = DefaultPartitioner()
    keys = [f"agg-{n}".encode() for n in range(300)] + ["社区-370705".encode(), b"", uuid.uuid4().bytes]
    for count in (1, 2, 3, 7, 12):
        partitions = list(range(count))
        for key in keys:
            assert partitions[_partition_index(key, count)] == partitioner(key, partitions, partitions)


class Probe(Event):
    type: ClassVar[str] = "gov.youmin.test.probe.noted.v1"
    source: ClassVar[str] = "/youmin/test"
    topic: ClassVar[str] = "test.probes"
    key_field: ClassVar[str] = "probe_id"
    probe_id: str
    note: str


EVENT_TYPES.pop(Probe.type, None)  # a test's type, not one of the system's contracts


class NoDatabase:
    async def execute(self, *args: object) -> None:
        raise AssertionError("nothing may be written")


async def test_an_event_holding_a_nul_character_is_refused_before_anything_is_written() -> None:
    with pytest.raises(RuleViolation) as refused:
        await publish(NoDatabase(), Probe(probe_id="p-1", note="ok"), Probe(probe_id="p-2", note="bad\x00note"))
    assert refused.value.status == 422 and refused.value.extra["field"] == "input"
