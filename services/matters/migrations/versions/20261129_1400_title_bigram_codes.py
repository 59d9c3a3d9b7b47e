"""Matters keep their titles' bigrams as integers, compared with intarray's intersection: scoring a community's 200
newest matters against a new title no longer runs a text comparison per pair of bigrams.

Revision ID: matters_0015
Revises: matters_0014
Create Date: 2026-11-29 14:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "matters_0015"
down_revision = "matters_0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from services.matters.rules.routing import bigram_codes

    # A trusted extension (PostgreSQL 13+): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS intarray")
    op.alter_column("matter", "title_bigrams", server_default=None)
    op.alter_column("matter", "title_bigrams", type_=postgresql.ARRAY(sa.Integer()),
                    postgresql_using="'{}'::int[]", server_default=sa.text("'{}'"))
    conn = op.get_bind()
    update = sa.text("UPDATE matter SET title_bigrams = :codes WHERE matter_id = :matter_id").bindparams(
        sa.bindparam("codes", type_=postgresql.ARRAY(sa.Integer())))
    rows = conn.execute(sa.text("SELECT matter_id, title FROM matter")).all()
    for start in range(0, len(rows), 1000):
        conn.execute(update, [{"matter_id": m, "codes": bigram_codes(t)} for m, t in rows[start:start + 1000]])


def downgrade() -> None:
    from services.matters.rules.routing import title_bigrams

    op.alter_column("matter", "title_bigrams", server_default=None)
    op.alter_column("matter", "title_bigrams", type_=postgresql.ARRAY(sa.Text()),
                    postgresql_using="'{}'::text[]", server_default=sa.text("'{}'"))
    conn = op.get_bind()
    update = sa.text("UPDATE matter SET title_bigrams = :bigrams WHERE matter_id = :matter_id").bindparams(
        sa.bindparam("bigrams", type_=postgresql.ARRAY(sa.Text())))
    rows = conn.execute(sa.text("SELECT matter_id, title FROM matter")).all()
    for start in range(0, len(rows), 1000):
        conn.execute(update, [{"matter_id": m, "bigrams": title_bigrams(t)} for m, t in rows[start:start + 1000]])
