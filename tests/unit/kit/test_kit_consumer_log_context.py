"""A handler's log lines carry the id and type of the event it handles, in a batch as well as one at a time."""

from __future__ import annotations

from types import SimpleNamespace

import structlog
from structlog.testing import capture_logs

from youmin.kit.consumer import EventConsumer
from youmin.kit.events import read_record


class FakeSession:
    """A session whose inbox claims every event as new."""

    async def __aenter__(self) -> FakeSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def begin(self) -> FakeSession:
        return self

    async def execute(self, statement: object, params: dict) -> object:
        if "event_id" in params:  # one event
            return SimpleNamespace(rowcount=1)
        return list(zip(params["sources"], params["ids"], strict=True))


def record(event_id: str, event_type: str) -> SimpleNamespace:
    headers = [("ce_specversion", b"1.0"), ("ce_id", event_id.encode()), ("ce_source", b"/test"),
               ("ce_type", event_type.encode()), ("content-type", b"application/json")]
    return SimpleNamespace(headers=headers, key=b"k", value=b"{}")


def refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("applying an event needs no broker client")


async def handle(session: object, event: object) -> None:
    structlog.get_logger("test").info("handled")


def make_consumer() -> EventConsumer:
    return EventConsumer(name="test", topics=["t"], handlers={"gov.test.a": handle, "gov.test.b": handle},
                         sessions=FakeSession, consumer_factory=refuse, producer_factory=refuse)


async def test_each_handler_in_a_batch_logs_with_its_own_event_id_and_type_and_nothing_after() -> None:
    consumer = make_consumer()
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        applied = await consumer._apply_batch([record("e-1", "gov.test.a"), record("e-2", "gov.test.b")])
        structlog.get_logger("test").info("after")

    assert applied and consumer.stats.processed == 2
    assert [(e["event"], e.get("event_id"), e.get("event_type")) for e in logs] == [
        ("handled", "e-1", "gov.test.a"), ("handled", "e-2", "gov.test.b"), ("after", None, None)]


async def test_a_handler_applied_alone_logs_with_its_event_id_and_type_and_nothing_after() -> None:
    consumer = make_consumer()
    r = record("e-3", "gov.test.a")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await consumer._apply(read_record(r.headers, r.key, r.value))
        structlog.get_logger("test").info("after")

    assert consumer.stats.processed == 1
    assert [(e["event"], e.get("event_id"), e.get("event_type")) for e in logs] == [
        ("handled", "e-3", "gov.test.a"), ("after", None, None)]
