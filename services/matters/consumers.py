"""Event entry points of the matters service: the registry replica it votes and dispatches from."""

from youmin.kit.replica import replica_consumer
from youmin.kit.service import ConsumerSpec

REPLICA_CONSUMER = "matters-replica"


def consumers() -> list[ConsumerSpec]:
    """The consumers the matters service runs."""
    return [replica_consumer(REPLICA_CONSUMER)]
