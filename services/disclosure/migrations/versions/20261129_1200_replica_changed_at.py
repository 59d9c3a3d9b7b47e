"""Replica rows of residents, households and department assignments keep the time of the event that wrote them: an
older event arriving later (sent back from a dead-letter topic, or keyed to another partition after its unit moved)
no longer overwrites a newer one.

Revision ID: disclosure_0009
Revises: disclosure_0008
Create Date: 2026-11-29 12:00:00
"""

from youmin.kit.migrate import replica_changed_at

revision = "disclosure_0009"
down_revision = "disclosure_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    replica_changed_at()


def downgrade() -> None:
    replica_changed_at(downgrade=True)
