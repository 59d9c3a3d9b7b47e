"""Replica rows of residents, households and department assignments keep the time of the event that wrote them: an
older event arriving later (sent back from a dead-letter topic, or keyed to another partition after its unit moved)
no longer overwrites a newer one.

Revision ID: matters_0014
Revises: matters_0013
Create Date: 2026-11-29 12:00:00
"""

from youmin.kit.migrate import replica_changed_at

revision = "matters_0014"
down_revision = "matters_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    replica_changed_at()


def downgrade() -> None:
    replica_changed_at(downgrade=True)
