"""Residents' requests that a residents' meeting be called on a matter.

Revision ID: matters_0018
Revises: matters_0017
Create Date: 2026-11-29 21:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "matters_0018"
down_revision = "matters_0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meeting_request",
        sa.Column("matter_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("matter.matter_id"), primary_key=True),
        sa.Column("person_sub", sa.Text(), primary_key=True),
        sa.Column("household_code", sa.Text(collation="C"), nullable=False),
        sa.Column("adult", sa.Boolean(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("meeting_request")
