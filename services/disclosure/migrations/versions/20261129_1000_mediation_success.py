"""Where each case's mediation success was counted: a case counts once (a new agreement after the court refused to
confirm the first counted it twice), and a refused confirmation takes the count back.

Revision ID: disclosure_0008
Revises: disclosure_0007
Create Date: 2026-11-29 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "disclosure_0008"
down_revision = "disclosure_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mediation_success",
        sa.Column("case_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("unit_code", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("dispute_type", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_mediation_success")),
    )
    op.create_index(op.f("ix_mediation_success_unit_code"), "mediation_success", ["unit_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mediation_success_unit_code"), table_name="mediation_success")
    op.drop_table("mediation_success")
