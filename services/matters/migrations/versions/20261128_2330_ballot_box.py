"""Online choices wait in a ballot box and are added to the vote's one totals row by a mixer (or the closing tally),
in transactions of their own: a choice is never written beside the participation row of the voter who made it.

The shards of matters_0011 kept ballots off one row's lock, but a shard that took a single ballot showed that
ballot's choice under the voter's transaction id. The shards are summed back into one row per vote.

Revision ID: matters_0012
Revises: matters_0011
Create Date: 2026-11-28 23:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "matters_0012"
down_revision = "matters_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """CREATE TEMP TABLE summed ON COMMIT DROP AS
           SELECT vote_id, sum(votes_for)::int AS votes_for, sum(votes_against)::int AS votes_against,
                  sum(abstain)::int AS abstain FROM vote_online_count GROUP BY vote_id"""
    )
    op.execute("DELETE FROM vote_online_count")
    op.drop_constraint("pk_vote_online_count", "vote_online_count", type_="primary")
    op.drop_column("vote_online_count", "shard")
    op.execute("INSERT INTO vote_online_count (vote_id, votes_for, votes_against, abstain)"
               " SELECT vote_id, votes_for, votes_against, abstain FROM summed")
    op.create_primary_key("pk_vote_online_count", "vote_online_count", ["vote_id"])
    op.create_table(
        "ballot_box",
        sa.Column("vote_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("choice", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.vote_id"], name=op.f("fk_ballot_box_vote_id_vote")),
    )
    op.create_index("ix_ballot_box_vote_id", "ballot_box", ["vote_id"], unique=False)


def downgrade() -> None:
    op.execute(
        """INSERT INTO vote_online_count (vote_id, votes_for, votes_against, abstain)
           SELECT vote_id, count(*) FILTER (WHERE choice = 'for'), count(*) FILTER (WHERE choice = 'against'),
                  count(*) FILTER (WHERE choice = 'abstain') FROM ballot_box GROUP BY vote_id
           ON CONFLICT (vote_id) DO UPDATE SET votes_for = vote_online_count.votes_for + EXCLUDED.votes_for,
               votes_against = vote_online_count.votes_against + EXCLUDED.votes_against,
               abstain = vote_online_count.abstain + EXCLUDED.abstain"""
    )
    op.drop_index("ix_ballot_box_vote_id", table_name="ballot_box")
    op.drop_table("ballot_box")
    op.add_column("vote_online_count", sa.Column("shard", sa.SmallInteger(), server_default=sa.text("0"),
                                                 nullable=False))
    op.drop_constraint("pk_vote_online_count", "vote_online_count", type_="primary")
    op.create_primary_key("pk_vote_online_count", "vote_online_count", ["vote_id", "shard"])
