"""A local replica of the registry (org tree, role grants, residents, households, department assignments),
kept by any service from the registry's events so that "is grid X inside street Y" is a local query.

A service declares the tables with `replica_tables(Base.metadata)`, creates them in a migration with
`create_replica_tables()`, and runs `replica_consumer("<service>-replica")` among its consumers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
from cloudevents.core.base import BaseCloudEvent
from sqlalchemy import Boolean, Column, Date, DateTime, Index, MetaData, PrimaryKeyConstraint, Table, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from youmin.kit.logging import get_logger
from youmin.kit.service import ConsumerSpec

log = get_logger("youmin.replica")

PREFIX = "gov.youmin.registry."

# An org unit code of the district's scheme (registry.rules.codes): district 6 digits, street 9, community 12, then
# a grid's serial (3 digits by default; the district's choice, 1 to 6) with building 3, unit 2 and household 4 more:
# 13 to 27 digits below a community, never starting with 0. No phone number (11 digits) has one of these shapes, so
# a code a caller sends and a response repeats can never read as one. Where the exact level matters, a service
# checks the lengths of its configured width.
UNIT_CODE_PATTERN = r"^[1-9][0-9]{5}([0-9]{3}([0-9]{3}([0-9]{1,15})?)?)?$"


def replica_tables(metadata: MetaData) -> dict[str, Table]:
    """Declares the replica tables on a service's metadata."""
    return {
        "unit": Table(
            "replica_unit", metadata,
            Column("code", Text, primary_key=True),
            Column("unit_id", UUID(as_uuid=False), nullable=False, unique=True),
            Column("parent_code", Text),
            Column("level", Text, nullable=False),
            Column("unit_name", Text),
            Column("retired", Boolean, nullable=False, server_default=text("false")),
            Column("effective_on", Date),
            Index("ix_replica_unit_parent_code", "parent_code"),
            Index("ix_replica_unit_code_prefix", "code", postgresql_ops={"code": "text_pattern_ops"}),
        ),
        "grant": Table(
            "replica_grant", metadata,
            Column("grant_id", UUID(as_uuid=False), primary_key=True),
            Column("person_id", UUID(as_uuid=False), nullable=False, index=True),
            Column("role", Text, nullable=False),
            Column("scope_code", Text, nullable=False),
            Column("certified_social_worker", Boolean, nullable=False, server_default=text("false")),
            Column("active", Boolean, nullable=False, server_default=text("true")),
            Index("ix_replica_grant_role_scope", "role", "scope_code", postgresql_ops={"scope_code": "text_pattern_ops"}),
        ),
        "resident": Table(
            "replica_resident", metadata,
            Column("person_id", UUID(as_uuid=False), primary_key=True),
            Column("household_code", Text),
            Column("adult", Boolean, nullable=False),
            Column("changed_at", DateTime(timezone=True)),  # the time of the event that wrote the row
            Index("ix_replica_resident_household", "household_code", postgresql_ops={"household_code": "text_pattern_ops"}),
        ),
        "household": Table(
            "replica_household", metadata,
            Column("household_code", Text, primary_key=True),
            Column("representative_person_id", UUID(as_uuid=False)),
            Column("proxy_person_ids", ARRAY(UUID(as_uuid=False)), nullable=False, server_default=text("'{}'")),
            Column("changed_at", DateTime(timezone=True)),
        ),
        "department": Table(
            "replica_department_assignment", metadata,
            Column("department_code", Text, nullable=False),
            Column("community_code", Text, nullable=False),
            Column("active", Boolean, nullable=False),
            Column("changed_at", DateTime(timezone=True)),
            PrimaryKeyConstraint("department_code", "community_code", name="pk_replica_department_assignment"),
        ),
        # Units that moved, old code -> current code. An event can arrive after a move although it was sent before
        # it (another key, partition or topic): the codes it names are re-coded on the way in.
        "move": Table(
            "replica_code_move", metadata,
            Column("old_code", Text, primary_key=True),
            Column("new_code", Text, nullable=False),
        ),
    }


