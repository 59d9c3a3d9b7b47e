"""One legal adviser per community, held by the database too: two grants made at once both passed the check.

Revision ID: registry_0007
Revises: registry_0006
Create Date: 2026-11-28 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "registry_0007"
down_revision = "registry_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("uq_role_grant_scope_code", "role_grant", ["scope_code"], unique=True,
                    postgresql_where=sa.text("role = 'legal_adviser' AND revoked_on IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_role_grant_scope_code", table_name="role_grant")
