"""The live units by level and code, indexed apart: counting the households under a street (the households page's
total) reads the index alone, not every household's row for its retirement date.

Revision ID: registry_0011
Revises: registry_0010
Create Date: 2026-11-29 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "registry_0011"
down_revision = "registry_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_org_unit_live_level_code", "org_unit", ["level", "code"], unique=False,
                    postgresql_where=sa.text("retired_on IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_org_unit_live_level_code", table_name="org_unit")
