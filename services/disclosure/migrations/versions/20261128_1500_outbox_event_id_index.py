"""Outbox event ids without a unique index: random UUIDs, so it guarded nothing and cost every insert and update.

Revision ID: disclosure_0004
Revises: disclosure_0003
Create Date: 2026-11-28 15:00:00
"""

from youmin.kit.migrate import drop_outbox_event_id_unique

revision = "disclosure_0004"
down_revision = "disclosure_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_outbox_event_id_unique()


def downgrade() -> None:
    drop_outbox_event_id_unique(downgrade=True)
