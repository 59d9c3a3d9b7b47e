"""Refresh tokens no longer keep the grants of the log-in: a refresh reads the person's grants from the registry.

Revision ID: gateway_0003
Revises: gateway_0002
Create Date: 2026-11-28 12:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "gateway_0003"
down_revision = "gateway_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("refresh_token", "grants")


def downgrade() -> None:
    op.add_column("refresh_token", sa.Column("grants", postgresql.JSONB(), nullable=False,
                                             server_default=sa.text("'[]'::jsonb")))
