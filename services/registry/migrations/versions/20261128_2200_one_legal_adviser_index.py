"""One legal adviser per community, held by the database too: two grants made at once both passed the check.

Where that race already left a community with two active legal advisers, the earliest grant is kept and the others
are revoked first, as a revocation through the API is recorded (revoked_on, and role.revoked on the outbox for the
other services' replicas); otherwise the index could not be built and the whole upgrade would fail.

Revision ID: registry_0007
Revises: registry_0006
Create Date: 2026-11-28 22:00:00
"""

import sqlalchemy as sa
from alembic import op

from youmin.kit.logging import get_logger

revision = "registry_0007"
down_revision = "registry_0006"
branch_labels = None
depends_on = None

log = get_logger("youmin.registry.migrations")

# The earliest active grant of each community is the one in effect first; on the same day, the one whose
# role.granted event was written first (while the outbox still keeps it), then by id. The event is written as this
# revision knows role.revoked (v1), as youmin.kit.outbox.publish writes it.
REVOKE_EXTRA_ADVISERS = """
WITH doubled AS (
    SELECT scope_code FROM role_grant WHERE role = 'legal_adviser' AND revoked_on IS NULL
    GROUP BY scope_code HAVING count(*) > 1),
ranked AS (
    SELECT g.grant_id, row_number() OVER (
               PARTITION BY g.scope_code ORDER BY g.effective_on, granted.first_id NULLS LAST, g.grant_id) AS n
    FROM role_grant g JOIN doubled d ON d.scope_code = g.scope_code
    LEFT JOIN LATERAL (
        SELECT min(o.id) AS first_id FROM outbox_event o
        WHERE o.type = 'gov.youmin.registry.role.granted.v1' AND o.key = g.person_id::text
        AND o.data->>'grant_id' = g.grant_id::text) granted ON true
    WHERE g.role = 'legal_adviser' AND g.revoked_on IS NULL),
revoked AS (
    UPDATE role_grant g SET revoked_on = greatest(g.effective_on, (now() AT TIME ZONE 'Asia/Shanghai')::date)
    FROM ranked r WHERE r.grant_id = g.grant_id AND r.n > 1
    RETURNING g.grant_id, g.person_id, g.role, g.scope_code, g.revoked_on)
INSERT INTO outbox_event (event_id, topic, key, type, source, subject, dataschema, time, data)
SELECT registry_uuid7(), 'registry.people', person_id::text, 'gov.youmin.registry.role.revoked.v1', '/youmin/registry',
       person_id::text, 'urn:youmin:contracts:events:gov.youmin.registry.role.revoked.v1', clock_timestamp(),
       json_build_object('grant_id', grant_id, 'person_id', person_id, 'role', role, 'scope_code', scope_code,
                         'effective_on', revoked_on)
FROM revoked ORDER BY scope_code, grant_id
RETURNING key
"""


def upgrade() -> None:
    revoked = len(op.get_bind().execute(sa.text(REVOKE_EXTRA_ADVISERS)).all())
    if revoked:
        log.warning("registry.migration.extra_legal_advisers_revoked", revision=revision, revoked=revoked)
    else:
        log.info("registry.migration.extra_legal_advisers_revoked", revision=revision, revoked=0)
    op.create_index("uq_role_grant_scope_code", "role_grant", ["scope_code"], unique=True,
                    postgresql_where=sa.text("role = 'legal_adviser' AND revoked_on IS NULL"))


def downgrade() -> None:
    # The grants revoked on the way up stay revoked: which of them was meant to hold is not known.
    op.drop_index("uq_role_grant_scope_code", table_name="role_grant")
