"""The replica remembers units that moved (old code -> current code), so that a registry event sent before a move
and delivered after it is re-coded on the way in, and one sent after it and delivered first does not collide.

Revision ID: mediation_0007
Revises: mediation_0006
Create Date: 2026-11-28 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "mediation_0007"
down_revision = "mediation_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replica_code_move",
        sa.Column("old_code", sa.Text(), nullable=False),
        sa.Column("new_code", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("old_code", name=op.f("pk_replica_code_move")),
    )


def downgrade() -> None:
    op.drop_table("replica_code_move")
