"""The joint conference's shipped members: 32 city-level units, 15 district departments, 6 committees.

Revision ID: registry_0003
Revises: registry_0002
Create Date: 2026-11-28 08:01:00
"""

import csv
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "registry_0003"
down_revision = "registry_0002"
branch_labels = None
depends_on = None

DATA = Path(__file__).resolve().parents[2] / "data" / "departments.csv"


def upgrade() -> None:
    with DATA.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    table = sa.table("department", sa.column("department_code"), sa.column("name"), sa.column("kind"))
    op.bulk_insert(table, rows)


def downgrade() -> None:
    op.execute("DELETE FROM department")
