"""Items keep the transaction and order of their last change, for the public feed of changes (order=changes): a
platform that synchronises learns of an item withdrawn, re-titled or re-counted, not only of new ones.

Revision ID: disclosure_0010
Revises: disclosure_0009
Create Date: 2026-11-29 14:00:00
"""

import sqlalchemy as sa
from alembic import op

from youmin.kit.outbox import Xid8

revision = "disclosure_0010"
down_revision = "disclosure_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("disclosure_item", sa.Column("changed_txid", Xid8(), server_default=sa.text("pg_current_xact_id()"),
                                               nullable=False))
    op.add_column("disclosure_item", sa.Column("change_seq", sa.BigInteger(), sa.Identity(), nullable=False))
    op.create_index("ix_disclosure_item_changes", "disclosure_item", ["changed_txid", "change_seq"])
    # Every change of a row, whoever makes it (a withdrawal, a title withheld, a count refreshed, a unit re-coded),
    # moves it to the end of the feed of changes.
    op.execute("""
        CREATE FUNCTION disclosure_item_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.changed_txid := pg_current_xact_id();
            NEW.change_seq := nextval(pg_get_serial_sequence('disclosure_item', 'change_seq'));
            RETURN NEW;
        END
        $$""")
    op.execute("CREATE TRIGGER disclosure_item_changed BEFORE UPDATE ON disclosure_item "
               "FOR EACH ROW EXECUTE FUNCTION disclosure_item_changed()")


def downgrade() -> None:
    op.execute("DROP TRIGGER disclosure_item_changed ON disclosure_item")
    op.execute("DROP FUNCTION disclosure_item_changed()")
    op.drop_index("ix_disclosure_item_changes", table_name="disclosure_item")
    op.drop_column("disclosure_item", "change_seq")
    op.drop_column("disclosure_item", "changed_txid")
