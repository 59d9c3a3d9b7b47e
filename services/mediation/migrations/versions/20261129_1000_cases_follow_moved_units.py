"""Cases follow the units that moved before the service re-coded its own rows on a move: every case at or under a
recorded move's old code takes today's code (the longest moved code above its place decides), and its community is the
new place's.

The replica has recorded moves since mediation_0007, each old code mapped straight to today's code, but the cases stayed
under the old codes: the staff and mediators of the new codes did not see them, and their ladder climbed to the old
parents. From here on a move re-codes the cases in the transaction that records it.

Revision ID: mediation_0009
Revises: mediation_0008
Create Date: 2026-11-29 10:00:00
"""

from alembic import op

revision = "mediation_0009"
down_revision = "mediation_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """UPDATE mediation_case c SET place_code = moved.place_code,
                  community_code = CASE WHEN length(moved.place_code) >= 12 THEN left(moved.place_code, 12) END
           FROM (SELECT c2.id, m.new_code || substr(c2.place_code, length(m.old_code) + 1) AS place_code
                 FROM mediation_case c2
                 CROSS JOIN LATERAL (SELECT old_code, new_code FROM replica_code_move
                                     WHERE left(c2.place_code, length(old_code)) = old_code
                                     ORDER BY length(old_code) DESC LIMIT 1) m) moved
           WHERE c.id = moved.id"""
    )


def downgrade() -> None:
    # The old codes are not given back: they belong to units that moved, and codes are never reused.
    pass
