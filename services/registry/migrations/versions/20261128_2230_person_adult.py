"""Whether a person is an adult (18+) is kept with the person, so that the day someone comes of age can be published:
the replicas counted a person as a minor for good once registered under 18.

Revision ID: registry_0008
Revises: registry_0007
Create Date: 2026-11-28 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "registry_0008"
down_revision = "registry_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("person", sa.Column("adult", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    # As published so far: adult on registration (those who came of age since are published by the job).
    op.execute(
        """UPDATE person p SET adult = true FROM person_personal pp
           WHERE pp.person_id = p.person_id AND pp.birth_date <= p.created_at::date - interval '18 years'"""
    )


def downgrade() -> None:
    op.drop_column("person", "adult")
