"""A community's newest matters are read in index order: (community_code, created_at).

The duplicate suggestion looks at a community's newest live matters on every creation. As a prepared
statement its plan is generic, and without this index that plan sorted all of the community's matters each
time (13 ms per creation with 12,000 matters in one community).

Revision ID: matters_0007
Revises: matters_0006
Create Date: 2026-11-28 17:00:00
"""

from alembic import op

revision = "matters_0007"
down_revision = "matters_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_matter_community_code_created_at", "matter", ["community_code", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_matter_community_code_created_at", table_name="matter")
