"""The local replica of the registry (org tree, grants, residents, households, department assignments).

Revision ID: matters_0003
Revises: matters_0002
Create Date: 2026-11-28 08:10:00
"""

from youmin.kit.replica import create_replica_tables, drop_replica_tables

revision = "matters_0003"
down_revision = "matters_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_replica_tables()


def downgrade() -> None:
    drop_replica_tables()
