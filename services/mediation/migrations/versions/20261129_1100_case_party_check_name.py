"""The check that a party is either a registered person or an outside person takes the name the models give it.

mediation_0003 passed the full name to a naming convention that adds the prefix itself, so the database called it
ck_case_party_ck_case_party_one_identity.

Revision ID: mediation_0010
Revises: mediation_0009
Create Date: 2026-11-29 11:00:00
"""

from alembic import op

revision = "mediation_0010"
down_revision = "mediation_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE case_party RENAME CONSTRAINT ck_case_party_ck_case_party_one_identity "
               "TO ck_case_party_one_identity")


def downgrade() -> None:
    op.execute("ALTER TABLE case_party RENAME CONSTRAINT ck_case_party_one_identity "
               "TO ck_case_party_ck_case_party_one_identity")
