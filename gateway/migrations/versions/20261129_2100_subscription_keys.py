"""A webhook subscription keeps the API key that made it (followed through rotations), and why it was disabled: a
revoked key stops the subscriptions it made, and district staff can hold one that the department cannot re-enable.

Revision ID: gateway_0005
Revises: gateway_0004
Create Date: 2026-11-29 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0005"
down_revision = "gateway_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty for the subscriptions made before: those stop when their department has no live key left.
    op.add_column("webhook_subscription", sa.Column("key_id", sa.String(16)))
    op.create_index("ix_webhook_subscription_key_id", "webhook_subscription", ["key_id"])
    # failures | key_revoked | district; the subscriptions disabled before were disabled after failures.
    op.add_column("webhook_subscription", sa.Column("disabled_by", sa.String(16)))
    op.execute("UPDATE webhook_subscription SET disabled_by = 'failures' WHERE disabled_at IS NOT NULL")


def downgrade() -> None:
    op.drop_column("webhook_subscription", "disabled_by")
    op.drop_index("ix_webhook_subscription_key_id", "webhook_subscription")
    op.drop_column("webhook_subscription", "key_id")
