"""The 由民做主 workflow: matters and their timeline, votes and ballots, implementation tasks, ratings,
department work orders and their change feed, department task admissions, community templates.

Revision ID: matters_0002
Revises: matters_0001
Create Date: 2026-11-28 08:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from youmin.kit.outbox import Xid8

revision = "matters_0002"
down_revision = "matters_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('community_template',
    sa.Column('community_code', sa.Text(collation='C'), nullable=False),
    sa.Column('template_code', sa.Text(), nullable=False),
    sa.Column('chosen_by', sa.Text(), nullable=False),
    sa.Column('chosen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('community_code', name=op.f('pk_community_template'))
    )
    op.create_table('department_task',
    sa.Column('task_id', sa.UUID(), nullable=False),
    sa.Column('department_code', sa.Text(), nullable=False),
    sa.Column('community_code', sa.Text(collation='C'), nullable=False),
    sa.Column('catalogue_code', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('admitted', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_department_task'))
    )
    op.create_index('ix_department_task_community_code_submitted_at', 'department_task', ['community_code', 'submitted_at'], unique=False)
    op.create_table('matter',
    sa.Column('matter_id', sa.UUID(), nullable=False),
    sa.Column('community_code', sa.Text(collation='C'), nullable=False),
    sa.Column('unit_code', sa.Text(collation='C'), nullable=False),
    sa.Column('scope_level', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('nature', sa.Text(), nullable=False),
    sa.Column('key_project', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('major', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('channel', sa.Text(), nullable=True),
    sa.Column('proposed_channel', sa.Text(), nullable=True),
    sa.Column('raised_via', sa.Text(), nullable=False),
    sa.Column('proposer_sub', sa.Text(), nullable=False),
    sa.Column('proposer_kind', sa.Text(), nullable=False),
    sa.Column('proposer_household_code', sa.Text(collation='C'), nullable=True),
    sa.Column('department_code', sa.Text(), nullable=True),
    sa.Column('external_token', sa.Text(), nullable=True),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('address_string', sa.Text(), nullable=True),
    sa.Column('merged_into_id', sa.UUID(), nullable=True),
    sa.Column('evaluation_round', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('state_entered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['matter.matter_id'], name=op.f('fk_matter_merged_into_id_matter')),
    sa.PrimaryKeyConstraint('matter_id', name=op.f('pk_matter')),
    sa.UniqueConstraint('external_token', name=op.f('uq_matter_external_token'))
    )
    op.create_index('ix_matter_community_code_state', 'matter', ['community_code', 'state'], unique=False)
    op.create_index('ix_matter_created_at', 'matter', ['created_at'], unique=False)
    op.create_index('ix_matter_proposer_sub', 'matter', ['proposer_sub'], unique=False)
    op.create_index('ix_matter_unit_code', 'matter', ['unit_code'], unique=False)
    op.create_table('work_order_change',
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('work_order_id', sa.UUID(), nullable=False),
    sa.Column('matter_id', sa.UUID(), nullable=False),
    sa.Column('department_code', sa.Text(), nullable=False),
    sa.Column('community_code', sa.Text(collation='C'), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('warning', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('txid', Xid8(), server_default=sa.text('pg_current_xact_id()'), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_work_order_change'))
    )
    op.create_index('ix_work_order_change_department_code_seq', 'work_order_change', ['department_code', 'seq'], unique=False)
    op.create_table('implementation_task',
    sa.Column('task_id', sa.UUID(), nullable=False),
    sa.Column('matter_id', sa.UUID(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('responsible_kind', sa.Text(), nullable=False),
    sa.Column('responsible_code', sa.Text(), nullable=False),
    sa.Column('budget_cents', sa.BigInteger(), nullable=False),
    sa.Column('spent_cents', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('percent', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('warning', sa.Text(), server_default=sa.text("'none'"), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('percent BETWEEN 0 AND 100', name=op.f('ck_implementation_task_percent_range')),
    sa.ForeignKeyConstraint(['matter_id'], ['matter.matter_id'], name=op.f('fk_implementation_task_matter_id_matter')),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_implementation_task'))
    )
    op.create_index('ix_implementation_task_matter_id', 'implementation_task', ['matter_id'], unique=False)
    op.create_table('matter_transition',
    sa.Column('transition_id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('matter_id', sa.UUID(), nullable=False),
    sa.Column('from_state', sa.Text(), nullable=True),
    sa.Column('to_state', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('actor_sub', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('reason_code', sa.Text(), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['matter_id'], ['matter.matter_id'], name=op.f('fk_matter_transition_matter_id_matter')),
    sa.PrimaryKeyConstraint('transition_id', name=op.f('pk_matter_transition'))
    )
    op.create_index('ix_matter_transition_matter_id', 'matter_transition', ['matter_id', 'transition_id'], unique=False)
    op.create_table('rating',
    sa.Column('matter_id', sa.UUID(), nullable=False),
    sa.Column('evaluation_round', sa.Integer(), nullable=False),
    sa.Column('rater_sub', sa.Text(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['matter_id'], ['matter.matter_id'], name=op.f('fk_rating_matter_id_matter')),
    sa.PrimaryKeyConstraint('matter_id', 'evaluation_round', 'rater_sub', name=op.f('pk_rating'))
    )
    op.create_table('vote',
    sa.Column('vote_id', sa.UUID(), nullable=False),
    sa.Column('matter_id', sa.UUID(), nullable=False),
    sa.Column('scope_code', sa.Text(collation='C'), nullable=False),
    sa.Column('rule_version', sa.Text(), nullable=False),
    sa.Column('rule', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('secret', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('base_size', sa.Integer(), nullable=False),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_by', sa.Text(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('quorum_met', sa.Boolean(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('present', sa.Integer(), nullable=True),
    sa.Column('votes_for', sa.Integer(), nullable=True),
    sa.Column('votes_against', sa.Integer(), nullable=True),
    sa.Column('abstain', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['matter_id'], ['matter.matter_id'], name=op.f('fk_vote_matter_id_matter')),
    sa.PrimaryKeyConstraint('vote_id', name=op.f('pk_vote'))
    )
    op.create_index('ix_vote_matter_id', 'vote', ['matter_id'], unique=False)
    op.create_table('work_order',
    sa.Column('work_order_id', sa.UUID(), nullable=False),
    sa.Column('matter_id', sa.UUID(), nullable=False),
    sa.Column('department_code', sa.Text(), nullable=False),
    sa.Column('community_code', sa.Text(collation='C'), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('extensions_used', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('extended_workdays', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('warning', sa.Text(), server_default=sa.text("'none'"), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('extension_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['matter_id'], ['matter.matter_id'], name=op.f('fk_work_order_matter_id_matter')),
    sa.PrimaryKeyConstraint('work_order_id', name=op.f('pk_work_order'))
    )
    op.create_index('ix_work_order_department_code_status', 'work_order', ['department_code', 'status'], unique=False)
    op.create_index('ix_work_order_matter_id', 'work_order', ['matter_id'], unique=False)
    op.create_table('ballot',
    sa.Column('vote_id', sa.UUID(), nullable=False),
    sa.Column('voter_key', sa.Text(), nullable=False),
    sa.Column('cast_by', sa.Text(), nullable=False),
    sa.Column('via', sa.Text(), nullable=False),
    sa.Column('choice', sa.Text(), nullable=True),
    sa.Column('receipt_digest', sa.Text(), nullable=True),
    sa.Column('cast_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['vote_id'], ['vote.vote_id'], name=op.f('fk_ballot_vote_id_vote')),
    sa.PrimaryKeyConstraint('vote_id', 'voter_key', name=op.f('pk_ballot'))
    )
    op.create_table('ballot_choice',
    sa.Column('receipt_digest', sa.Text(), nullable=False),
    sa.Column('vote_id', sa.UUID(), nullable=False),
    sa.Column('choice', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['vote_id'], ['vote.vote_id'], name=op.f('fk_ballot_choice_vote_id_vote')),
    sa.PrimaryKeyConstraint('receipt_digest', name=op.f('pk_ballot_choice'))
    )
    op.create_index('ix_ballot_choice_vote_id_choice', 'ballot_choice', ['vote_id', 'choice'], unique=False)
    op.create_table('offline_tally',
    sa.Column('tally_id', sa.UUID(), nullable=False),
    sa.Column('vote_id', sa.UUID(), nullable=False),
    sa.Column('votes_for', sa.Integer(), nullable=False),
    sa.Column('votes_against', sa.Integer(), nullable=False),
    sa.Column('abstain', sa.Integer(), nullable=False),
    sa.Column('sign_in_ref', sa.Text(), nullable=False),
    sa.Column('attendee_count', sa.Integer(), nullable=False),
    sa.Column('entered_by', sa.Text(), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['vote_id'], ['vote.vote_id'], name=op.f('fk_offline_tally_vote_id_vote')),
    sa.PrimaryKeyConstraint('tally_id', name=op.f('pk_offline_tally'))
    )
    op.create_index('ix_offline_tally_vote_id', 'offline_tally', ['vote_id'], unique=False)
    op.create_table('task_progress',
    sa.Column('progress_id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('task_id', sa.UUID(), nullable=False),
    sa.Column('percent', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['implementation_task.task_id'], name=op.f('fk_task_progress_task_id_implementation_task')),
    sa.PrimaryKeyConstraint('progress_id', name=op.f('pk_task_progress'))
    )
    op.create_index(op.f('ix_task_progress_task_id'), 'task_progress', ['task_id'], unique=False)
    op.create_table('task_spending',
    sa.Column('spending_id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('task_id', sa.UUID(), nullable=False),
    sa.Column('item', sa.Text(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('spent_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['implementation_task.task_id'], name=op.f('fk_task_spending_task_id_implementation_task')),
    sa.PrimaryKeyConstraint('spending_id', name=op.f('pk_task_spending'))
    )
    op.create_index(op.f('ix_task_spending_task_id'), 'task_spending', ['task_id'], unique=False)
    op.create_table('vote_elector',
    sa.Column('vote_id', sa.UUID(), nullable=False),
    sa.Column('voter_key', sa.Text(), nullable=False),
    sa.Column('household_code', sa.Text(collation='C'), nullable=True),
    sa.Column('caster_ids', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['vote_id'], ['vote.vote_id'], name=op.f('fk_vote_elector_vote_id_vote')),
    sa.PrimaryKeyConstraint('vote_id', 'voter_key', name=op.f('pk_vote_elector'))
    )
    op.create_index('ix_vote_elector_caster_ids', 'vote_elector', ['caster_ids'], unique=False, postgresql_using='gin')


def downgrade() -> None:
    op.drop_index('ix_vote_elector_caster_ids', table_name='vote_elector', postgresql_using='gin')
    op.drop_table('vote_elector')
    op.drop_index(op.f('ix_task_spending_task_id'), table_name='task_spending')
    op.drop_table('task_spending')
    op.drop_index(op.f('ix_task_progress_task_id'), table_name='task_progress')
    op.drop_table('task_progress')
    op.drop_index('ix_offline_tally_vote_id', table_name='offline_tally')
    op.drop_table('offline_tally')
    op.drop_index('ix_ballot_choice_vote_id_choice', table_name='ballot_choice')
    op.drop_table('ballot_choice')
    op.drop_table('ballot')
    op.drop_index('ix_work_order_matter_id', table_name='work_order')
    op.drop_index('ix_work_order_department_code_status', table_name='work_order')
    op.drop_table('work_order')
    op.drop_index('ix_vote_matter_id', table_name='vote')
    op.drop_table('vote')
    op.drop_table('rating')
    op.drop_index('ix_matter_transition_matter_id', table_name='matter_transition')
    op.drop_table('matter_transition')
    op.drop_index('ix_implementation_task_matter_id', table_name='implementation_task')
    op.drop_table('implementation_task')
    op.drop_index('ix_work_order_change_department_code_seq', table_name='work_order_change')
    op.drop_table('work_order_change')
    op.drop_index('ix_matter_unit_code', table_name='matter')
    op.drop_index('ix_matter_proposer_sub', table_name='matter')
    op.drop_index('ix_matter_created_at', table_name='matter')
    op.drop_index('ix_matter_community_code_state', table_name='matter')
    op.drop_table('matter')
    op.drop_index('ix_department_task_community_code_submitted_at', table_name='department_task')
    op.drop_table('department_task')
    op.drop_table('community_template')
