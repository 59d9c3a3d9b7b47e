"""Online choices are counted, not stored one by one: vote_online_count and ballot_receipt replace ballot_choice.

ballot_choice held one row per online choice beside the participation row in ballot. Both were written by the
same transaction, so anyone able to read the two tables could join them on the system column xmin, or on their
physical order (which a plain dump keeps), and learn how each voter of a secret ballot voted. Now:

- vote_online_count holds one row per vote with its three running totals; every online ballot adds to it in one
  UPDATE of all three columns, so the row's version says only that someone voted;
- ballot_receipt holds the digest of each receipt (what a voter checks that their ballot was counted), with the
  choice only for an open ballot, where it is on the participation row anyway.

Revision ID: matters_0008
Revises: matters_0007
Create Date: 2026-11-28 21:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "matters_0008"
down_revision = "matters_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vote_online_count",
        sa.Column("vote_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("votes_for", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("votes_against", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("abstain", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.vote_id"], name=op.f("fk_vote_online_count_vote_id_vote")),
        sa.PrimaryKeyConstraint("vote_id", name=op.f("pk_vote_online_count")),
    )
    op.create_table(
        "ballot_receipt",
        sa.Column("receipt_digest", sa.Text(), nullable=False),
        sa.Column("vote_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("choice", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.vote_id"], name=op.f("fk_ballot_receipt_vote_id_vote")),
        sa.PrimaryKeyConstraint("receipt_digest", name=op.f("pk_ballot_receipt")),
    )
    op.execute(
        """INSERT INTO vote_online_count (vote_id, votes_for, votes_against, abstain)
           SELECT vote_id, count(*) FILTER (WHERE choice = 'for'), count(*) FILTER (WHERE choice = 'against'),
                  count(*) FILTER (WHERE choice = 'abstain')
           FROM ballot_choice GROUP BY vote_id"""
    )
    op.execute(
        """INSERT INTO ballot_receipt (receipt_digest, vote_id, choice)
           SELECT c.receipt_digest, c.vote_id, CASE WHEN v.secret THEN NULL ELSE c.choice END
           FROM ballot_choice c JOIN vote v ON v.vote_id = c.vote_id ORDER BY c.receipt_digest"""
    )
    op.drop_index("ix_ballot_choice_vote_id_choice", table_name="ballot_choice")
    op.drop_table("ballot_choice")


def downgrade() -> None:
    # The choices of secret ballots are not kept one by one any more; they cannot be restored.
    op.create_table(
        "ballot_choice",
        sa.Column("receipt_digest", sa.Text(), nullable=False),
        sa.Column("vote_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("choice", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.vote_id"], name=op.f("fk_ballot_choice_vote_id_vote")),
        sa.PrimaryKeyConstraint("receipt_digest", name=op.f("pk_ballot_choice")),
    )
    op.create_index("ix_ballot_choice_vote_id_choice", "ballot_choice", ["vote_id", "choice"], unique=False)
    op.execute(
        "INSERT INTO ballot_choice (receipt_digest, vote_id, choice)"
        " SELECT receipt_digest, vote_id, choice FROM ballot_receipt WHERE choice IS NOT NULL"
    )
    op.drop_table("ballot_receipt")
    op.drop_table("vote_online_count")
