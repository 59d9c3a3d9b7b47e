"""When the meeting of an offline tally was held: it must fall inside the vote's window, whenever it is entered.

Revision ID: matters_0009
Revises: matters_0008
Create Date: 2026-11-28 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "matters_0009"
down_revision = "matters_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("offline_tally", sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE offline_tally SET held_at = entered_at")
    op.alter_column("offline_tally", "held_at", nullable=False)


def downgrade() -> None:
    op.drop_column("offline_tally", "held_at")
