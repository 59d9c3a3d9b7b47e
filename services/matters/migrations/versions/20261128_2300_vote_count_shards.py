"""A vote's online totals are kept in a few rows (shards) rather than one: every ballot adds to one chosen at random,
so concurrent ballots of a vote do not all wait on one row's lock. The tally sums them.

Revision ID: matters_0011
Revises: matters_0010
Create Date: 2026-11-28 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "matters_0011"
down_revision = "matters_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("vote_online_count", sa.Column("shard", sa.SmallInteger(), server_default=sa.text("0"),
                                                 nullable=False))
    op.drop_constraint("pk_vote_online_count", "vote_online_count", type_="primary")
    op.create_primary_key("pk_vote_online_count", "vote_online_count", ["vote_id", "shard"])


def downgrade() -> None:
    op.execute(
        """CREATE TEMP TABLE summed ON COMMIT DROP AS
           SELECT vote_id, sum(votes_for)::int AS votes_for, sum(votes_against)::int AS votes_against,
                  sum(abstain)::int AS abstain FROM vote_online_count GROUP BY vote_id"""
    )
    op.execute("DELETE FROM vote_online_count")
    op.drop_constraint("pk_vote_online_count", "vote_online_count", type_="primary")
    op.drop_column("vote_online_count", "shard")
    op.execute("INSERT INTO vote_online_count SELECT vote_id, votes_for, votes_against, abstain FROM summed")
    op.create_primary_key("pk_vote_online_count", "vote_online_count", ["vote_id"])
