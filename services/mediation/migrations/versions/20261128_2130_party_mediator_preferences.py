"""Each party's mediator choices and refusals are kept with the party (case_party), the case's lists derived from them.

The case kept one list of chosen and one of refused mediators, whoever had said so; a party choosing a mediator
took them off the refused list, so one party's choice lifted another party's refusal. Now a mediator refused by
any party stays refused until that same party chooses them. The lists given when the case was opened (and the
case's lists of earlier cases, whose author is not known) count as every party's.

Revision ID: mediation_0006
Revises: mediation_0005
Create Date: 2026-11-28 21:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "mediation_0006"
down_revision = "mediation_0005"
branch_labels = None
depends_on = None

TEXTS = postgresql.ARRAY(sa.Text())


def upgrade() -> None:
    op.add_column("case_party", sa.Column("chosen_mediator_ids", TEXTS, server_default=sa.text("'{}'"),
                                          nullable=False))
    op.add_column("case_party", sa.Column("refused_mediator_ids", TEXTS, server_default=sa.text("'{}'"),
                                          nullable=False))
    op.execute(
        """UPDATE case_party p SET chosen_mediator_ids = c.chosen_mediator_ids,
                                   refused_mediator_ids = c.refused_mediator_ids
           FROM mediation_case c WHERE c.id = p.case_id
           AND (cardinality(c.chosen_mediator_ids) > 0 OR cardinality(c.refused_mediator_ids) > 0)"""
    )


def downgrade() -> None:
    op.drop_column("case_party", "refused_mediator_ids")
    op.drop_column("case_party", "chosen_mediator_ids")
