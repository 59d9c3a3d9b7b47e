"""Outbox event data as json: kept and sent as written, not parsed into jsonb and printed again.

Revision ID: registry_0005
Revises: registry_0004
Create Date: 2026-11-28 13:00:00
"""

from youmin.kit.migrate import outbox_data_as_json

revision = "registry_0005"
down_revision = "registry_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_data_as_json()


def downgrade() -> None:
    outbox_data_as_json(downgrade=True)
