"""A case's warnings are unique per stay at a level, not per level: a case mediated again at its level after the court
refused its agreement gets warnings again (the sweep failed on the second yellow and stopped its whole batch).

Revision ID: mediation_0008
Revises: mediation_0007
Create Date: 2026-11-28 23:00:00
"""

from alembic import op

revision = "mediation_0008"
down_revision = "mediation_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("uq_case_warning_case_id", "case_warning", type_="unique")
    op.create_unique_constraint("uq_case_warning_case_id", "case_warning", ["case_id", "level", "warning", "deadline_at"])


def downgrade() -> None:
    op.drop_constraint("uq_case_warning_case_id", "case_warning", type_="unique")
    op.create_unique_constraint("uq_case_warning_case_id", "case_warning", ["case_id", "level", "warning"])
