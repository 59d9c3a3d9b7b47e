"""An item keeps, privately, the names its redaction masked (those staff listed and those found in it), to mask them
in the residents' questions and staff's answers on the item too: a question naming a person listed in the minutes
published the full name.

Revision ID: disclosure_0006
Revises: disclosure_0005
Create Date: 2026-11-28 23:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "disclosure_0006"
down_revision = "disclosure_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("disclosure_item", sa.Column("private_names", postgresql.ARRAY(sa.Text()),
                                               server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    op.drop_column("disclosure_item", "private_names")
