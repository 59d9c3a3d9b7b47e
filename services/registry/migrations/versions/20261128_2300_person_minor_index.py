"""The people not yet published as adults, indexed: the hourly coming-of-age job reads them, not every person.

Revision ID: registry_0009
Revises: registry_0008
Create Date: 2026-11-28 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "registry_0009"
down_revision = "registry_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_person_minor", "person", ["person_id"], unique=False, postgresql_where=sa.text("NOT adult"))


def downgrade() -> None:
    op.drop_index("ix_person_minor", table_name="person")
