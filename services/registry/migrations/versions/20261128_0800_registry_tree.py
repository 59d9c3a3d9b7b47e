"""Org tree, history, party organisations, people and personal data, roles, households, departments,
credentials and import jobs.

Revision ID: registry_0002
Revises: registry_0001
Create Date: 2026-11-28 08:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "registry_0002"
down_revision = "registry_0001"
branch_labels = None
depends_on = None

CODE = sa.Text(collation="C")
UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        "org_unit",
        sa.Column("unit_id", UUID, nullable=False),
        sa.Column("code", CODE, nullable=False),
        sa.Column("parent_id", UUID, nullable=True),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("effective_on", sa.Date(), server_default=sa.func.current_date(), nullable=False),
        sa.Column("retired_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["org_unit.unit_id"], name="fk_org_unit_parent_id_org_unit"),
        sa.PrimaryKeyConstraint("unit_id", name="pk_org_unit"),
        sa.UniqueConstraint("code", name="uq_org_unit_code"),
    )
    op.create_index("ix_org_unit_level_code", "org_unit", ["level", "code"])
    op.create_index("ix_org_unit_parent_id", "org_unit", ["parent_id"])

    op.create_table(
        "org_unit_history",
        sa.Column("history_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("unit_id", UUID, nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("old_code", CODE, nullable=True),
        sa.Column("new_code", CODE, nullable=True),
        sa.Column("old_name", sa.Text(), nullable=True),
        sa.Column("new_name", sa.Text(), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["org_unit.unit_id"], name="fk_org_unit_history_unit_id_org_unit"),
        sa.PrimaryKeyConstraint("history_id", name="pk_org_unit_history"),
    )
    op.create_index("ix_org_unit_history_unit_id", "org_unit_history", ["unit_id"])

    op.create_table(
        "retired_code",
        sa.Column("code", CODE, nullable=False),
        sa.Column("unit_id", UUID, nullable=False),
        sa.Column("retired_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["org_unit.unit_id"], name="fk_retired_code_unit_id_org_unit"),
        sa.PrimaryKeyConstraint("code", name="pk_retired_code"),
    )

    op.create_table(
        "party_org",
        sa.Column("party_org_id", UUID, nullable=False),
        sa.Column("unit_id", UUID, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("six_haves", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["org_unit.unit_id"], name="fk_party_org_unit_id_org_unit"),
        sa.PrimaryKeyConstraint("party_org_id", name="pk_party_org"),
        sa.UniqueConstraint("unit_id", name="uq_party_org_unit_id"),
    )

    op.create_table(
        "person",
        sa.Column("person_id", UUID, nullable=False),
        sa.Column("household_id", UUID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["org_unit.unit_id"], name="fk_person_household_id_org_unit"),
        sa.PrimaryKeyConstraint("person_id", name="pk_person"),
    )
    op.create_index("ix_person_household_id", "person", ["household_id"])

    op.create_table(
        "person_personal",
        sa.Column("person_id", UUID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.person_id"], name="fk_person_personal_person_id_person",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", name="pk_person_personal"),
        sa.UniqueConstraint("phone", name="uq_person_personal_phone"),
        sa.UniqueConstraint("id_number", name="uq_person_personal_id_number"),
    )

    op.create_table(
        "role_grant",
        sa.Column("grant_id", UUID, nullable=False),
        sa.Column("person_id", UUID, nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("scope_code", CODE, nullable=False),
        sa.Column("certified_social_worker", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("from_organisation", sa.Text(), nullable=True),
        sa.Column("effective_on", sa.Date(), server_default=sa.func.current_date(), nullable=False),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.person_id"], name="fk_role_grant_person_id_person"),
        sa.PrimaryKeyConstraint("grant_id", name="pk_role_grant"),
    )
    op.create_index("ix_role_grant_person_id", "role_grant", ["person_id"])
    op.create_index("ix_role_grant_role_scope_code", "role_grant", ["role", "scope_code"])
    op.create_index("uq_role_grant_active", "role_grant", ["person_id", "role", "scope_code"], unique=True,
                    postgresql_where=sa.text("revoked_on IS NULL"))

    op.create_table(
        "household",
        sa.Column("unit_id", UUID, nullable=False),
        sa.Column("representative_person_id", UUID, nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["org_unit.unit_id"], name="fk_household_unit_id_org_unit"),
        sa.ForeignKeyConstraint(["representative_person_id"], ["person.person_id"],
                                name="fk_household_representative_person_id_person"),
        sa.PrimaryKeyConstraint("unit_id", name="pk_household"),
    )

    op.create_table(
        "household_proxy",
        sa.Column("household_id", UUID, nullable=False),
        sa.Column("person_id", UUID, nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.unit_id"], name="fk_household_proxy_household_id_household"),
        sa.ForeignKeyConstraint(["person_id"], ["person.person_id"], name="fk_household_proxy_person_id_person"),
        sa.PrimaryKeyConstraint("household_id", "person_id", name="pk_household_proxy"),
    )

    op.create_table(
        "household_contact",
        sa.Column("household_id", UUID, nullable=False),
        sa.Column("person_id", UUID, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.unit_id"],
                                name="fk_household_contact_household_id_household"),
        sa.ForeignKeyConstraint(["person_id"], ["person.person_id"], name="fk_household_contact_person_id_person"),
        sa.PrimaryKeyConstraint("household_id", "person_id", "kind", name="pk_household_contact"),
    )

    op.create_table(
        "department",
        sa.Column("department_code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("department_code", name="pk_department"),
    )

    op.create_table(
        "department_assignment",
        sa.Column("department_code", sa.Text(), nullable=False),
        sa.Column("community_id", UUID, nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("effective_on", sa.Date(), server_default=sa.func.current_date(), nullable=False),
        sa.ForeignKeyConstraint(["department_code"], ["department.department_code"],
                                name="fk_department_assignment_department_code_department"),
        sa.ForeignKeyConstraint(["community_id"], ["org_unit.unit_id"],
                                name="fk_department_assignment_community_id_org_unit"),
        sa.PrimaryKeyConstraint("department_code", "community_id", name="pk_department_assignment"),
    )

    op.create_table(
        "social_organisation",
        sa.Column("organisation_id", UUID, nullable=False),
        sa.Column("community_id", UUID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["org_unit.unit_id"],
                                name="fk_social_organisation_community_id_org_unit"),
        sa.PrimaryKeyConstraint("organisation_id", name="pk_social_organisation"),
    )
    op.create_index("ix_social_organisation_community_id", "social_organisation", ["community_id"])

    op.create_table(
        "credential",
        sa.Column("person_id", UUID, nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.person_id"], name="fk_credential_person_id_person"),
        sa.PrimaryKeyConstraint("person_id", name="pk_credential"),
    )

    op.create_table(
        "import_job",
        sa.Column("import_id", UUID, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("rows_read", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_created", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("errors", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("import_id", name="pk_import_job"),
    )


def downgrade() -> None:
    for table in ("import_job", "credential", "social_organisation", "department_assignment", "department",
                  "household_contact", "household_proxy", "household", "role_grant", "person_personal", "person",
                  "party_org", "retired_code", "org_unit_history", "org_unit"):
        op.drop_table(table)
