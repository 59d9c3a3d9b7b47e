"""Outbox event ids without a unique index: random UUIDs, so it guarded nothing and cost every insert and update.

Revision ID: matters_0005
Revises: matters_0004
Create Date: 2026-11-28 15:00:00
"""

from youmin.kit.migrate import drop_outbox_event_id_unique

revision = "matters_0005"
down_revision = "matters_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_outbox_event_id_unique()


def downgrade() -> None:
    drop_outbox_event_id_unique(downgrade=True)
