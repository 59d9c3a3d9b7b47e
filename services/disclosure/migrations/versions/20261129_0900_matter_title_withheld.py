"""A matter remembers that its title was withheld as personal data: deciding the matter again (not passed, routed,
decided) put the withdrawn title back on the matter and on its new decision item.

Revision ID: disclosure_0007
Revises: disclosure_0006
Create Date: 2026-11-29 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "disclosure_0007"
down_revision = "disclosure_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("public_matter", sa.Column("title_withheld", sa.Boolean(), server_default=sa.text("false"),
                                             nullable=False))
    # The matters an item was already withdrawn from as personal data (the reason is marked so): their title stays
    # off, also where a later decision had put it back.
    op.execute("UPDATE public_matter SET title_withheld = true, public_title = NULL WHERE matter_id IN "
               "(SELECT matter_id FROM disclosure_item WHERE withdrawal_reason LIKE '[个人信息]%')")


def downgrade() -> None:
    op.drop_column("public_matter", "title_withheld")
