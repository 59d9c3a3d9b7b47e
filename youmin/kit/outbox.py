"""The transactional outbox and the consumer inbox: tables and the write side."""

from __future__ import annotations

import os
import re
import time

import asyncpg
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import UserDefinedType

from youmin.kit.errors import NUL_REASON, RuleViolation
from youmin.kit.events import Event

NOTIFY_CHANNEL = "youmin_outbox"


class Xid8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id type."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "xid8"


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declares the outbox and inbox tables on a service's metadata."""
    outbox = Table(
        "outbox_event",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        # Version 7 UUIDs with 74 random bits (new_event_ids): unique without an index, which would cost every insert
        # and every update.
        Column("event_id", UUID(as_uuid=False), nullable=False),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("type", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("subject", Text),
        Column("dataschema", Text),
        Column("time", DateTime(timezone=True), nullable=False),
        # json, not jsonb: the text pydantic wrote is kept and sent as it is, where jsonb would parse it on every
        # insert and print it again for the relay.
        Column("data", JSON, nullable=False),
        # The writing transaction's id: the relay only publishes rows below the xmin horizon.
        Column("txid", Xid8, nullable=False, server_default=text("pg_current_xact_id()")),
        Column("sent_at", DateTime(timezone=True)),
        Index("ix_outbox_event_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    )
    return outbox, inbox_table(metadata)


def inbox_table(metadata: MetaData) -> Table:
    """Declares the consumer inbox table alone, for a database that consumes events but publishes none."""
    return Table(
        "inbox_event",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("type", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "source", "event_id", name="pk_inbox_event"),
    )


# One statement, one round trip, whatever the number of events: the rows come in as arrays, and the
# NOTIFY (transactional: the relay wakes only once this commits) rides along in the same statement.
_INSERT_PARAMS = ("event_ids", "topics", "keys", "types", "sources", "dataschemas", "datas", "channel")


def outbox_ctes(first: int, *, when: str = "true") -> str:
    """The outbox's insert as two CTEs for a statement of the caller's own, its parameters numbered from `first` in
    the order of outbox_args: `outboxed` writes the rows, `outbox_notified` wakes the relay. The statement must read
    the latter (see OUTBOX_NOTIFIED): PostgreSQL runs an unreferenced CTE only if it writes. `when` (SQL) is the
    condition under which the events are written: that of the statement's own writes, if it has one.

    An event's time is the database's clock as the row is written, not the writing process's: the replicas keep the
    newer of two changes by it, and the later of two writes to one row (the second waits for the first's lock) is then
    the later in time, however the clocks of the service's replicas differ."""
    p = {name: f"${n}" for n, name in enumerate(_INSERT_PARAMS, start=first)}
    return f"""outboxed AS (
        INSERT INTO outbox_event (event_id, topic, key, type, source, subject, dataschema, time, data)
        SELECT u.event_id, u.topic, u.key, u.type, u.source, u.key, u.dataschema, clock_timestamp(), u.data
        FROM unnest(CAST({p['event_ids']} AS uuid[]), CAST({p['topics']} AS text[]), CAST({p['keys']} AS text[]),
                    CAST({p['types']} AS text[]), CAST({p['sources']} AS text[]), CAST({p['dataschemas']} AS text[]),
                    CAST({p['datas']} AS json[]))
             AS u(event_id, topic, key, type, source, dataschema, data)
        WHERE {when}
        RETURNING 1
    ), outbox_notified AS (
        SELECT pg_notify({p['channel']}, '') FROM (SELECT 1 FROM outboxed LIMIT 1) AS any_row
    )"""


# The expression a statement holding outbox_ctes reads, so that its NOTIFY is sent.
OUTBOX_NOTIFIED = "(SELECT count(*) FROM outbox_notified)"

_INSERT_SQL = f"WITH {outbox_ctes(1)} SELECT {OUTBOX_NOTIFIED}"
# The same statement with named parameters, for a SQLAlchemy session.
_INSERT = text(re.sub(r"\$(\d+)", lambda m: ":" + _INSERT_PARAMS[int(m.group(1)) - 1], _INSERT_SQL))


def new_event_ids(n: int) -> list[str]:
    """Returns n version 7 UUIDs as text: the Unix time in milliseconds, then 74 random bits from one read of the
    OS's random source.

    Time-ordered ids land at the growing end of the consumers' inbox index instead of at random places in it, so a
    large inbox costs no more to insert into than a small one.
    """
    ms = f"{time.time_ns() // 1_000_000:012x}"
    stamp = f"{ms[:8]}-{ms[8:]}-7"
    h = os.urandom(10 * n).hex()
    return [f"{stamp}{h[i:i + 3]}-{_VARIANT[h[i + 3]]}{h[i + 4:i + 7]}-{h[i + 7:i + 19]}" for i in range(0, 20 * n, 20)]


_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}  # the RFC 4122 variant bits, 10xx


# Events carry ids and facts: far below this. The relay packs records into batches of at most 256 KiB (and Kafka's
# default record limit is 1 MiB): an event's data, in UTF-8 bytes, leaves room for its headers.
MAX_EVENT_DATA_BYTES = 192 * 1024


def outbox_args(*events: Event) -> tuple[list[str], list[object]]:
    """The events' CloudEvents ids, in order, and the parameters of outbox_ctes that write them: for a statement that
    writes events beside its own rows in one round trip. Each event's subject is its key,
    and its data is serialised by pydantic straight to JSON text."""
    ids = new_event_ids(len(events))
    datas = [e.model_dump_json() for e in events]
    # A character is at most 4 bytes in UTF-8: only data that long is measured in bytes.
    if any(len(data) > MAX_EVENT_DATA_BYTES // 4 and len(data.encode()) > MAX_EVENT_DATA_BYTES for data in datas):
        # The relay could never send the record (too large for a record batch, or for the broker), and every event
        # after it in the outbox would wait behind it: refused here, in the writer's transaction, nothing is written.
        raise RuleViolation("event.too_large", f"input: the change is too large to publish (over "
                            f"{MAX_EVENT_DATA_BYTES // 1024} KiB of event data); split it", field="input")
    if any("\\u0000" in data for data in datas):
        # The json column would take it (jsonb did not), and every consumer writing it to a text column would fail.
        raise RuleViolation("event.nul_character", f"input: {NUL_REASON}", field="input")
    params = {
        "event_ids": ids,
        "topics": [e.topic for e in events],
        "keys": [e.key() for e in events],
        "types": [e.type for e in events],
        "sources": [e.source for e in events],
        "dataschemas": [e.dataschema() for e in events],
        "datas": datas,
        "channel": NOTIFY_CHANNEL,
    }
    return ids, [params[name] for name in _INSERT_PARAMS]


async def publish(session: AsyncSession | asyncpg.Connection, *events: Event) -> list[str]:
    """Writes events to the outbox in the caller's transaction (the relay sends them after commit); returns their
    CloudEvents ids, in order. `session` may be the transaction's asyncpg connection (youmin.kit.db.driver_connection).
    See outbox_args for what is written.
    """
    if not events:
        return []
    ids, args = outbox_args(*events)
    if isinstance(session, asyncpg.Connection):
        await session.execute(_INSERT_SQL, *args)
    else:
        await session.execute(_INSERT, dict(zip(_INSERT_PARAMS, args, strict=True)))
    return ids
