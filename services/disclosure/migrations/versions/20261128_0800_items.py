"""Disclosure items, supervision questions, public matter progress, mediation tallies, registry replica.

Revision ID: disclosure_0002
Revises: disclosure_0001
Create Date: 2026-11-28 08:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from youmin.kit.outbox import Xid8
from youmin.kit.replica import create_replica_tables, drop_replica_tables

revision = "disclosure_0002"
down_revision = "disclosure_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_replica_tables()
    op.create_table(
        "disclosure_item",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("txid", Xid8(), server_default=sa.text("pg_current_xact_id()"), nullable=False),
        sa.Column("unit_code", sa.Text(), nullable=False),
        sa.Column("community_code", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content", JSONB(), nullable=False),
        sa.Column("major", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("source_key", sa.Text(), nullable=True),
        sa.Column("matter_id", UUID(as_uuid=True), nullable=True),
        sa.Column("posted_by", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_disclosure_item"),
        sa.UniqueConstraint("seq", name="uq_disclosure_item_seq"),
        sa.UniqueConstraint("source_key", name="uq_disclosure_item_source_key"),
    )
    op.create_index("ix_disclosure_item_unit_published", "disclosure_item", ["unit_code", "published_at", "id"],
                    postgresql_ops={"unit_code": "text_pattern_ops"})
    op.create_index("ix_disclosure_item_published", "disclosure_item", ["published_at", "id"])
    op.create_index("ix_disclosure_item_community_kind", "disclosure_item", ["community_code", "kind", "published_at"])
    op.create_index("ix_disclosure_item_matter_id", "disclosure_item", ["matter_id"])

    op.create_table(
        "supervision_question",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("item_id", UUID(as_uuid=True), nullable=False),
        sa.Column("unit_code", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("asked_by", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["disclosure_item.id"],
                                name="fk_supervision_question_item_id_disclosure_item"),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_question"),
    )
    op.create_index("ix_supervision_question_item_id", "supervision_question", ["item_id"])
    op.create_index("ix_supervision_question_unit_code", "supervision_question", ["unit_code"],
                    postgresql_ops={"unit_code": "text_pattern_ops"})
    op.create_index("ix_supervision_question_open", "supervision_question", ["answer_due_at"],
                    postgresql_where=sa.text("answered_at IS NULL"))

    op.create_table(
        "public_matter",
        sa.Column("matter_id", UUID(as_uuid=True), nullable=False),
        sa.Column("community_code", sa.Text(), nullable=False),
        sa.Column("unit_code", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("public_title", sa.Text(), nullable=True),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("key_project", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tally", JSONB(), nullable=True),
        sa.Column("progress", JSONB(), nullable=True),
        sa.Column("evaluation", JSONB(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("matter_id", name="pk_public_matter"),
    )
    op.create_index("ix_public_matter_community_code", "public_matter", ["community_code"],
                    postgresql_ops={"community_code": "text_pattern_ops"})

    op.create_table(
        "public_matter_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("matter_id", UUID(as_uuid=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("detail", JSONB(), nullable=False),
        sa.Column("event_key", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_public_matter_event"),
        sa.UniqueConstraint("event_key", name="uq_public_matter_event_event_key"),
    )
    op.create_index("ix_public_matter_event_matter_id", "public_matter_event", ["matter_id"])

    op.create_table(
        "mediation_tally",
        sa.Column("unit_code", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("dispute_type", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("unit_code", "level", "dispute_type", "period", "outcome", name="pk_mediation_tally"),
    )
    op.create_index("ix_mediation_tally_unit_code", "mediation_tally", ["unit_code"],
                    postgresql_ops={"unit_code": "text_pattern_ops"})
    op.create_table(
        "mediation_counted_event",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_mediation_counted_event"),
    )


def downgrade() -> None:
    op.drop_table("mediation_counted_event")
    op.drop_table("mediation_tally")
    op.drop_table("public_matter_event")
    op.drop_table("public_matter")
    op.drop_table("supervision_question")
    op.drop_table("disclosure_item")
    drop_replica_tables()
