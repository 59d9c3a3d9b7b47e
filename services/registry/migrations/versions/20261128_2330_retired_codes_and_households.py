"""Backfills two things the tree promised but did not always hold:
- every retired unit's current code is in retired_code: a move re-coded the retired units below it, and their new
  codes were not recorded, so an import could issue them again;
- every household-level unit has its household row: a units import created household codes without one, so the
  households page, coverage and a later households import disagreed about them.

Revision ID: registry_0010
Revises: registry_0009
Create Date: 2026-11-28 23:30:00
"""

from alembic import op

revision = "registry_0010"
down_revision = "registry_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """INSERT INTO retired_code (code, unit_id, retired_on, reason)
           SELECT code, unit_id, retired_on, 'retired' FROM org_unit WHERE retired_on IS NOT NULL
           ON CONFLICT (code) DO NOTHING"""
    )
    op.execute(
        """INSERT INTO household (unit_id)
           SELECT u.unit_id FROM org_unit u
           WHERE u.level = 'household' AND NOT EXISTS (SELECT 1 FROM household h WHERE h.unit_id = u.unit_id)"""
    )


def downgrade() -> None:
    # The backfilled rows are what the code writes anyway: nothing to undo.
    pass
