"""contracts/ matches the code, and every event type survives the broker and the official CloudEvents SDK, with the
headers the AsyncAPI document describes."""

from __future__ import annotations

import asyncio
import json
import uuid

import jsonschema
import yaml
from aiokafka import AIOKafkaConsumer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from youmin.contracts import CONTRACTS, drift, load_event_types
from youmin.kit.db import make_engine, make_sessionmaker, transaction
from youmin.kit.events import PERSONAL_FIELD_NAMES
from youmin.kit.kafka import TOPICS, make_producer
from youmin.kit.outbox import publish
from youmin.kit.relay import OutboxRelay
from youmin.testing import eventually


def sample(schema: dict, defs: dict) -> object:
    """Builds a valid instance of a JSON Schema (the subset pydantic emits)."""
    if "$ref" in schema:
        return sample(defs[schema["$ref"].split("/")[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample(options[0], defs)
    kind = schema.get("type")
    if kind == "string":
        fmt = schema.get("format")
        return {"uuid": str(uuid.uuid4()), "date-time": "2026-11-28T08:00:00Z", "date": "2026-11-28"}.get(fmt, "370705001001")
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(schema.get("items", {"type": "string"}), defs)]
    if kind == "object" or "properties" in schema:
        return {name: sample(prop, defs) for name, prop in schema.get("properties", {}).items()}
    return "x"


def test_contract_files_match_the_event_models():
    assert drift() == [], "run `youmin contracts write` and commit contracts/"


def test_asyncapi_document_is_version_3_and_covers_every_topic_and_type():
    doc = yaml.safe_load((CONTRACTS / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert set(TOPICS) | {f"{t}.dlq" for t in TOPICS} <= addresses
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert names == set(load_event_types())
    for message in doc["components"]["messages"].values():
        assert (CONTRACTS / message["payload"]["$ref"].removeprefix("./")).exists()


def test_no_event_schema_declares_a_personal_field():
    def fields(node: object) -> set[str]:
        if isinstance(node, dict):
            own = set(node.get("properties", {}))
            return own | {f for v in node.values() for f in fields(v)}
        if isinstance(node, list):
            return {f for v in node for f in fields(v)}
        return set()

    for path in (CONTRACTS / "events").glob("*.json"):
        leaked = fields(json.loads(path.read_text(encoding="utf-8"))) & PERSONAL_FIELD_NAMES
        assert not leaked, f"{path.name} declares {leaked}"


async def test_every_event_type_is_read_back_from_the_broker_by_the_cloudevents_sdk(infra):
    types = load_event_types()
    by_service: dict[str, list] = {}
    for type_, model in types.items():
        schema = json.loads((CONTRACTS / "events" / f"{type_}.json").read_text(encoding="utf-8"))
        event = model.model_validate(sample(schema, schema.get("$defs", {})))
        by_service.setdefault(type_.split(".")[2], []).append(event)

    expected: dict[str, str] = {}
    relays = []
    for service, events in by_service.items():
        engine = make_engine(infra.database_url(service))
        async with transaction(make_sessionmaker(engine)) as session:
            for event, event_id in zip(events, await publish(session, *events), strict=True):
                expected[event_id] = event.type
        await engine.dispose()
        relay = OutboxRelay(service=f"contracts-{service}", database_url=infra.database_url(service), poll_seconds=0.1,
                            producer_factory=lambda: make_producer(infra.bootstrap, idempotence=False, client_id="contracts"))
        relays.append(asyncio.create_task(relay.run()))

    consumer = AIOKafkaConsumer(*TOPICS, bootstrap_servers=infra.bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    parsed = {}
    try:
        async def all_seen() -> bool:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for r in records:
                    event = from_binary_event(KafkaMessage(headers=dict(r.headers), key=r.key, value=r.value))
                    if event.get_id() in expected:
                        parsed[event.get_id()] = (event, r.topic, r.headers)
            return set(parsed) >= set(expected)

        await eventually(all_seen, timeout=60)
    finally:
        await consumer.stop()
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    messages = yaml.safe_load((CONTRACTS / "asyncapi.yaml").read_text(encoding="utf-8"))["components"]["messages"]
    headers_of = {m["name"]: m["headers"] for m in messages.values()}
    for event_id, (event, topic, headers) in parsed.items():
        type_ = expected[event_id]
        model = types[type_]
        assert event.get_type() == type_ and event.get_specversion() == "1.0"
        assert event.get_source() == model.source and topic == model.topic
        assert event.get_datacontenttype() == "application/json"
        assert event.get_dataschema() == model.dataschema()
        schema = json.loads((CONTRACTS / "events" / f"{type_}.json").read_text(encoding="utf-8"))
        jsonschema.validate(event.get_data(), schema)
        assert event.get_extension("partitionkey") == str(event.get_data()[model.key_field])
        # Every header sent is listed in the AsyncAPI document, and every one it requires is sent.
        sent = {name: value.decode() for name, value in headers}
        assert len(sent) == len(headers) and set(sent) == set(headers_of[type_]["properties"])
        jsonschema.validate(sent, headers_of[type_], format_checker=jsonschema.FormatChecker())
