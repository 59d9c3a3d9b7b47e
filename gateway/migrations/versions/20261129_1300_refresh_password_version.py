"""A log-in keeps when the password it was made under was set: a refresh ends it once the password has changed.

Revision ID: gateway_0004
Revises: gateway_0003
Create Date: 2026-11-29 13:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0004"
down_revision = "gateway_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty for the log-ins made before (and for those of a person without a password): those are ended by a password
    # set after the log-in began, as before.
    op.add_column("refresh_token", sa.Column("password_set_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("refresh_token", "password_set_at")