def create_replica_tables() -> None:
    """Creates the first replica tables and their indexes; called from a service's first replica migration (the
    tables added later have migrations of their own)."""
    from alembic import op

    tables = replica_tables(MetaData(naming_convention=_naming()))
    for name in ("unit", "grant", "resident", "household", "department"):
        tables[name].create(op.get_bind())
    # The tables as they were first made: a column added since comes with a migration of its own.
    for table, column in _COLUMNS_ADDED_LATER:
        op.drop_column(table, column)


# Columns of the first replica tables that later migrations add (youmin.kit.migrate.replica_changed_at).
_COLUMNS_ADDED_LATER = (("replica_resident", "changed_at"), ("replica_household", "changed_at"),
                        ("replica_department_assignment", "changed_at"))


def create_code_move_table() -> None:
    """Creates the table of moved units' codes (added after the first replica tables); called from a migration."""
    from alembic import op

    replica_tables(MetaData(naming_convention=_naming()))["move"].create(op.get_bind())


def drop_code_move_table() -> None:
    """Drops the table of moved units' codes (migration downgrade)."""
    from alembic import op

    op.drop_table("replica_code_move")


def drop_replica_tables() -> None:
    """Drops the replica tables (migration downgrade)."""
    from alembic import op

    for name in ("replica_department_assignment", "replica_household", "replica_resident", "replica_grant",
                 "replica_unit"):
        op.drop_table(name)


def _naming() -> dict[str, str]:
    from youmin.kit.db import NAMING_CONVENTION

    return NAMING_CONVENTION


# --- handlers: one per registry event type ------------------------------------------------------------
# A handler checks what it takes from an event before writing: a malformed event raises, so the consumer retries it
# and then sends it to the dead-letter topic, instead of writing "false" as true or re-coding the whole replica.

LEVELS = frozenset({"district", "street", "community", "grid", "building", "unit", "household"})
# ASCII digits from a district's six on: the registry owns the widths of the levels below (its grid width is
# configurable), so the replica does not second-guess them.
_CODE = re.compile(r"[1-9][0-9]{5,29}")


