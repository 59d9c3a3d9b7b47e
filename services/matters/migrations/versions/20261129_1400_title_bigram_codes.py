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


def _retype(element: sa.types.TypeEngine, encode) -> None:
    """Changes the column to an array of `element` and fills it with encode(title) for every matter."""
    array = postgresql.ARRAY(element)
    op.alter_column("matter", "title_bigrams", server_default=None)
    op.alter_column("matter", "title_bigrams", type_=array,
                    postgresql_using=f"'{{}}'::{array.compile(dialect=postgresql.dialect())}",
                    server_default=sa.text("'{}'"))
    conn = op.get_bind()
    update = sa.text("UPDATE matter SET title_bigrams = :value WHERE matter_id = :matter_id").bindparams(
        sa.bindparam("value", type_=array))
    rows = conn.execute(sa.text("SELECT matter_id, title FROM matter")).all()
    for start in range(0, len(rows), 1000):
        conn.execute(update, [{"matter_id": m, "value": encode(t)} for m, t in rows[start:start + 1000]])


def upgrade() -> None:
    from services.matters.rules.routing import bigram_codes

    # A trusted extension (PostgreSQL 13+): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS intarray")
    _retype(sa.Integer(), bigram_codes)


def downgrade() -> None:
    from services.matters.rules.routing import title_bigrams

    _retype(sa.Text(), title_bigrams)
