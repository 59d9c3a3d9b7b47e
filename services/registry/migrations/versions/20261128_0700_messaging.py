"""Outbox and inbox tables of the registry service.

Revision ID: registry_0001
Revises:
Create Date: 2026-11-28 07:00:00
"""

from alembic import op

from youmin.kit.migrate import create_messaging_tables

revision = "registry_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()


def downgrade() -> None:
    op.drop_table("inbox_event")
    op.drop_table("outbox_event")
