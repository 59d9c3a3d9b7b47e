"""Matters follow the units that moved before the service re-coded its own rows on a move: every row at or under a
recorded move's old code takes today's code (the longest moved code above it decides), as a move now does in the
transaction that records it (MattersRepository.recode): matters with their communities, placements and proposers'
households, votes with their electorates and ballots, work orders and their feed, tasks, department tasks and template
choices.

The replica has recorded moves since matters_0010, each old code mapped straight to today's code, but the matters
stayed under the old codes: the staff of the new codes did not see them, and the old parent's still did.

The electors of a household are found by its code from here on (an index): a move re-codes the households under the
moved unit in every vote's electorate.

Revision ID: matters_0013
Revises: matters_0012
Create Date: 2026-11-29 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "matters_0013"
down_revision = "matters_0012"
branch_labels = None
depends_on = None

# One recorded move (:new today's code of :p's unit, :cut the position after its old code), applied as
# MattersRepository.recode applies it; ballots before electors, work orders before their matters.
_NEW = ":new || substr({}, :cut)"
_RECODE = [
    f"""UPDATE ballot b SET voter_key = {_NEW.format("b.voter_key")} FROM vote_elector e
        WHERE e.vote_id = b.vote_id AND e.voter_key = b.voter_key AND e.household_code LIKE :p
          AND e.voter_key = e.household_code
          AND NOT EXISTS (SELECT 1 FROM vote_elector n WHERE n.vote_id = e.vote_id
                          AND n.voter_key = {_NEW.format("e.voter_key")})""",
    f"""UPDATE vote_elector e SET household_code = {_NEW.format("e.household_code")},
            voter_key = CASE WHEN e.voter_key = e.household_code THEN {_NEW.format("e.voter_key")} ELSE e.voter_key END
        WHERE e.household_code LIKE :p
          AND NOT (e.voter_key = e.household_code AND EXISTS (
              SELECT 1 FROM vote_elector n WHERE n.vote_id = e.vote_id AND n.voter_key = {_NEW.format("e.voter_key")}))""",
    f"UPDATE vote SET scope_code = {_NEW.format('scope_code')} WHERE scope_code LIKE :p",
    f"""UPDATE work_order w SET community_code = CASE WHEN w.community_code LIKE :p
                THEN {_NEW.format("w.community_code")}
                ELSE left({_NEW.format("m.unit_code")}, length(w.community_code)) END
        FROM matter m
        WHERE m.matter_id = w.matter_id
          AND (w.community_code LIKE :p OR (m.unit_code LIKE :p AND w.community_code = m.community_code
                                            AND left(m.unit_code, length(m.community_code)) = m.community_code))""",
    f"""UPDATE matter SET
            unit_code = CASE WHEN unit_code LIKE :p THEN {_NEW.format("unit_code")} ELSE unit_code END,
            community_code = CASE
                WHEN community_code LIKE :p THEN {_NEW.format("community_code")}
                WHEN unit_code LIKE :p AND left(unit_code, length(community_code)) = community_code
                    THEN left({_NEW.format("unit_code")}, length(community_code))
                ELSE community_code END
        WHERE community_code LIKE :p OR unit_code LIKE :p""",
    f"""UPDATE matter SET proposer_household_code = {_NEW.format("proposer_household_code")}
        WHERE proposer_household_code LIKE :p""",
    *(f"""UPDATE matter_transition SET details = jsonb_set(details, '{{{key}}}',
                                                          to_jsonb({_NEW.format(f"(details ->> '{key}')")}))
          WHERE action = 'place' AND details ->> '{key}' LIKE :p""" for key in ("from_unit_code", "to_unit_code")),
    f"UPDATE work_order_change SET community_code = {_NEW.format('community_code')} WHERE community_code LIKE :p",
    f"""UPDATE implementation_task SET responsible_code = {_NEW.format("responsible_code")}
        WHERE responsible_kind = 'community' AND responsible_code LIKE :p""",
    f"UPDATE department_task SET community_code = {_NEW.format('community_code')} WHERE community_code LIKE :p",
    f"""DELETE FROM community_template o WHERE o.community_code LIKE :p
          AND EXISTS (SELECT 1 FROM community_template n WHERE n.community_code = {_NEW.format("o.community_code")})""",
    f"UPDATE community_template SET community_code = {_NEW.format('community_code')} WHERE community_code LIKE :p",
]


def upgrade() -> None:
    op.create_index("ix_vote_elector_household_code", "vote_elector", ["household_code"], unique=False)
    bind = op.get_bind()
    # Longest old code first: a row under a unit that moved on its own is re-coded by that move, not its ancestor's.
    moves = bind.execute(sa.text("SELECT old_code, new_code FROM replica_code_move "
                                 "ORDER BY length(old_code) DESC, old_code")).all()
    for old, new in moves:
        pattern = old.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        for statement in _RECODE:
            bind.execute(sa.text(statement), {"new": new, "cut": len(old) + 1, "p": pattern})


def downgrade() -> None:
    # The old codes are not given back: they belong to units that moved, and codes are never reused.
    op.drop_index("ix_vote_elector_household_code", table_name="vote_elector")
