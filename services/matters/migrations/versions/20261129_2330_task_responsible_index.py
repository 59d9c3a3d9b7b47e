"""An index of implementation tasks by their responsible body, newest first: a department's list of its tasks.

Revision ID: matters_0019
Revises: matters_0018
Create Date: 2026-11-29 23:30:00
"""

from alembic import op

revision = "matters_0019"
down_revision = "matters_0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_implementation_task_responsible", "implementation_task",
                    ["responsible_kind", "responsible_code", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_implementation_task_responsible", table_name="implementation_task")
