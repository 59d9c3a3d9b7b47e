"""A function that holds code moves back and reads those of some codes, in one round trip (raising a matter).

Revision ID: matters_0016
Revises: matters_0015
Create Date: 2026-11-29 16:00:00
"""

from alembic import op

revision = "matters_0016"
down_revision = "matters_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # VOLATILE: its query takes a snapshot of its own after the lock is granted, so it reads a move that committed
    # while it waited. Read in the statement that took the lock, the moves would be as they were before the wait.
    op.execute("""
        CREATE FUNCTION hold_code_moves(prefixes text[]) RETURNS TABLE (old_code text, new_code text)
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared(hashtext('matters.code_moves'));
            RETURN QUERY SELECT m.old_code, m.new_code FROM replica_code_move m WHERE m.old_code = ANY(prefixes);
        END
        $$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION hold_code_moves(text[])")
