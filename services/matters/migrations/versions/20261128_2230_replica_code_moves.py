"""The replica remembers units that moved (old code -> current code), so that a registry event sent before a move
and delivered after it is re-coded on the way in, and one sent after it and delivered first does not collide.

Revision ID: matters_0010
Revises: matters_0009
Create Date: 2026-11-28 22:30:00
"""

from youmin.kit.replica import create_code_move_table, drop_code_move_table

revision = "matters_0010"
down_revision = "matters_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_code_move_table()


def downgrade() -> None:
    drop_code_move_table()
