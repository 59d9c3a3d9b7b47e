"""A function that takes a vote's shared lock and reads what casting a ballot needs, in one round trip.

Revision ID: matters_0017
Revises: matters_0016
Create Date: 2026-11-29 18:00:00
"""

from alembic import op

revision = "matters_0017"
down_revision = "matters_0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The lock is the one every writer of a vote's totals takes (MattersRepository.lock_vote): ballots share it, a
    # closing tally holds it alone. VOLATILE: the query takes a snapshot of its own once the lock is granted, so it
    # reads a close that committed while it waited (read in the statement that took the lock, the vote would still be
    # open). The caster's electors are found by the caster index alone, in every vote (a person casts in a handful),
    # and then this vote's are kept: given the vote's id beside it, the planner would read the vote's every elector
    # through the primary key whenever the table's statistics predate a large electorate.
    op.execute("""
        CREATE FUNCTION ballot_vote_held(p_vote uuid, p_person text)
        RETURNS TABLE (vote_id uuid, status text, secret boolean, opens_at timestamptz, closes_at timestamptz,
                       voter_keys text[], household_codes text[])
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared(hashtext('matters.vote:' || p_vote::text));
            RETURN QUERY
            WITH cast_by_me AS MATERIALIZED (
                SELECT e.vote_id, e.voter_key, e.household_code FROM vote_elector e
                WHERE e.caster_ids @> ARRAY[p_person])
            SELECT v.vote_id, v.status::text, v.secret, v.opens_at, v.closes_at,
                   coalesce(mine.voter_keys, '{}')::text[], coalesce(mine.household_codes, '{}')::text[]
            FROM vote v
            LEFT JOIN LATERAL (
                SELECT array_agg(c.voter_key ORDER BY c.voter_key) AS voter_keys,
                       array_agg(c.household_code ORDER BY c.voter_key) AS household_codes
                FROM cast_by_me c WHERE c.vote_id = v.vote_id
            ) AS mine ON true
            WHERE v.vote_id = p_vote;
        END
        $$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION ballot_vote_held(uuid, text)")
