"""CloudEvents 1.0 in Kafka binary content mode: the event models and the record codec."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from pydantic import BaseModel, ConfigDict

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PREFIX = "gov.youmin."

#: Every event type the system publishes, by its CloudEvents type.
EVENT_TYPES: dict[str, type[Event]] = {}

#: Field names that would carry personal information; no event may declare one.
PERSONAL_FIELD_NAMES = frozenset(
    {"name", "full_name", "person_name", "phone", "mobile", "id_number", "address", "birth_date", "email"}
)


class Event(BaseModel):
    """Base of every published event: `data` is the model, attributes are class-level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ClassVar[str]
    topic: ClassVar[str]
    source: ClassVar[str]
    key_field: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            if not cls.type.startswith(TYPE_PREFIX) or not cls.type.rsplit(".", 1)[-1].startswith("v"):
                raise TypeError(f"event type {cls.type!r} must be gov.youmin.<service>.<aggregate>.<verb>.vN")
            EVENT_TYPES[cls.type] = cls

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        leaked = PERSONAL_FIELD_NAMES & set(cls.model_fields)
        if leaked:
            raise TypeError(f"{cls.__name__} declares personal fields {sorted(leaked)}; events carry ids only")

    def key(self) -> str:
        """Returns the aggregate id that keys the Kafka record."""
        return str(getattr(self, self.key_field))

    @classmethod
    def dataschema(cls) -> str:
        """Returns the URI of this type's JSON Schema in contracts/."""
        return f"urn:youmin:contracts:events:{cls.type}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event ready for the wire: attributes, key and JSON data."""

    id: str
    source: str
    type: str
    topic: str
    key: str
    time: datetime
    subject: str | None
    dataschema: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event, *, subject: str | None = None) -> Envelope:
        """Wraps an event model with a fresh id and the current time."""
        key = event.key()
        return cls(
            id=str(uuid.uuid4()),
            source=event.source,
            type=event.type,
            topic=event.topic,
            key=key,
            time=datetime.now(UTC),
            subject=subject if subject is not None else key,
            dataschema=event.dataschema(),
            data=event.model_dump(mode="json"),
        )

    def headers(self) -> list[tuple[str, bytes]]:
        """Returns the Kafka headers of binary content mode."""
        h = [
            ("ce_specversion", SPECVERSION.encode()),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", self.time.isoformat().replace("+00:00", "Z").encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]
        if self.subject:
            h.append(("ce_subject", self.subject.encode()))
        if self.dataschema:
            h.append(("ce_dataschema", self.dataschema.encode()))
        return h

    def value(self) -> bytes:
        """Returns the record value: the JSON data."""
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":")).encode()


def decode_record(headers: list[tuple[str, bytes]] | tuple, key: bytes | None, value: bytes | None) -> BaseCloudEvent:
    """Parses a Kafka record with the official CloudEvents SDK (binary content mode)."""
    message = KafkaMessage(headers={k: v for k, v in headers if v is not None}, key=key, value=value or b"")
    return from_binary_event(message)


class MalformedEvent(ValueError):
    """A record that is not a CloudEvent in binary content mode with JSON data."""


class ReceivedEvent:
    """A CloudEvent read from a record: the accessors of the SDK's events, without its per-event cost.

    The consumers' hot path uses this; tests prove every event also parses with the official SDK
    (`decode_record`).
    """

    __slots__ = ("_attributes", "_data")

    def __init__(self, attributes: dict[str, Any], data: Any) -> None:
        self._attributes = attributes
        self._data = data

    def get_id(self) -> str:
        return self._attributes["id"]

    def get_source(self) -> str:
        return self._attributes["source"]

    def get_type(self) -> str:
        return self._attributes["type"]

    def get_specversion(self) -> str:
        return self._attributes["specversion"]

    def get_subject(self) -> str | None:
        return self._attributes.get("subject")

    def get_dataschema(self) -> str | None:
        return self._attributes.get("dataschema")

    def get_datacontenttype(self) -> str | None:
        return self._attributes.get("datacontenttype")

    def get_time(self) -> datetime | None:
        raw = self._attributes.get("time")
        return datetime.fromisoformat(raw) if raw else None

    def get_extension(self, name: str) -> Any:
        return self._attributes.get(name)

    def get_attributes(self) -> dict[str, Any]:
        return dict(self._attributes)

    def get_data(self) -> Any:
        return self._data


_REQUIRED = ("id", "source", "type", "specversion")
# The header names Youmin's relay writes, looked up as they are; any other spelling is lower-cased first.
_HEADER_ATTRIBUTES = {
    "ce_specversion": "specversion", "ce_id": "id", "ce_source": "source", "ce_type": "type", "ce_time": "time",
    "ce_subject": "subject", "ce_dataschema": "dataschema", "content-type": "datacontenttype",
}


def _attribute_of(name: str) -> str | None:
    lowered = name.lower()
    if lowered.startswith("ce_"):
        return lowered[3:]
    return "datacontenttype" if lowered == "content-type" else None


def read_record(headers: list[tuple[str, bytes]] | tuple, key: bytes | None, value: bytes | None) -> ReceivedEvent:
    """Reads a binary-mode CloudEvents record; raises MalformedEvent for anything else."""
    attributes: dict[str, Any] = {}
    known = _HEADER_ATTRIBUTES.get
    for name, raw in headers:
        attribute = known(name)
        if attribute is None:
            attribute = _attribute_of(name)
            if attribute is None:
                continue
        if raw is not None:
            attributes[attribute] = raw.decode()
    if not (attributes.get("id") and attributes.get("source") and attributes.get("type") and attributes.get("specversion")):
        missing = [a for a in _REQUIRED if not attributes.get(a)]
        raise MalformedEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
    if attributes["specversion"] != SPECVERSION:
        raise MalformedEvent(f"unsupported specversion {attributes['specversion']}")
    content_type = attributes.get("datacontenttype", CONTENT_TYPE)
    if not content_type.startswith(CONTENT_TYPE):
        raise MalformedEvent(f"unsupported content type {content_type}")
    try:
        # JSON travels as UTF-8 (RFC 8259); decoding first spares json.loads guessing the encoding.
        data = json.loads(value.decode()) if value else None
    except ValueError as exc:
        raise MalformedEvent(f"data is not JSON: {exc}") from exc
    if key is not None:
        attributes["partitionkey"] = key.decode("utf-8")
    return ReceivedEvent(attributes, data)


def validate_data(event_type: str, data: dict[str, Any]) -> Event:
    """Validates received data against the event's model; raises for an unknown type or bad data."""
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise KeyError(f"unknown event type {event_type}")
    return model.model_validate(data)
