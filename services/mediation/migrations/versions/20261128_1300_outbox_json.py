"""Outbox event data as json: kept and sent as written, not parsed into jsonb and printed again.

Revision ID: mediation_0004
Revises: mediation_0003
Create Date: 2026-11-28 13:00:00
"""

from youmin.kit.migrate import outbox_data_as_json

revision = "mediation_0004"
down_revision = "mediation_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_data_as_json()


def downgrade() -> None:
    outbox_data_as_json(downgrade=True)
