"""Matters keep their titles' bigrams, so duplicates are scored in the database (only the matches come back).

Revision ID: matters_0006
Revises: matters_0005
Create Date: 2026-11-28 15:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "matters_0006"
down_revision = "matters_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from services.matters.rules.routing import title_bigrams

    op.add_column("matter", sa.Column("title_bigrams", postgresql.ARRAY(sa.Text()), nullable=False,
                                      server_default=sa.text("'{}'")))
    conn = op.get_bind()
    update = sa.text("UPDATE matter SET title_bigrams = :bigrams WHERE matter_id = :matter_id").bindparams(
        sa.bindparam("bigrams", type_=postgresql.ARRAY(sa.Text())))
    rows = conn.execute(sa.text("SELECT matter_id, title FROM matter")).all()
    for start in range(0, len(rows), 1000):
        conn.execute(update, [{"matter_id": m, "bigrams": title_bigrams(t)} for m, t in rows[start:start + 1000]])


def downgrade() -> None:
    op.drop_column("matter", "title_bigrams")
