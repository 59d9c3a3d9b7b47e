"""Time-ordered UUIDs (version 7) for bulk inserts, on PostgreSQL versions without uuidv7().

Random (v4) keys scatter a bulk load over the whole primary-key index; time-ordered keys append at its
right edge, which keeps a 263,000-household import's index writes (and WAL) small.

Revision ID: registry_0004
Revises: registry_0003
Create Date: 2026-11-28 08:02:00
"""

from alembic import op

revision = "registry_0004"
down_revision = "registry_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION registry_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
          SELECT encode(
            set_bit(set_bit(
              overlay(uuid_send(gen_random_uuid())
                      PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                      FROM 1 FOR 6),
              52, 1), 53, 1),
            'hex')::uuid
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS registry_uuid7()")
