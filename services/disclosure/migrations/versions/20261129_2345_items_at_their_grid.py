"""Items published at a building's or building unit's code (a unit head's duty, a matter raised at a building unit)
are placed at its grid, as the board now publishes them: a finer code, and its name, locate homes. The codes in
their content go to the grid too.

Revision ID: disclosure_0012
Revises: disclosure_0011
Create Date: 2026-11-29 23:45:00
"""

from alembic import op

from services.disclosure.settings import Settings

revision = "disclosure_0012"
down_revision = "disclosure_0011"
branch_labels = None
depends_on = None

# The content keys that name a place by its code (services.disclosure.service.PLACE_CODE_KEYS when this was written).
PLACE_CODE_KEYS = ("unit_code", "scope_code")


def upgrade() -> None:
    grid = 12 + Settings().grid_serial_width  # the length of a grid's code, as the service reads codes
    op.execute(f"UPDATE disclosure_item SET unit_code = left(unit_code, {grid}) WHERE length(unit_code) > {grid}")
    for key in PLACE_CODE_KEYS:
        op.execute(f"UPDATE disclosure_item SET content = jsonb_set(content, '{{{key}}}', "
                   f"to_jsonb(left(content->>'{key}', {grid}))) "
                   f"WHERE jsonb_typeof(content->'{key}') = 'string' AND length(content->>'{key}') > {grid}")


def downgrade() -> None:
    pass  # the finer codes are not kept: they are what the board must not show
