"""Tables of the matters service."""

from youmin.kit.db import make_base
from youmin.kit.outbox import messaging_tables

Base = make_base()
outbox_event, inbox_event = messaging_tables(Base.metadata)