def _code(d: dict[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = d.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValueError(f"{name}: {value!r} is not an org-unit code")
    return value


def _flag(d: dict[str, Any], name: str, default: bool | None = None) -> bool:
    value = d.get(name, default)
    if type(value) is not bool:
        raise ValueError(f"{name}: {value!r} is not a boolean")
    return value


def _current(param: str) -> str:
    """SQL for the current code of the code bound as `param`: re-coded if it lies under a unit that moved since.
    Bind `<param>_prefixes` with _prefixes(code) beside it."""
    return (f"coalesce((SELECT m.new_code || substr(:{param}, length(m.old_code) + 1) FROM replica_code_move m "
            f"WHERE m.old_code = ANY(CAST(:{param}_prefixes AS text[])) ORDER BY length(m.old_code) DESC LIMIT 1), "
            f":{param})")


# session.info key: (the code a unit's rows were moved from, the code they went to) by the last unit.moved applied.
MOVED_FROM = "youmin.replica.moved_from"


def take_moved_from(session: AsyncSession) -> tuple[str, str] | None:
    """Returns (and forgets) where the unit.moved just applied took the replica's rows from and to: a service moves its
    own rows the same way (the unit may not have been at the move's old code, see _unit_moved)."""
    return session.info.pop(MOVED_FROM, None)


def code_today(code: str, moves: dict[str, str]) -> str:
    """Returns a code as it is today, given the recorded moves (old code -> today's code): re-coded by the longest
    moved code above it (a unit that moved on its own after its parent did maps by its own move)."""
    old = next((code[:n] for n in range(len(code), 5, -1) if code[:n] in moves), None)
    return moves[old] + code[len(old):] if old is not None else code


def code_prefixes(codes: Iterable[str]) -> list[str]:
    """The codes some codes lie under, themselves included (a district's six digits and longer): where a move of any
    of them is recorded."""
    return sorted({code[:n] for code in codes for n in range(6, len(code) + 1)})


async def codes_today(session: AsyncSession | asyncpg.Connection, codes: Iterable[str]) -> dict[str, str]:
    """Returns the code each of several codes has today, in one look-up: re-coded under a unit that moved since (a
    caller or a late event may name a unit by the code it had before). `session` may be the transaction's asyncpg
    connection (youmin.kit.db.driver_connection)."""
    codes = list(dict.fromkeys(codes))
    prefixes = code_prefixes(codes)
    if not prefixes:
        return {code: code for code in codes}
    if isinstance(session, asyncpg.Connection):
        moves = dict(await session.fetch(
            "SELECT old_code, new_code FROM replica_code_move WHERE old_code = ANY(CAST($1 AS text[]))", prefixes))
    else:
        moves = dict((await session.execute(text(
            "SELECT old_code, new_code FROM replica_code_move WHERE old_code = ANY(CAST(:p AS text[]))"),
            {"p": prefixes})).all())
    return {code: code_today(code, moves) for code in codes}


async def moves_into(session: AsyncSession, code: str) -> list[tuple[str, str]]:
    """Returns every recorded move (old code, today's code) whose code today lies at or under a unit's code, longest
    old code first: a service re-codes its own rows with them when the unit has moved (a row under a unit that moved on
    its own is re-coded by that move, not by its ancestor's). The unit's code is first read as it is today: a move
    recorded under a code that has moved since (it arrived after that later move of a unit above it) is looked for
    there."""
    today = await session.scalar(text(f"SELECT {_current('code')}"), {"code": code, "code_prefixes": _prefixes(code)})
    rows = await session.execute(text(
        "SELECT old_code, new_code FROM replica_code_move WHERE new_code LIKE :p "
        "ORDER BY length(old_code) DESC, old_code"), {"p": _like_prefix(today)})
    return [(old, new) for old, new in rows.all()]


async def all_moves(session: AsyncSession) -> dict[str, str]:
    """Returns every recorded move, old code -> today's code."""
    return dict((await session.execute(text("SELECT old_code, new_code FROM replica_code_move"))).all())


def _prefixes(code: str | None) -> list[str]:
    """The codes a code lies under, itself included (a district's six digits and longer)."""
    return [code[:n] for n in range(6, len(code) + 1)] if code else []


def _under(code: str, parent: str | None, name: str) -> None:
    if parent is not None and not (code.startswith(parent) and len(code) > len(parent)):
        raise ValueError(f"{name}: {code} does not extend its parent's code {parent}")


async def _unit_created(session: AsyncSession, event: BaseCloudEvent) -> None:
    d = event.get_data()
    code, parent = _code(d, "unit_code"), _code(d, "parent_code", optional=True)
    _under(code, parent, "unit_code")
    if d.get("level") not in LEVELS:
        raise ValueError(f"level: {d.get('level')!r} is not a level of the tree")
    await session.execute(text(
        f"""
        INSERT INTO replica_unit (code, unit_id, parent_code, level, unit_name, retired, effective_on)
        VALUES ({_current("code")}, :unit_id, {_current("parent")}, :level, :name, false, :on)
        ON CONFLICT (code) DO UPDATE SET unit_id = EXCLUDED.unit_id, parent_code = EXCLUDED.parent_code,
            level = EXCLUDED.level, unit_name = EXCLUDED.unit_name, effective_on = EXCLUDED.effective_on
        """),
        {"code": code, "code_prefixes": _prefixes(code), "unit_id": d["unit_id"], "parent": parent,
         "parent_prefixes": _prefixes(parent), "level": d["level"], "name": d.get("unit_name"),
         "on": date.fromisoformat(d["effective_on"])},
    )


class UnitNotReplicated(LookupError):
    """An event changes a unit whose creation the replica has not applied (dead-lettered, say): refused, it is retried
    and then dead-lettered behind the creation, and the two are sent again in order."""


async def _unit_renamed(session: AsyncSession, event: BaseCloudEvent) -> None:
    d = event.get_data()
    result = await session.execute(text("UPDATE replica_unit SET unit_name = :name WHERE unit_id = :id"),
                                   {"name": d["unit_name"], "id": d["unit_id"]})
    if result.rowcount == 0:
        raise UnitNotReplicated(f"unit_id: unit {d['unit_id']} ({d.get('unit_code')}) is not in the replica")


# Columns holding org codes, re-prefixed when a unit moves (its descendants take new codes too).
_CODE_COLUMNS = (
    ("replica_unit", "code"), ("replica_unit", "parent_code"), ("replica_grant", "scope_code"),
    ("replica_resident", "household_code"), ("replica_household", "household_code"),
    ("replica_department_assignment", "community_code"),
)


# Tables whose key holds a code (first column; the rest of the key beside it).
_UNIQUE_CODE_KEYS = (
    ("replica_unit", ("code",)), ("replica_household", ("household_code",)),
    ("replica_department_assignment", ("community_code", "department_code")),
)


async def _unit_moved(session: AsyncSession, event: BaseCloudEvent) -> None:
    d = event.get_data()
    session.info.pop(MOVED_FROM, None)  # nothing from an earlier event of the same batch
    old, new, parent = _code(d, "old_code"), _code(d, "new_code"), _code(d, "new_parent_code", optional=True)
    if len(old) != len(new):
        raise ValueError(f"new_code: {new} is not at the level of {old}")
    _under(new, parent, "new_code")
    recorded = await session.scalar(text("SELECT new_code FROM replica_code_move WHERE old_code = :old"), {"old": old})
    if recorded is not None and recorded != new:
        # The move was recorded already, and the unit (or a unit above it) has moved on since: this is the same move
        # sent again, and applying it would take the unit back (old codes are never issued again).
        log.info("replica.move_superseded", old_code=old, new_code=new, current_code=recorded)
        return
    # Where the unit is now: at its old code, unless a unit above it moved before it (in the registry) and that move
    # has not arrived yet (events of different units keep no order between them). Its rows move from where they are;
    # the ancestor's move, arriving later, no longer finds them under its old code.
    at = await session.scalar(text("SELECT code FROM replica_unit WHERE unit_id = :id"), {"id": d["unit_id"]})
    if at is None:
        # Its creation has not been applied (dead-lettered): recorded now, the move would be lost when the creation
        # is sent again (it writes the unit at the old code's parent), as a new name or a retirement would be.
        raise UnitNotReplicated(f"unit_id: unit {d['unit_id']} ({old}) is not in the replica")
    source = at if at is not None and at not in (old, new) and len(at) == len(old) else old
    # `at` is a code the registry gave the unit (to record as one of its old codes) only when no move that arrived
    # explains it. An ancestor's move published after this one, arriving first, also takes the unit along: then `at`
    # is a code the registry never issued to it (and may yet issue to another unit), and only `old` is recorded.
    explained = source != old and await session.scalar(
        text(f"SELECT {_current('old')}"), {"old": old, "old_prefixes": _prefixes(old)}) == source
    # And where it goes: under its new parent as the parent is today (a move of the parent, published after this one,
    # may have arrived first).
    target = await session.scalar(text(f"SELECT {_current('new')}"), {"new": new, "new_prefixes": _prefixes(new)})
    if parent is not None:
        parent = await session.scalar(text(f"SELECT {_current('parent')}"),
                                      {"parent": parent, "parent_prefixes": _prefixes(parent)})
    new = target
    # The services' own rows follow where the replica's went (they look up the moves into `new`, and this one).
    session.info[MOVED_FROM] = (source, new)
    for prefix in dict.fromkeys((old,) if explained else (source, old)):
        recode = {"new": new, "cut": len(prefix) + 1, "pattern": _like_prefix(prefix)}
        # Later moves of what earlier moves led to: every recorded old code maps straight to today's code.
        await session.execute(text("UPDATE replica_code_move SET new_code = :new || substr(new_code, :cut) "
                                   "WHERE new_code LIKE :pattern"), recode)
        await session.execute(text("INSERT INTO replica_code_move (old_code, new_code) VALUES (:old, :new) "
                                   "ON CONFLICT (old_code) DO UPDATE SET new_code = EXCLUDED.new_code"),
                              {"old": prefix, "new": new})
        # The unit moving now may itself lie under an earlier move's new code: its code before that move maps here
        # too.
        await session.execute(text(
            "INSERT INTO replica_code_move (old_code, new_code) "
            "SELECT m.old_code || substr(:old, length(m.new_code) + 1), :new FROM replica_code_move m "
            "WHERE m.new_code = ANY(CAST(:old_prefixes AS text[])) AND m.new_code <> :old "
            "ON CONFLICT (old_code) DO UPDATE SET new_code = EXCLUDED.new_code"),
            {"old": prefix, "new": new, "old_prefixes": _prefixes(prefix)})
    recode = {"new": new, "cut": len(source) + 1, "pattern": _like_prefix(source)}
    # A row already under the new code was written by an event sent after the move (it arrived first): it is the
    # newer one, and the old row it would collide with goes.
    for table, columns in _UNIQUE_CODE_KEYS:
        code, others = columns[0], columns[1:]
        same = "".join(f" AND n.{c} = o.{c}" for c in others)
        await session.execute(text(
            f"DELETE FROM {table} o WHERE o.{code} LIKE :pattern AND EXISTS "
            f"(SELECT 1 FROM {table} n WHERE n.{code} = :new || substr(o.{code}, :cut){same})"), recode)
    for table, column in _CODE_COLUMNS:
        await session.execute(text(
            f"UPDATE {table} SET {column} = :new || substr({column}, :cut) "
            f"WHERE {column} LIKE :pattern"), recode)
    await session.execute(text("UPDATE replica_unit SET parent_code = :parent WHERE unit_id = :id"),
                          {"parent": parent, "id": d["unit_id"]})


async def _unit_retired(session: AsyncSession, event: BaseCloudEvent) -> None:
    d = event.get_data()
    result = await session.execute(text("UPDATE replica_unit SET retired = true WHERE unit_id = :id"),
                                   {"id": d["unit_id"]})
    if result.rowcount == 0:
        raise UnitNotReplicated(f"unit_id: unit {d['unit_id']} ({d.get('unit_code')}) is not in the replica")


async def _role_granted(session: AsyncSession, event: BaseCloudEvent) -> None:
    d = event.get_data()
    await session.execute(text(
        f"""
        INSERT INTO replica_grant (grant_id, person_id, role, scope_code, certified_social_worker, active)
        VALUES (:grant_id, :person_id, :role, {_current("scope")}, :certified, true)
        ON CONFLICT (grant_id) DO UPDATE SET role = EXCLUDED.role, scope_code = EXCLUDED.scope_code,
            certified_social_worker = EXCLUDED.certified_social_worker, active = replica_grant.active
        """),
        {"grant_id": d["grant_id"], "person_id": d["person_id"], "role": d["role"], "scope": _code(d, "scope_code"),
         "scope_prefixes": _prefixes(d["scope_code"]), "certified": _flag(d, "certified_social_worker", False)},
    )


async def _role_revoked(session: AsyncSession, event: BaseCloudEvent) -> None:
    # A grant is granted once and revoked at most once: the revocation is kept even when it arrives before the grant
    # (a grant that was dead-lettered and sent again later), and a grant applied after it stays revoked.
    d = event.get_data()
    await session.execute(text(
        f"""
        INSERT INTO replica_grant (grant_id, person_id, role, scope_code, active)
        VALUES (:grant_id, :person_id, :role, {_current("scope")}, false)
        ON CONFLICT (grant_id) DO UPDATE SET active = false
        """),
        {"grant_id": d["grant_id"], "person_id": d["person_id"], "role": d["role"], "scope": _code(d, "scope_code"),
         "scope_prefixes": _prefixes(d["scope_code"])},
    )


def _newer(table: str) -> str:
    """The condition under which an event overwrites a row: it is not older than the event that wrote the row. A
    record sent back from a dead-letter topic, or one whose key changed when its unit moved (another partition),
    can arrive after a later one; the later stays."""
    return (f"EXCLUDED.changed_at IS NULL OR {table}.changed_at IS NULL "
            f"OR {table}.changed_at <= EXCLUDED.changed_at")


async def _residency_changed(session: AsyncSession, event: BaseCloudEvent) -> None:
    d = event.get_data()
    await session.execute(text(
        f"""
        INSERT INTO replica_resident (person_id, household_code, adult, changed_at)
        VALUES (:person_id, {_current("household")}, :adult, :at)
        ON CONFLICT (person_id) DO UPDATE SET household_code = EXCLUDED.household_code, adult = EXCLUDED.adult,
            changed_at = EXCLUDED.changed_at
        WHERE {_newer("replica_resident")}
        """),
        {"person_id": d["person_id"], "household": _code(d, "household_code", optional=True),
         "household_prefixes": _prefixes(d.get("household_code")), "adult": _flag(d, "adult"),
         "at": event.get_time()},
    )


async def _representative_set(session: AsyncSession, event: BaseCloudEvent) -> None:
    d = event.get_data()
    await session.execute(text(
        f"""
        INSERT INTO replica_household (household_code, representative_person_id, proxy_person_ids, changed_at)
        VALUES ({_current("household")}, :rep, CAST(:proxies AS uuid[]), :at)
        ON CONFLICT (household_code) DO UPDATE SET representative_person_id = EXCLUDED.representative_person_id,
            proxy_person_ids = EXCLUDED.proxy_person_ids, changed_at = EXCLUDED.changed_at
        WHERE {_newer("replica_household")}
        """),
        {"household": _code(d, "household_code"), "household_prefixes": _prefixes(d["household_code"]),
         "rep": d.get("representative_person_id"),
         "proxies": list(d.get("proxy_person_ids") or []), "at": event.get_time()},
    )


async def _department_assigned(session: AsyncSession, event: BaseCloudEvent) -> None:
    d = event.get_data()
    await session.execute(text(
        f"""
        INSERT INTO replica_department_assignment (department_code, community_code, active, changed_at)
        VALUES (:dep, {_current("community")}, :active, :at)
        ON CONFLICT (department_code, community_code) DO UPDATE SET active = EXCLUDED.active,
            changed_at = EXCLUDED.changed_at
        WHERE {_newer("replica_department_assignment")}
        """),
        {"dep": d["department_code"], "community": _code(d, "community_code"),
         "community_prefixes": _prefixes(d["community_code"]), "active": _flag(d, "active"), "at": event.get_time()},
    )


HANDLERS = {
    f"{PREFIX}unit.created.v1": _unit_created,
    f"{PREFIX}unit.renamed.v1": _unit_renamed,
    f"{PREFIX}unit.moved.v1": _unit_moved,
    f"{PREFIX}unit.retired.v1": _unit_retired,
    f"{PREFIX}role.granted.v1": _role_granted,
    f"{PREFIX}role.revoked.v1": _role_revoked,
    f"{PREFIX}residency.changed.v1": _residency_changed,
    f"{PREFIX}household.representative_set.v1": _representative_set,
    f"{PREFIX}department.assigned.v1": _department_assigned,
}


def replica_consumer(name: str) -> ConsumerSpec:
    """Returns the consumer that keeps a service's replica; `name` is its consumer group."""
    return ConsumerSpec(name=name, topics=["registry.units", "registry.people"], handlers=dict(HANDLERS))


async def apply(session: AsyncSession, event: BaseCloudEvent) -> None:
    """Applies one registry event to the replica directly (setup of pure tests, replays)."""
    handler = HANDLERS.get(event.get_type())
    if handler is not None:
        await handler(session, event)


# --- queries ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """One org unit as the replica knows it."""

    code: str
    unit_id: str
    parent_code: str | None
    level: str
    unit_name: str | None
    retired: bool


def _like_prefix(code: str) -> str:
    return code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _unit(row: Any) -> Unit:
    return Unit(row.code, str(row.unit_id), row.parent_code, row.level, row.unit_name, row.retired)


_UNIT_COLUMNS = "code, unit_id, parent_code, level, unit_name, retired"


async def get_unit(session: AsyncSession, code: str) -> Unit | None:
    """Returns a unit by code."""
    row = (await session.execute(text(f"SELECT {_UNIT_COLUMNS} FROM replica_unit WHERE code = :c"), {"c": code})).first()
    return _unit(row) if row else None


async def ancestors(session: AsyncSession, code: str) -> list[Unit]:
    """Returns the unit's ancestors from the top down (the unit itself excluded)."""
    rows = await session.execute(text(
        f"SELECT {_UNIT_COLUMNS} FROM replica_unit WHERE :c LIKE code || '%' AND code <> :c ORDER BY length(code)"),
        {"c": code})
    return [_unit(r) for r in rows]


async def children(session: AsyncSession, code: str, *, include_retired: bool = False) -> list[Unit]:
    """Returns a unit's direct children, by code."""
    rows = await session.execute(text(
        f"SELECT {_UNIT_COLUMNS} FROM replica_unit WHERE parent_code = :c AND (:all OR NOT retired) ORDER BY code"),
        {"c": code, "all": include_retired})
    return [_unit(r) for r in rows]


async def descendants(session: AsyncSession, code: str, *, level: str | None = None) -> list[Unit]:
    """Returns the active units below a code (optionally of one level), by code."""
    rows = await session.execute(text(
        f"SELECT {_UNIT_COLUMNS} FROM replica_unit WHERE code LIKE :p AND code <> :c AND NOT retired "
        "AND (CAST(:level AS text) IS NULL OR level = :level) ORDER BY code"),
        {"p": _like_prefix(code), "c": code, "level": level})
    return [_unit(r) for r in rows]


async def is_within(session: AsyncSession, code: str, scope_code: str) -> bool:
    """Tells whether a known unit lies in a scope (the unit itself or below it)."""
    return code.startswith(scope_code) and await get_unit(session, code) is not None


@dataclass(frozen=True)
class Holder:
    """A person holding a role at a scope."""

    grant_id: str
    person_id: str
    role: str
    scope_code: str
    certified_social_worker: bool


async def holders(
    session: AsyncSession, role: str | Sequence[str], *, within: str | None = None, covering: str | None = None
) -> list[Holder]:
    """Returns active grants of a role whose scope lies within a code, or covers a code."""
    roles = [role] if isinstance(role, str) else list(role)
    rows = await session.execute(text(
        """
        SELECT grant_id, person_id, role, scope_code, certified_social_worker FROM replica_grant
        WHERE active AND role = ANY(:roles)
          AND (CAST(:within AS text) IS NULL OR scope_code LIKE :within_p)
          AND (CAST(:covering AS text) IS NULL OR :covering LIKE scope_code || '%')
        ORDER BY scope_code, person_id
        """),
        {"roles": roles, "within": within, "within_p": _like_prefix(within or ""), "covering": covering})
    return [Holder(str(r.grant_id), str(r.person_id), r.role, r.scope_code, r.certified_social_worker) for r in rows]


async def household_of(session: AsyncSession, person_id: str) -> str | None:
    """Returns the household code of a person, if the replica knows one."""
    return await session.scalar(text("SELECT household_code FROM replica_resident WHERE person_id = :p"), {"p": person_id})


async def adults_under(session: AsyncSession, code: str) -> list[tuple[str, str]]:
    """Returns (person_id, household_code) of every adult resident whose household lies under a code."""
    rows = await session.execute(text(
        "SELECT person_id, household_code FROM replica_resident WHERE adult AND household_code LIKE :p ORDER BY person_id"),
        {"p": _like_prefix(code)})
    return [(str(r.person_id), r.household_code) for r in rows]


@dataclass(frozen=True)
class Household:
    """A household and who may cast its vote (户决制)."""

    household_code: str
    representative_person_id: str | None
    proxy_person_ids: tuple[str, ...]

    def may_vote(self, person_id: str) -> bool:
        """Tells whether a person may cast this household's vote."""
        return person_id == self.representative_person_id or person_id in self.proxy_person_ids


async def households_under(session: AsyncSession, code: str) -> list[Household]:
    """Returns the households under a code with their representative and proxies."""
    rows = await session.execute(text(
        "SELECT household_code, representative_person_id, proxy_person_ids FROM replica_household "
        "WHERE household_code LIKE :p ORDER BY household_code"), {"p": _like_prefix(code)})
    return [Household(r.household_code, str(r.representative_person_id) if r.representative_person_id else None,
                      tuple(str(p) for p in r.proxy_person_ids or ())) for r in rows]


async def departments_for(session: AsyncSession, community_code: str) -> list[str]:
    """Returns the departments assigned to a community (部门包居)."""
    rows = await session.execute(text(
        "SELECT department_code FROM replica_department_assignment WHERE community_code = :c AND active "
        "ORDER BY department_code"), {"c": community_code})
    return [r.department_code for r in rows]
