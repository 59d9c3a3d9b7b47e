"""A matter's public record keeps when each of its parts last changed, by the time of the event that changed it: an
event sent again from the dead-letter topic, behind the matter's later events, no longer takes the board back.

Revision ID: disclosure_0011
Revises: disclosure_0010
Create Date: 2026-11-29 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "disclosure_0011"
down_revision = "disclosure_0010"
branch_labels = None
depends_on = None

COLUMNS = ("stage_at", "place_at", "flags_at", "decision_at", "evaluation_at")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("public_matter", sa.Column(name, sa.DateTime(timezone=True)))


def downgrade() -> None:
    for name in COLUMNS:
        op.drop_column("public_matter", name)
