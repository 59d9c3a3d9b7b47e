"""The transaction-id horizon below which every row of this database is settled (committed or aborted).

Rows stamped with `pg_current_xact_id()` are read in order only while their transaction id is below the
oldest transaction that may still be writing to this database; a row of a transaction that is still running
is invisible, and a later row must not overtake it. `pg_snapshot_xmin` alone is cluster-wide: a long
transaction in another service's database would hold every relay and feed back. So the horizon ignores the
in-progress transactions that pg_stat_activity shows running in another database; anything it cannot place
(a transaction that ended meanwhile, a backend whose details are hidden by permissions) still counts, which
errs on the side of waiting.
"""

# A scalar SQL expression of type xid8, evaluated once per statement against the statement's snapshot.
SETTLED_BELOW = """(
    SELECT coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot()))
    FROM pg_snapshot_xip(pg_current_snapshot()) AS x
    WHERE (x::text::numeric % 4294967296)::text NOT IN (
        SELECT backend_xid::text FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND datname IS NOT NULL AND datname <> current_database()
    )
)"""
