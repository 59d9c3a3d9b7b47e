"""Set-based event publishing: one INSERT ... SELECT writes many events to the outbox.

Used by imports and the demo seed, where writing hundreds of thousands of events one by one through
`youmin.kit.outbox.publish` would dominate the run. The rows are byte-for-byte what `publish` writes
(same topic, key, type, source, subject, dataschema and `data` shape), which a test checks by
validating them against the event models.
"""

from __future__ import annotations

from youmin.kit.events import Event
from youmin.kit.outbox import NOTIFY_CHANNEL


def outbox_insert_sql(event: type[Event], select_sql: str, order_by: str | None = None) -> str:
    """Returns SQL writing one `event` per row of `select_sql`, whose columns are named like its fields.

    `order_by` (over those columns) fixes the outbox order, hence the publishing order.
    """
    names = list(event.model_fields)
    data = "json_build_object(" + ", ".join(f"'{n}', e.{n}" for n in names) + ")"
    key = f"e.{event.key_field}::text"
    order = f" ORDER BY {order_by}" if order_by else ""
    return (
        "INSERT INTO outbox_event (event_id, topic, key, type, source, subject, dataschema, time, data) "
        f"SELECT registry_uuid7(), '{event.topic}', {key}, '{event.type}', '{event.source}', {key}, "
        f"'{event.dataschema()}', clock_timestamp(), {data} FROM ({select_sql}) AS e{order}"
    )


NOTIFY_SQL = f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"
