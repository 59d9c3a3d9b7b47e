"""The local replica of the registry (org tree, grants, residents, households), fed by registry events.

Revision ID: mediation_0002
Revises: mediation_0001
Create Date: 2026-11-28 08:50:00
"""

from youmin.kit.replica import create_replica_tables, drop_replica_tables

revision = "mediation_0002"
down_revision = "mediation_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_replica_tables()


def downgrade() -> None:
    drop_replica_tables()
