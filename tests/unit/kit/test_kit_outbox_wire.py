"""The outbox's event ids and the relay's partition choice, which must match what the producer would do."""

from __future__ import annotations

import time
import uuid
from typing import ClassVar

import pytest
from aiokafka.partitioner import DefaultPartitioner

from youmin.kit.errors import RuleViolation
from youmin.kit.events import EVENT_TYPES, Event, MalformedEvent, read_record
from youmin.kit.outbox import new_event_ids, publish
from youmin.kit.relay import _partition_index


def test_event_ids_are_distinct_version_7_uuids_in_canonical_text_stamped_with_the_time() -> None:
    before = time.time_ns() // 1_000_000
    ids = new_event_ids(5000)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after


def test_event_ids_of_later_calls_sort_after_earlier_ones() -> None:
    first = new_event_ids(100)
    time.sleep(0.002)
    later = new_event_ids(100)
    assert max(first) < min(later)


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


_HEADERS = [("ce_specversion", b"1.0"), ("ce_id", b"e-1"), ("ce_source", b"/youmin/matters"),
            ("ce_type", b"gov.youmin.matters.matter.raised.v1"), ("ce_time", b"2026-11-28T10:00:00.5Z"),
            ("content-type", b"application/json"), ("ce_subject", b"m-1"), ("traceparent", b"00-ab-cd-01")]


def test_a_binary_mode_record_reads_back_as_its_attributes_and_data() -> None:
    event = read_record(_HEADERS, b"m-1", '{"matter_id": "m-1", "title": "路灯"}'.encode())
    assert (event.get_id(), event.get_source(), event.get_type(), event.get_subject()) == (
        "e-1", "/youmin/matters", "gov.youmin.matters.matter.raised.v1", "m-1")
    assert event.get_data() == {"matter_id": "m-1", "title": "路灯"}
    assert event.get_extension("partitionkey") == "m-1"
    assert "traceparent" not in event.get_attributes()  # a header that is no CloudEvents attribute is left out


@pytest.mark.parametrize(("headers", "value", "reason"), [
    ([h for h in _HEADERS if h[0] != "ce_id"], b"{}", "missing CloudEvents attributes: id"),
    ([("ce_specversion", b"0.3"), *_HEADERS[1:]], b"{}", "unsupported specversion 0.3"),
    ([*_HEADERS[:5], ("content-type", b"text/plain")], b"{}", "unsupported content type text/plain"),
    (_HEADERS, b"{not json", "data is not JSON"),
    (_HEADERS, b'{"title": "\xff\xfe"}', "data is not JSON"),  # not UTF-8
])
def test_a_record_that_is_no_event_of_ours_is_refused_with_the_reason(headers, value, reason) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        read_record(headers, b"m-1", value)
