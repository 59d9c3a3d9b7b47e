"""Mediation cases, parties, outside persons, assignments, sessions, agreements, history, warnings, notices.

Revision ID: mediation_0003
Revises: mediation_0002
Create Date: 2026-11-28 09:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "mediation_0003"
down_revision = "mediation_0002"
branch_labels = None
depends_on = None

TEXTS = postgresql.ARRAY(sa.Text())
TS = sa.DateTime(timezone=True)
UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        "mediation_case",
        sa.Column("id", UUID, nullable=False),
        sa.Column("place_code", sa.Text(), nullable=False),
        sa.Column("community_code", sa.Text(), nullable=True),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("dispute_type", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("risk_level", sa.Text(), nullable=True),
        sa.Column("risk_indicators", TEXTS, server_default=sa.text("'{}'"), nullable=False),
        sa.Column("police_flagged", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("opened_by", sa.Text(), nullable=False),
        sa.Column("level_entered_at", TS, nullable=False),
        sa.Column("deadline_at", TS, nullable=True),
        sa.Column("warning", sa.Text(), server_default=sa.text("'none'"), nullable=False),
        sa.Column("next_due_at", TS, nullable=True),
        sa.Column("escalations", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("mediator_person_id", UUID, nullable=True),
        sa.Column("chosen_mediator_ids", TEXTS, server_default=sa.text("'{}'"), nullable=False),
        sa.Column("refused_mediator_ids", TEXTS, server_default=sa.text("'{}'"), nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_level", sa.Text(), nullable=True),
        sa.Column("agreement_kind", sa.Text(), nullable=True),
        sa.Column("agreement_signed_at", TS, nullable=True),
        sa.Column("confirmation_reminded_at", TS, nullable=True),
        sa.Column("confirmation_applied_on", sa.Date(), nullable=True),
        sa.Column("confirmation_outcome", sa.Text(), nullable=True),
        sa.Column("referred_route", sa.Text(), nullable=True),
        sa.Column("termination_reason", sa.Text(), nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mediation_case"),
    )
    # The sweep's index: only cases with something pending are in it, ordered by when it falls due.
    op.create_index(
        "ix_mediation_case_next_due_at", "mediation_case", ["next_due_at"],
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.create_index(
        "ix_mediation_case_place_code", "mediation_case", ["place_code"],
        postgresql_ops={"place_code": "text_pattern_ops"},
    )
    op.create_index("ix_mediation_case_opened_at", "mediation_case", ["opened_at"])
    op.create_index(
        "ix_mediation_case_mediator_open", "mediation_case", ["mediator_person_id"],
        postgresql_where=sa.text("status IN ('intake', 'consent_pending', 'mediating')"),
    )

    op.create_table(
        "outside_person",
        sa.Column("id", UUID, nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outside_person"),
    )

    op.create_table(
        "case_party",
        sa.Column("id", UUID, nullable=False),
        sa.Column("case_id", UUID, nullable=False),
        sa.Column("person_id", UUID, nullable=True),
        sa.Column("outside_person_id", UUID, nullable=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("consent", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("consent_at", TS, nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("(person_id IS NULL) <> (outside_person_id IS NULL)", name="ck_case_party_one_identity"),
        sa.ForeignKeyConstraint(["case_id"], ["mediation_case.id"], name="fk_case_party_case_id_mediation_case",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outside_person_id"], ["outside_person.id"],
                                name="fk_case_party_outside_person_id_outside_person"),
        sa.PrimaryKeyConstraint("id", name="pk_case_party"),
        sa.UniqueConstraint("case_id", "person_id", name="uq_case_party_case_id_person_id"),
    )
    op.create_index("ix_case_party_case_id", "case_party", ["case_id"])
    op.create_index("ix_case_party_person_id", "case_party", ["person_id"])

    op.create_table(
        "case_assignment",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("case_id", UUID, nullable=False),
        sa.Column("mediator_person_id", UUID, nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("by_party_choice", sa.Boolean(), nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["mediation_case.id"], name="fk_case_assignment_case_id_mediation_case",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_case_assignment"),
    )
    op.create_index("ix_case_assignment_case_id", "case_assignment", ["case_id"])

    op.create_table(
        "case_session",
        sa.Column("id", UUID, nullable=False),
        sa.Column("case_id", UUID, nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("attendee_party_ids", TEXTS, nullable=False),
        sa.Column("mediator_person_ids", TEXTS, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["mediation_case.id"], name="fk_case_session_case_id_mediation_case",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_case_session"),
    )
    op.create_index("ix_case_session_case_id", "case_session", ["case_id"])

    op.create_table(
        "agreement",
        sa.Column("id", UUID, nullable=False),
        sa.Column("case_id", UUID, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("mediator_person_id", UUID, nullable=False),
        sa.Column("reached_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["mediation_case.id"], name="fk_agreement_case_id_mediation_case",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_agreement"),
    )
    op.create_index("ix_agreement_case_id", "agreement", ["case_id"])

    op.create_table(
        "agreement_signature",
        sa.Column("agreement_id", UUID, nullable=False),
        sa.Column("signer_id", sa.Text(), nullable=False),
        sa.Column("signer_kind", sa.Text(), nullable=False),
        sa.Column("signed_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreement.id"],
                                name="fk_agreement_signature_agreement_id_agreement", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("agreement_id", "signer_id", name="pk_agreement_signature"),
    )

    op.create_table(
        "case_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("case_id", UUID, nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("from_level", sa.Text(), nullable=True),
        sa.Column("to_level", sa.Text(), nullable=False),
        sa.Column("automatic", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["mediation_case.id"], name="fk_case_history_case_id_mediation_case",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_case_history"),
    )
    op.create_index("ix_case_history_case_id", "case_history", ["case_id"])

    op.create_table(
        "case_warning",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("case_id", UUID, nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("warning", sa.Text(), nullable=False),
        sa.Column("deadline_at", TS, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["mediation_case.id"], name="fk_case_warning_case_id_mediation_case",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_case_warning"),
        sa.UniqueConstraint("case_id", "level", "warning", name="uq_case_warning_case_id"),
    )

    op.create_table(
        "case_notice",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("case_id", UUID, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["mediation_case.id"], name="fk_case_notice_case_id_mediation_case",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_case_notice"),
    )
    op.create_index("ix_case_notice_case_id", "case_notice", ["case_id"])

    op.create_table(
        "police_notification",
        sa.Column("id", UUID, nullable=False),
        sa.Column("case_id", UUID, nullable=False),
        sa.Column("reasons", TEXTS, nullable=False),
        sa.Column("flagged_by", sa.Text(), nullable=False),
        sa.Column("flagged_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["mediation_case.id"],
                                name="fk_police_notification_case_id_mediation_case", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_police_notification"),
    )
    op.create_index("ix_police_notification_case_id", "police_notification", ["case_id"])


def downgrade() -> None:
    for table in ("police_notification", "case_notice", "case_warning", "case_history", "agreement_signature",
                  "agreement", "case_session", "case_assignment", "case_party", "outside_person", "mediation_case"):
        op.drop_table(table)
