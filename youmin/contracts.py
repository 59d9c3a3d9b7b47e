"""contracts/: JSON Schemas of every event type and the AsyncAPI 3.0 document, generated from the code."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import yaml

from youmin.kit.events import EVENT_TYPES, Event
from youmin.kit.kafka import TOPICS
from youmin.kit.settings import SERVICES

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "contracts"


def load_event_types() -> dict[str, type[Event]]:
    """Imports every service's events module and returns all event types."""
    for service in SERVICES:
        importlib.import_module(f"services.{service}.events")
    return {t: m for t, m in sorted(EVENT_TYPES.items()) if m.__module__.startswith("services.")}


def event_schema(model: type[Event]) -> dict[str, Any]:
    """Returns the JSON Schema of an event's data, with its CloudEvents attributes noted."""
    schema = model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": model.dataschema(),
        "x-cloudevents": {"type": model.type, "source": model.source, "topic": model.topic, "key": model.key_field},
        **schema,
    }


def record_headers(model: type[Event]) -> dict[str, Any]:
    """Returns the schema of the Kafka headers the outbox relay sends with every record of an event type."""
    headers = {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "unique per source; the consumers' inbox deduplicates on it"},
        "ce_source": {"type": "string", "const": model.source},
        "ce_type": {"type": "string", "const": model.type},
        "ce_time": {"type": "string", "format": "date-time", "description": "when the event was written, in UTC"},
        "content-type": {"type": "string", "const": "application/json"},
        "ce_subject": {"type": "string", "description": f"the {model.key_field}, as the record key"},
        "ce_dataschema": {"type": "string", "const": model.dataschema()},
    }
    return {"type": "object", "required": list(headers), "properties": headers}


def asyncapi(types: dict[str, type[Event]]) -> dict[str, Any]:
    """Returns the AsyncAPI 3.0 document of the topics and their messages."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages_by_topic: dict[str, dict[str, Any]] = {t: {} for t in TOPICS}
    components: dict[str, Any] = {}
    for type_, model in types.items():
        name = type_.removeprefix("gov.youmin.").replace(".", "_")
        components[name] = {
            "name": type_,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip(),
            "contentType": "application/json",
            "bindings": {"kafka": {"key": {"type": "string", "description": f"the {model.key_field}"}}},
            "headers": record_headers(model),
            "payload": {"$ref": f"./events/{type_}.json"},
        }
        messages_by_topic[model.topic][name] = {"$ref": f"#/components/messages/{name}"}
    for topic, messages in messages_by_topic.items():
        cid = topic.replace(".", "_")
        channels[cid] = {"address": topic, "messages": messages,
                         "description": f"Events keyed by aggregate id; poison messages go to {topic}.dlq."}
        channels[f"{cid}_dlq"] = {"address": f"{topic}.dlq", "messages": messages,
                                  "description": "Dead letters with dlq_error, dlq_attempts and the original position in headers."}
        operations[f"publish_{cid}"] = {"action": "send", "channel": {"$ref": f"#/channels/{cid}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Youmin events", "version": "1.0.0",
                 "description": "CloudEvents 1.0, Kafka protocol binding, binary content mode. Data carries ids and codes only."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": components},
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated structures out in full instead of as YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render() -> dict[Path, str]:
    """Returns every contract file's path and expected text."""
    types = load_event_types()
    files = {
        CONTRACTS / "events" / f"{t}.json": json.dumps(event_schema(m), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        for t, m in types.items()
    }
    files[CONTRACTS / "asyncapi.yaml"] = yaml.dump(asyncapi(types), Dumper=_PlainDumper, allow_unicode=True, sort_keys=False)
    return files


def write() -> list[Path]:
    """Writes the contract files; removes schemas of event types that no longer exist."""
    files = render()
    (CONTRACTS / "events").mkdir(parents=True, exist_ok=True)
    for stale in (CONTRACTS / "events").glob("*.json"):
        if stale not in files:
            stale.unlink()
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return sorted(files)


def drift() -> list[str]:
    """Returns the contract files that differ from the code (empty when in sync)."""
    files = render()
    problems = [str(p.relative_to(ROOT)) for p, text in files.items()
                if not p.exists() or p.read_text(encoding="utf-8") != text]
    problems += [str(p.relative_to(ROOT)) + " (no such event type)" for p in (CONTRACTS / "events").glob("*.json") if p not in files]
    return problems
