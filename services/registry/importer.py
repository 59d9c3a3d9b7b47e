"""Bulk CSV import of units, households (with members) and people (with roles).

How an import runs:
- The file is read as a stream (never whole in memory). Each row is checked in Python against the
  pure rules (codes, GB 11643 ID numbers, mobile numbers, roles and scopes); good rows stream
  through asyncpg COPY into a temporary staging table, bad rows go to the error report.
- Rules that need the database or the whole file (duplicates, parents that must exist, retired codes,
  people registered elsewhere) run as set-based queries over the staging table.
- **All-or-nothing per file**: everything happens in one transaction. If any row has an error, nothing
  of the file is written and the report lists every error (row number, field, reason); row 1 is the
  header, so the first data row is row 2. Fix the file and import it again.
- **Idempotent**: units are matched by code, people by ID number, grants by (person, role, scope);
  what already exists is left alone, so importing the same file twice changes nothing the second time
  (and publishes no event).
- New rows are written with set-based INSERT ... SELECT from the staging table, and their events are
  written to the outbox the same way (see bulk.py), in the same transaction.

The outcome of every import (running, succeeded or failed, counts, the first 1,000 errors) is kept
in `import_job` and served by GET /api/v1/registry/imports/{import_id}. An import that is cancelled or loses
its connection ends "failed" (interrupted): its outcome is written on a connection of its own. The importing
session holds an advisory lock (`job_lock_key`) while its job runs, so a job recorded as running whose lock
anyone can take has no live import behind it, whichever replica or process ran it: the registry's sweeper
marks it failed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import asyncpg

from services.registry import bulk
from services.registry.events import (
    HouseholdRepresentativeSet,
    ResidencyChanged,
    RoleGranted,
    UnitCreated,
)
from services.registry.rules.codes import (
    LEVEL_ORDER,
    CodeRuleError,
    CodeScheme,
    Level,
    configured_scheme,
    parent_code,
    validate_code,
)
from services.registry.rules.roles import GRANTED_BY, MAX_PROXIES, Role, is_valid_scope
from youmin.kit.calendar import local_date
from youmin.kit.db import is_transient
from youmin.kit.errors import NUL_REASON, describe_error
from youmin.kit.logging import get_logger
from youmin.kit.pii import PiiValidationError, is_adult, validate_id_number, validate_mobile

KINDS = ("units", "households", "people")
MAX_STORED_ERRORS = 1000
PUBLIC_NAME_LEVELS = ("district", "street", "community", "grid")
HOUSEHOLD_ROLES = ("representative", "proxy", "member")
TRUE_WORDS = {"1", "true", "yes", "y", "是"}
FALSE_WORDS = {"", "0", "false", "no", "n", "否"}

COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required columns, optional columns)
    "units": (("code", "name"), ("level", "effective_on")),
    "households": (("household_code", "name", "id_number"), ("phone", "birth_date", "address", "role_in_household")),
    "people": (("name", "id_number", "role", "scope_code"),
               ("phone", "birth_date", "address", "household_code", "certified_social_worker", "from_organisation")),
}

Progress = Callable[[str, int, int], None]  # (phase, rows read, bytes read)
Connect = Callable[[], Awaitable[asyncpg.Connection]]
# How long writing an interrupted import's outcome may take (it is waited for even by a cancelled import).
OUTCOME_WRITE_SECONDS = 10.0
INTERRUPTED = ("interrupted: the import stopped before it finished ({why}); nothing of the file was written, "
               "import it again")
# For the import's transaction: the idle time between its statements, and TCP keepalives that notice a client gone.
IMPORT_SESSION_LIMITS = ("SET LOCAL idle_in_transaction_session_timeout = '5min'; SET LOCAL tcp_keepalives_idle = 60; "
                         "SET LOCAL tcp_keepalives_interval = 10; SET LOCAL tcp_keepalives_count = 6")

log = get_logger("youmin.registry.importer")


@dataclass(frozen=True)
class RowError:
    """One refused row: its number (the header is row 1), the field and the reason."""

    row: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "reason": self.reason}


@dataclass
class ImportResult:
    """The outcome of one import."""

    import_id: uuid.UUID
    kind: str
    status: str
    rows_read: int = 0
    rows_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0


def uuid7() -> uuid.UUID:
    """Returns a time-ordered UUID (version 7): bulk-inserted keys land at the index's right edge."""
    global _last_ms, _sequence
    ms = time.time_ns() // 1_000_000
    if ms <= _last_ms:
        ms, _sequence = _last_ms, _sequence + 1
    else:
        _last_ms, _sequence = ms, 0
    value = (ms << 80) | (0x7 << 76) | ((_sequence & 0xFFF) << 64) | (0b10 << 62) | random.getrandbits(62)
    return uuid.UUID(int=value)


_last_ms, _sequence = 0, 0


class ImportFailed(Exception):
    """Rolls the import's transaction back."""


# ---------------------------------------------------------------------------------------------
# Row checks (pure)


class _Rows:
    """Collects errors while rows are checked."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.error_count = 0

    def error(self, row: int, field_name: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append(RowError(row, field_name, reason))


def _text(value: str | None) -> str:
    return (value or "").strip()


def _date(value: str) -> date:
    return date.fromisoformat(value)


def _check_name(rows: _Rows, row: int, name: str, field_name: str = "name") -> bool:
    if not name:
        rows.error(row, field_name, "required")
        return False
    if len(name) > 100:
        rows.error(row, field_name, "longer than 100 characters")
        return False
    return True


@lru_cache(maxsize=65536)
def _cached_level(code: str, scheme: CodeScheme) -> Level:
    return validate_code(code, scheme)


@lru_cache(maxsize=8)
def _lengths(scheme: CodeScheme) -> tuple[int, int, int, int]:
    """The lengths of a grid's, a building's, a unit's and a household's codes."""
    return tuple(scheme.length(level) for level in (Level.GRID, Level.BUILDING, Level.UNIT, Level.HOUSEHOLD))


def _code_level(code: str) -> Level:
    """Validates a code, fast for the many household codes of one grid (the grid part is cached)."""
    scheme = configured_scheme()
    grid, building, unit, household = _lengths(scheme)
    if len(code) == household and code.isascii() and code.isdigit() and int(code[grid:building]) \
            and int(code[building:unit]) and int(code[unit:]):
        _cached_level(code[:grid], scheme)
        return Level.HOUSEHOLD
    return _cached_level(code, scheme)


def _check_code(rows: _Rows, row: int, field_name: str, code: str, level: Level | None = None) -> bool:
    try:
        actual = _code_level(code)
    except CodeRuleError as exc:
        rows.error(row, field_name, f"{exc.rule}: {exc.detail}")
        return False
    if level is not None and actual is not level:
        rows.error(row, field_name, f"code.level_mismatch: {code} is a {actual.value} code, not a {level.value} code")
        return False
    return True


def _personal(rows: _Rows, row: int, record: dict[str, str], as_of: date) -> tuple | None:
    """Checks the personal columns; returns (name, id_number, phone, birth_date, address, adult)."""
    ok = True
    name = _text(record.get("name"))
    ok &= _check_name(rows, row, name)
    id_number = None
    born_on = None
    try:
        id_number = validate_id_number(_text(record.get("id_number")))
        # Validated above: the birth date segment is a real date.
        born_on = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except PiiValidationError as exc:
        rows.error(row, "id_number", exc.reason)
        ok = False
    phone = _text(record.get("phone")) or None
    if phone is not None:
        try:
            phone = validate_mobile(phone)
        except PiiValidationError as exc:
            rows.error(row, "phone", exc.reason)
            ok = False
    given = _text(record.get("birth_date"))
    if given:
        try:
            given_on = _date(given)
        except ValueError:
            rows.error(row, "birth_date", "not a date (YYYY-MM-DD)")
            ok = False
        else:
            if born_on is not None and given_on != born_on:
                rows.error(row, "birth_date", "does not match the birth date in the ID number")
                ok = False
    if born_on is not None and born_on > as_of:
        rows.error(row, "id_number", "birth date is in the future")
        ok = False
    address = _text(record.get("address")) or None
    if address is not None and len(address) > 200:
        rows.error(row, "address", "longer than 200 characters")
        ok = False
    if not ok:
        return None
    return name, id_number, phone, born_on, address, is_adult(born_on, as_of)


def check_unit_row(rows: _Rows, row: int, record: dict[str, str], as_of: date) -> tuple | None:
    """Checks one units row; returns the staging record or None."""
    code = _text(record.get("code"))
    if not _check_code(rows, row, "code", code):
        return None
    level = _code_level(code)
    given_level = _text(record.get("level"))
    if given_level and given_level != level.value:
        rows.error(row, "level", f"code.level_mismatch: {code} is a {level.value} code, not a {given_level}")
        return None
    name = _text(record.get("name"))
    if not _check_name(rows, row, name):
        return None
    effective_on = as_of
    if _text(record.get("effective_on")):
        try:
            effective_on = _date(_text(record.get("effective_on")))
        except ValueError:
            rows.error(row, "effective_on", "not a date (YYYY-MM-DD)")
            return None
    # As through the API: a unit takes effect when it is recorded (nothing schedules a date ahead).
    if effective_on > as_of:
        rows.error(row, "effective_on", f"date.in_future: a change takes effect when it is recorded; {effective_on} "
                   f"is after today ({as_of})")
        return None
    return (row, code, parent_code(code), level.value, name, effective_on)


def check_member_row(rows: _Rows, row: int, record: dict[str, str], as_of: date) -> tuple | None:
    """Checks one household-member row; returns the staging record or None."""
    household_code = _text(record.get("household_code"))
    ok = _check_code(rows, row, "household_code", household_code, Level.HOUSEHOLD)
    role = _text(record.get("role_in_household")) or "member"
    if role not in HOUSEHOLD_ROLES:
        rows.error(row, "role_in_household", f"must be one of {', '.join(HOUSEHOLD_ROLES)}")
        ok = False
    personal = _personal(rows, row, record, as_of)
    if not ok or personal is None:
        return None
    return (row, household_code, *personal, role)


def _flag(rows: _Rows, row: int, field_name: str, value: str) -> bool | None:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    rows.error(row, field_name, "must be true or false")
    return None


def check_person_row(rows: _Rows, row: int, record: dict[str, str], as_of: date) -> tuple | None:
    """Checks one person-with-role row; returns the staging record or None."""
    ok = True
    role = _text(record.get("role"))
    scope_code = _text(record.get("scope_code"))
    try:
        Role(role)
    except ValueError:
        rows.error(row, "role", f"role.unknown: {role!r} is not a role")
        ok = False
    if ok and role == Role.RESIDENT:
        rows.error(row, "role", "role.implicit: residents get their role from their household")
        ok = False
    if ok and _check_code(rows, row, "scope_code", scope_code) and not is_valid_scope(role, scope_code):
        rows.error(row, "scope_code", f"role.scope_level: {role} cannot be held at a {_code_level(scope_code).value}")
        ok = False
    elif not ok:
        pass
    household_code = _text(record.get("household_code")) or None
    if household_code is not None:
        ok &= _check_code(rows, row, "household_code", household_code, Level.HOUSEHOLD)
    certified = _flag(rows, row, "certified_social_worker", record.get("certified_social_worker") or "")
    ok &= certified is not None
    if certified and role != Role.COMMUNITY_WORKER:
        rows.error(row, "certified_social_worker", "only community workers carry the certified flag")
        ok = False
    organisation = _text(record.get("from_organisation")) or None
    if organisation is not None and role != Role.PART_TIME_MEMBER:
        rows.error(row, "from_organisation", "only part-time committee members come from an organisation")
        ok = False
    personal = _personal(rows, row, record, as_of)
    if not ok or personal is None:
        return None
    return (row, *personal, household_code, role, scope_code, bool(certified), organisation)


CHECKS = {"units": check_unit_row, "households": check_member_row, "people": check_person_row}
CODE_FIELDS = ("code", "household_code", "scope_code")
ADMIN_GRANTED = frozenset(r.value for r, granters in GRANTED_BY.items() if granters == {Role.ADMIN})


def _within_caller(rows: _Rows, row: int, fields: dict[str, str], within: Sequence[str] | None,
                   grants_admin: bool) -> bool:
    """Checks what a row asks of the importing caller (its codes in their districts, no administrator grant
    unless they are one) and that no value carries a NUL character; False when the row is refused."""
    # A value with a NUL character is refused as such and looked at no further: quoted into another reason, it would
    # make the report itself unstorable (PostgreSQL's json refuses \u0000).
    refused = {name for name, value in fields.items() if "\x00" in value}
    for name in refused:
        rows.error(row, name, NUL_REASON)
    ok = not refused
    if within is not None:
        for name in CODE_FIELDS:
            code = _text(fields.get(name))
            if name not in refused and code and not code.startswith(tuple(within)):
                rows.error(row, name, f"code.outside_scope: {code} is outside the district you import for")
                ok = False
    role = _text(fields.get("role"))
    if not grants_admin and role in ADMIN_GRANTED:
        # As the API grants them (services.registry.rules.roles.GRANTED_BY).
        rows.error(row, "role", "role.admin_only: only an administrator grants the "
                   f"{'administrator' if role == Role.ADMIN else role} role")
        ok = False
    return ok

STAGING = {
    "units": (
        "CREATE TEMP TABLE stage_unit (row_no int, code text COLLATE \"C\", parent_code text COLLATE \"C\","
        " level text, name text, effective_on date) ON COMMIT DROP",
        "stage_unit", ["row_no", "code", "parent_code", "level", "name", "effective_on"],
    ),
    "households": (
        "CREATE TEMP TABLE stage_member (row_no int, household_code text COLLATE \"C\", name text, id_number text,"
        " phone text, birth_date date, address text, adult bool, role_in_household text, person_id uuid,"
        " is_new bool DEFAULT true) ON COMMIT DROP",
        "stage_member",
        ["row_no", "household_code", "name", "id_number", "phone", "birth_date", "address", "adult", "role_in_household",
         "person_id"],
    ),
    "people": (
        "CREATE TEMP TABLE stage_person (row_no int, name text, id_number text, phone text, birth_date date,"
        " address text, adult bool, household_code text COLLATE \"C\", role text, scope_code text COLLATE \"C\","
        " certified_social_worker bool, from_organisation text, person_id uuid, is_new bool DEFAULT true)"
        " ON COMMIT DROP",
        "stage_person",
        ["row_no", "name", "id_number", "phone", "birth_date", "address", "adult", "household_code", "role",
         "scope_code", "certified_social_worker", "from_organisation", "person_id"],
    ),
}


# ---------------------------------------------------------------------------------------------
# Set-based checks (SQL): each query returns (row_no, field, reason)

UNIT_CHECKS = [
    """SELECT row_no, 'code', 'code.duplicate: ' || code || ' appears again in this file (first in row ' || first_row || ')'
       FROM (SELECT row_no, code, min(row_no) OVER (PARTITION BY code) AS first_row FROM stage_unit) s
       WHERE row_no > first_row""",
    # A retired unit's code is in retired_code; its org_unit row, retired, is checked too (a code is never issued
    # again however it came to be retired).
    """SELECT s.row_no, 'code', 'code.retired_reuse: ' || s.code || ' was retired and is never issued again'
       FROM stage_unit s WHERE EXISTS (SELECT 1 FROM retired_code r WHERE r.code = s.code)
       OR EXISTS (SELECT 1 FROM org_unit u WHERE u.code = s.code AND u.retired_on IS NOT NULL)""",
    """SELECT s.row_no, 'code', 'code.duplicate: ' || s.code || ' is already in use as ' || u.level || ' "' || u.name || '"'
       FROM stage_unit s JOIN org_unit u ON u.code = s.code
       WHERE u.retired_on IS NULL AND (u.name <> s.name OR u.level <> s.level)""",
    """SELECT s.row_no, 'code', 'code.parent_retired: parent ' || s.parent_code || ' was retired and takes no new children'
       FROM stage_unit s JOIN org_unit p ON p.code = s.parent_code WHERE p.retired_on IS NOT NULL""",
    """SELECT s.row_no, 'code', 'code.not_under_parent: parent ' || s.parent_code || ' does not exist'
       FROM stage_unit s WHERE s.parent_code IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM org_unit p WHERE p.code = s.parent_code)
       AND NOT EXISTS (SELECT 1 FROM stage_unit q WHERE q.code = s.parent_code)""",
    # As through the API: a new unit exists within its parent, not from before the parent began.
    """SELECT row_no, 'effective_on', 'date.before_record: ' || effective_on || ' is before the parent ' || parent_code
              || ' began (' || parent_on || ')'
       FROM (SELECT s.row_no, s.effective_on, s.parent_code,
                    coalesce((SELECT p.effective_on FROM org_unit p WHERE p.code = s.parent_code),
                             (SELECT min(q.effective_on) FROM stage_unit q WHERE q.code = s.parent_code)) AS parent_on
             FROM stage_unit s WHERE s.parent_code IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM org_unit u WHERE u.code = s.code)) s
       WHERE effective_on < parent_on""",
]

# Checks shared by the two kinds that carry personal data (table name substituted).
PERSONAL_CHECKS = [
    """SELECT s.row_no, 'phone', 'phone is given for another person in row ' || o.row_no
       FROM {t} s JOIN {t} o ON o.phone = s.phone AND o.id_number <> s.id_number AND o.row_no < s.row_no
       WHERE s.phone IS NOT NULL""",
    """SELECT s.row_no, 'phone', 'phone is already registered to another person'
       FROM {t} s JOIN person_personal pp ON pp.phone = s.phone AND pp.id_number IS DISTINCT FROM s.id_number""",
    # A row is matched to a registered person by ID number: one naming someone else under that number (a mistyped
    # number) would give that other person the row's role or household. The registered name is not quoted.
    """SELECT s.row_no, 'id_number', 'person.name_mismatch: this ID number is registered to a person of another name'
       FROM {t} s JOIN person_personal pp ON pp.id_number = s.id_number WHERE pp.name <> s.name""",
    """SELECT row_no, 'name', 'person.inconsistent: row ' || first_row || ' gives this ID number another name'
       FROM (SELECT row_no, name, first_value(name) OVER w AS first_name, min(row_no) OVER w AS first_row
             FROM {t} WINDOW w AS (PARTITION BY id_number ORDER BY row_no)) s
       WHERE name IS DISTINCT FROM first_name""",
]

MEMBER_CHECKS = [
    """SELECT row_no, 'id_number', 'person.duplicate: the same ID number is in row ' || first_row
       FROM (SELECT row_no, min(row_no) OVER (PARTITION BY id_number) AS first_row FROM stage_member) s
       WHERE row_no > first_row""",
    """SELECT s.row_no, 'household_code', 'code.not_under_parent: grid ' || left(s.household_code, <GRID>) || ' does not exist'
       FROM stage_member s WHERE NOT EXISTS
       (SELECT 1 FROM org_unit g WHERE g.code = left(s.household_code, <GRID>) AND g.retired_on IS NULL)""",
    # The household, its unit and its building: each retired in retired_code, or by its org_unit row. The retired
    # codes are few: hashed once, rather than an index probe per code of the file.
    """SELECT s.row_no, 'household_code', 'code.retired_reuse: ' || c.code || ' was retired and is never issued again'
       FROM stage_member s
       CROSS JOIN LATERAL (VALUES (s.household_code), (left(s.household_code, <UNIT>)),
                                  (left(s.household_code, <BUILDING>))) c (code)
       JOIN (SELECT code FROM retired_code UNION SELECT code FROM org_unit WHERE retired_on IS NOT NULL) r
       ON r.code = c.code""",
    # A registered person of no household (staff registered from a list of staff) is placed in the file's household.
    """SELECT s.row_no, 'id_number', 'person.other_household: this person is already registered elsewhere'
       FROM stage_member s JOIN person_personal pp ON pp.id_number = s.id_number
       JOIN person p ON p.person_id = pp.person_id JOIN org_unit h ON h.unit_id = p.household_id
       WHERE h.code <> s.household_code""",
    """SELECT row_no, 'role_in_household', 'household.one_representative: the representative is already given in row ' || first_row
       FROM (SELECT row_no, min(row_no) OVER (PARTITION BY household_code) AS first_row FROM stage_member
             WHERE role_in_household = 'representative') s WHERE row_no > first_row""",
    # As through the API: the household's vote (户决制) is cast by an adult. A registered person is taken as the
    # registry has them (adult as last published), a new one by the birth date in the ID number.
    """SELECT s.row_no, 'role_in_household',
              CASE s.role_in_household
                WHEN 'representative'
                THEN 'household.representative_minor: the representative is an adult member of the household'
                ELSE 'household.proxy_minor: a proxy is an adult' END
       FROM stage_member s LEFT JOIN person_personal pp ON pp.id_number = s.id_number
       LEFT JOIN person p ON p.person_id = pp.person_id
       WHERE s.role_in_household IN ('representative', 'proxy') AND NOT coalesce(p.adult, s.adult)""",
    # As through the API: a household has a few proxies, counted with those recorded already (the ones the file names
    # again counted once). The household's event lists them all.
    f"""SELECT s.row_no, 'role_in_household', 'household.too_many_proxies: a household has at most {MAX_PROXIES} '
              || 'proxies, with those recorded already'
       FROM (SELECT row_no, household_code, row_number() OVER (PARTITION BY household_code ORDER BY row_no) AS n
             FROM stage_member WHERE role_in_household = 'proxy') s
       WHERE s.n + (SELECT count(*) FROM household_proxy p
                    JOIN org_unit h ON h.unit_id = p.household_id AND h.code = s.household_code
                    JOIN person_personal pp ON pp.person_id = p.person_id
                    WHERE NOT EXISTS (SELECT 1 FROM stage_member f WHERE f.household_code = s.household_code
                                      AND f.role_in_household = 'proxy' AND f.id_number = pp.id_number)) > {MAX_PROXIES}""",
]

PERSON_CHECKS = [
    """SELECT s.row_no, 'scope_code', 'code.unknown_unit: ' || s.scope_code || ' does not exist'
       FROM stage_person s WHERE NOT EXISTS
       (SELECT 1 FROM org_unit u WHERE u.code = s.scope_code AND u.retired_on IS NULL)""",
    """SELECT s.row_no, 'household_code', 'code.unknown_unit: household ' || s.household_code || ' does not exist'
       FROM stage_person s WHERE s.household_code IS NOT NULL AND NOT EXISTS
       (SELECT 1 FROM org_unit u WHERE u.code = s.household_code AND u.retired_on IS NULL)""",
    """SELECT s.row_no, 'household_code', 'person.other_household: this person is registered in another household'
       FROM stage_person s JOIN person_personal pp ON pp.id_number = s.id_number
       JOIN person p ON p.person_id = pp.person_id JOIN org_unit h ON h.unit_id = p.household_id
       WHERE s.household_code IS NOT NULL AND h.code <> s.household_code""",
    """SELECT row_no, 'household_code', 'person.inconsistent: row ' || first_row || ' gives this person another household'
       FROM (SELECT row_no, household_code, first_value(household_code) OVER w AS first_household,
                    min(row_no) OVER w AS first_row
             FROM stage_person WINDOW w AS (PARTITION BY id_number ORDER BY row_no)) s
       WHERE household_code IS DISTINCT FROM first_household""",
    """SELECT row_no, 'role', 'legal_adviser.one_per_community: row ' || first_row || ' already names this community''s legal adviser'
       FROM (SELECT row_no, id_number, first_value(id_number) OVER w AS first_id, min(row_no) OVER w AS first_row
             FROM stage_person WHERE role = 'legal_adviser' WINDOW w AS (PARTITION BY scope_code ORDER BY row_no)) s
       WHERE id_number <> first_id""",
    """SELECT s.row_no, 'role', 'legal_adviser.one_per_community: ' || s.scope_code || ' already has a legal adviser'
       FROM stage_person s JOIN role_grant g ON g.role = 'legal_adviser' AND g.scope_code = s.scope_code
       AND g.revoked_on IS NULL JOIN person_personal pp ON pp.person_id = g.person_id
       WHERE s.role = 'legal_adviser' AND pp.id_number IS DISTINCT FROM s.id_number""",
]


# The codes a file attaches rows to (its units' own codes, the households people join, the scopes of grants): the
# existing units on their lines are locked in share mode before the checks, as the API does for one unit or person.
LINE_CODES = {
    "units": "SELECT code FROM stage_unit",
    "households": "SELECT household_code FROM stage_member",
    "people": "SELECT scope_code FROM stage_person UNION SELECT household_code FROM stage_person "
              "WHERE household_code IS NOT NULL",
}

LOCK_LINES = """
SELECT count(*) FROM (
  SELECT u.unit_id FROM org_unit u
  WHERE u.code IN (SELECT DISTINCT left(c.code, n) FROM ({codes}) AS c (code), unnest($1::int[]) AS n)
  ORDER BY length(u.code), u.code FOR SHARE OF u) AS locked
"""


async def lock_lines(conn: asyncpg.Connection, kind: str) -> None:
    """Locks in share mode, top down, the existing units at and above the codes a staged file names: a retirement or
    move of any of them (which locks it for update and then checks that nothing lives or is registered below it)
    waits for the import, or the import for it, and the checks that follow see it retired or moved."""
    lengths = sorted({configured_scheme().length(level) for level in LEVEL_ORDER})
    await conn.execute(LOCK_LINES.format(codes=LINE_CODES[kind]), lengths)


# ---------------------------------------------------------------------------------------------
# Writes (SQL)


def _new_unit_table() -> str:
    return ("CREATE TEMP TABLE new_unit (unit_id uuid, code text COLLATE \"C\", parent_code text COLLATE \"C\","
            " level text, name text, effective_on date) ON COMMIT DROP")


INSERT_UNITS_OF_LEVEL = """
WITH ins AS (
  INSERT INTO org_unit (unit_id, code, parent_id, level, name, effective_on)
  SELECT registry_uuid7(), s.code, p.unit_id, s.level, s.name, s.effective_on
  FROM stage_unit s LEFT JOIN org_unit p ON p.code = s.parent_code
  WHERE s.level = $1 AND NOT EXISTS (SELECT 1 FROM org_unit u WHERE u.code = s.code)
  RETURNING unit_id, code, level, name, effective_on)
INSERT INTO new_unit SELECT unit_id, code, left(code, $2), level, name, effective_on FROM ins
"""

# New units are found with an anti-join rather than ON CONFLICT (speculative insertion costs per row); an
# import racing another over the same new codes fails on the unique index and rolls back whole.

# Buildings, units and households a household file names are created under their (existing) grid.
INSERT_IMPLIED_UNITS = """
WITH wanted AS (SELECT DISTINCT left(household_code, $1) AS code FROM stage_member),
ins AS (
  INSERT INTO org_unit (unit_id, code, parent_id, level, name, effective_on)
  SELECT registry_uuid7(), w.code, p.unit_id, $3, {name}, $4
  FROM wanted w JOIN org_unit p ON p.code = left(w.code, $2)
  WHERE NOT EXISTS (SELECT 1 FROM org_unit u WHERE u.code = w.code)
  RETURNING unit_id, code, level, name, effective_on)
INSERT INTO new_unit SELECT unit_id, code, left(code, $2), level, name, effective_on FROM ins
"""

IMPLIED_NAMES = {
    "building": "ltrim(right(w.code, 3), '0') || '号楼'",
    "unit": "ltrim(right(w.code, 2), '0') || '单元'",
    "household": "right(w.code, 4) || '室'",
}


async def _stage_people(conn: asyncpg.Connection, table: str) -> int:
    """Matches staged people to registered ones by ID number (new ones keep the id given while reading);
    returns the number of new people."""
    await conn.execute(
        f"UPDATE {table} s SET person_id = pp.person_id, is_new = false FROM person_personal pp "
        "WHERE pp.id_number = s.id_number"
    )
    return await conn.fetchval(f"SELECT count(DISTINCT person_id) FROM {table} WHERE is_new")


async def _insert_people(conn: asyncpg.Connection, table: str, *, one_row_each: bool) -> None:
    # A household file has one row per person (duplicates are refused); a people file may repeat a person.
    distinct, order = ("DISTINCT ON (s.person_id) ", " ORDER BY s.person_id, s.row_no") if not one_row_each else ("", "")
    await conn.execute(
        f"""INSERT INTO person (person_id, household_id, adult)
            SELECT {distinct}s.person_id, h.unit_id, s.adult
            FROM {table} s LEFT JOIN org_unit h ON h.code = s.household_code
            WHERE s.is_new{order}"""
    )
    await conn.execute(
        f"""INSERT INTO person_personal (person_id, name, phone, id_number, birth_date, address)
            SELECT {distinct}s.person_id, s.name, s.phone, s.id_number, s.birth_date, s.address
            FROM {table} s WHERE s.is_new{order}"""
    )


async def _place_registered(conn: asyncpg.Connection, table: str) -> None:
    """Places the registered people of no household in the household the file gives them (the checks refused a
    file giving another household to someone who has one); they are published with the new people."""
    await conn.execute(
        f"""CREATE TEMP TABLE placed_person ON COMMIT DROP AS
            WITH placed AS (
              UPDATE person p SET household_id = h.unit_id
              FROM (SELECT DISTINCT ON (person_id) person_id, household_code FROM {table}
                    WHERE NOT is_new AND household_code IS NOT NULL ORDER BY person_id, row_no) s
              JOIN org_unit h ON h.code = s.household_code
              WHERE p.person_id = s.person_id AND p.household_id IS NULL
              RETURNING p.person_id, p.adult)
            SELECT * FROM placed""")


async def _publish_residency(conn: asyncpg.Connection, table: str, as_of: date, *, one_row_each: bool) -> None:
    distinct, order = ("", "") if one_row_each else ("DISTINCT ON (person_id) ", " ORDER BY person_id, row_no")
    select = (f"SELECT {distinct}person_id, household_code, adult, '{as_of.isoformat()}'::date AS effective_on "
              f"FROM {table} WHERE is_new AND household_code IS NOT NULL{order}")
    await conn.execute(bulk.outbox_insert_sql(ResidencyChanged, select))
    # The registered people placed in a household, with their age as the registry has last published it.
    placed = (f"SELECT DISTINCT ON (s.person_id) s.person_id, s.household_code, pl.adult, "
              f"'{as_of.isoformat()}'::date AS effective_on FROM {table} s JOIN placed_person pl USING (person_id) "
              "WHERE s.household_code IS NOT NULL ORDER BY s.person_id, s.row_no")
    await conn.execute(bulk.outbox_insert_sql(ResidencyChanged, placed))


async def _publish_units(conn: asyncpg.Connection, levels: Sequence[str] | None = None) -> None:
    where = "" if levels is None else " WHERE level = ANY($1::text[])"
    select = (
        "SELECT unit_id, code AS unit_code, parent_code, level, "
        f"CASE WHEN level IN {tuple(PUBLIC_NAME_LEVELS)} THEN name END AS unit_name, effective_on FROM new_unit{where}"
    )
    sql = bulk.outbox_insert_sql(UnitCreated, select, order_by="length(unit_code), unit_code")
    await (conn.execute(sql) if levels is None else conn.execute(sql, list(levels)))


async def write_units(conn: asyncpg.Connection, as_of: date) -> int:
    """Creates the staged units that do not exist yet, parents first; publishes unit.created."""
    from services.registry.rules.codes import LEVEL_ORDER, parent_level

    await conn.execute(_new_unit_table())
    for level in LEVEL_ORDER:
        above = parent_level(level)
        await conn.execute(INSERT_UNITS_OF_LEVEL, level.value, configured_scheme().length(above) if above else 0)
    # As POST /units does: a household-level unit comes with its household (representative, proxies and contacts
    # hang on it), so the households page, coverage and a later households import see the same households.
    await conn.execute("INSERT INTO household (unit_id) SELECT unit_id FROM new_unit WHERE level = 'household'")
    await conn.execute("UPDATE new_unit SET parent_code = NULL WHERE parent_code = ''")
    await _publish_units(conn)
    return await conn.fetchval("SELECT count(*) FROM new_unit")


async def write_households(conn: asyncpg.Connection, as_of: date) -> int:
    """Creates staged households (and their buildings and units) and members; publishes people events."""
    await conn.execute(_new_unit_table())
    grid, building, unit, household = _lengths(configured_scheme())
    for level, length, parent_length in (("building", building, grid), ("unit", unit, building),
                                         ("household", household, unit)):
        await conn.execute(INSERT_IMPLIED_UNITS.format(name=IMPLIED_NAMES[level]), length, parent_length, level, as_of)
    # As POST /units does: the other services' replicas of the tree learn the buildings, units and households.
    await _publish_units(conn)
    created = await _stage_people(conn, "stage_member")
    await _insert_people(conn, "stage_member", one_row_each=True)
    await _place_registered(conn, "stage_member")
    await conn.execute("CREATE TEMP TABLE changed_household (unit_id uuid) ON COMMIT DROP")
    # New households are written with their representative at once (no second pass over them).
    await conn.execute(
        """WITH ins AS (
             INSERT INTO household (unit_id, representative_person_id)
             SELECT n.unit_id, s.person_id FROM new_unit n
             LEFT JOIN stage_member s ON s.household_code = n.code AND s.role_in_household = 'representative'
             WHERE n.level = 'household' RETURNING unit_id, representative_person_id)
           INSERT INTO changed_household SELECT unit_id FROM ins WHERE representative_person_id IS NOT NULL"""
    )
    await conn.execute(
        """WITH want AS (SELECT h.unit_id, s.person_id FROM stage_member s JOIN org_unit h ON h.code = s.household_code
                         WHERE s.role_in_household = 'representative'
                         AND NOT EXISTS (SELECT 1 FROM new_unit n WHERE n.unit_id = h.unit_id)),
                upd AS (UPDATE household SET representative_person_id = want.person_id FROM want
                        WHERE household.unit_id = want.unit_id
                        AND household.representative_person_id IS DISTINCT FROM want.person_id
                        RETURNING household.unit_id)
           INSERT INTO changed_household SELECT unit_id FROM upd"""
    )
    await conn.execute(
        """WITH ins AS (INSERT INTO household_proxy (household_id, person_id)
                        SELECT h.unit_id, s.person_id FROM stage_member s JOIN org_unit h ON h.code = s.household_code
                        WHERE s.role_in_household = 'proxy' ON CONFLICT DO NOTHING RETURNING household_id)
           INSERT INTO changed_household SELECT household_id FROM ins"""
    )
    await _publish_residency(conn, "stage_member", as_of, one_row_each=True)
    select = (
        "SELECT h.code AS household_code, hh.representative_person_id, "
        "coalesce((SELECT array_agg(p.person_id ORDER BY p.person_id) FROM household_proxy p "
        "WHERE p.household_id = hh.unit_id), '{}'::uuid[]) AS proxy_person_ids, "
        f"'{as_of.isoformat()}'::date AS effective_on "
        "FROM (SELECT DISTINCT unit_id FROM changed_household) c JOIN household hh ON hh.unit_id = c.unit_id "
        "JOIN org_unit h ON h.unit_id = c.unit_id"
    )
    await conn.execute(bulk.outbox_insert_sql(HouseholdRepresentativeSet, select))
    return created


async def write_people(conn: asyncpg.Connection, as_of: date) -> int:
    """Creates the staged people who are new and the grants they do not hold yet; publishes people events."""
    created = await _stage_people(conn, "stage_person")
    await _insert_people(conn, "stage_person", one_row_each=False)
    await _place_registered(conn, "stage_person")
    await conn.execute(
        """CREATE TEMP TABLE new_grant ON COMMIT DROP AS
           WITH ins AS (
             INSERT INTO role_grant (grant_id, person_id, role, scope_code, certified_social_worker, from_organisation,
                                     effective_on)
             SELECT DISTINCT ON (person_id, role, scope_code) registry_uuid7(), person_id, role, scope_code,
                    certified_social_worker, from_organisation, $1::date
             FROM stage_person ORDER BY person_id, role, scope_code, row_no
             ON CONFLICT (person_id, role, scope_code) WHERE revoked_on IS NULL DO NOTHING
             RETURNING grant_id, person_id, role, scope_code, certified_social_worker, effective_on)
           SELECT * FROM ins""",
        as_of,
    )
    await _publish_residency(conn, "stage_person", as_of, one_row_each=False)
    await conn.execute(
        bulk.outbox_insert_sql(RoleGranted, "SELECT * FROM new_grant", order_by="scope_code, person_id, role")
    )
    grants = await conn.fetchval("SELECT count(*) FROM new_grant")
    return created + grants


WRITERS = {"units": write_units, "households": write_households, "people": write_people}
SQL_CHECKS = {
    "units": UNIT_CHECKS,
    "households": MEMBER_CHECKS + [q.format(t="stage_member") for q in PERSONAL_CHECKS],
    "people": PERSON_CHECKS + [q.format(t="stage_person") for q in PERSONAL_CHECKS],
}


def sql_checks(kind: str) -> list[str]:
    """The set-based checks of a kind, with the code lengths of the configured scheme."""
    grid, building, unit, _ = _lengths(configured_scheme())
    return [q.replace("<GRID>", str(grid)).replace("<BUILDING>", str(building)).replace("<UNIT>", str(unit))
            for q in SQL_CHECKS[kind]]


# ---------------------------------------------------------------------------------------------
# Running an import


def _unreadable(exc: UnicodeDecodeError | csv.Error) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text; save the file as UTF-8 CSV"
    return f"not readable as CSV: {exc}"


class CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes read (for a progress bar by file size)."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def job_lock_key(import_id: uuid.UUID) -> int:
    """The advisory lock the importing session holds while its job runs: the random bits of the import's id."""
    return int.from_bytes(import_id.bytes[8:], "big", signed=True)


async def _start_job(conn: asyncpg.Connection, kind: str, source_name: str) -> uuid.UUID:
    import_id = uuid7()
    # Taken before the job is visible: a job found running without its lock held has no live import behind it.
    await conn.execute("SELECT pg_advisory_lock($1)", job_lock_key(import_id))
    try:
        await conn.execute("INSERT INTO import_job (import_id, kind, source_name, status)"
                           " VALUES ($1, $2, $3, 'running')", import_id, kind, source_name)
    except BaseException:
        await _release_job(conn, import_id)
        raise
    return import_id


async def _release_job(conn: asyncpg.Connection, import_id: uuid.UUID) -> None:
    """Gives up the job's lock once its outcome is written (a connection that is gone has given it up already)."""
    if conn.is_closed():
        return
    try:
        await conn.execute("SELECT pg_advisory_unlock($1)", job_lock_key(import_id))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        log.warning("registry.import_lock_not_released", import_id=str(import_id), error=describe_error(exc))


async def _finish_job(conn: asyncpg.Connection, result: ImportResult) -> None:
    import json

    await conn.execute(
        # A job ends once: an import whose commit landed just before it was cancelled keeps its "succeeded".
        "UPDATE import_job SET status = $2, rows_read = $3, rows_created = $4, error_count = $5, errors = $6::jsonb,"
        " finished_at = $7 WHERE import_id = $1 AND status = 'running'",
        result.import_id, result.status, result.rows_read, result.rows_created, result.error_count,
        json.dumps([e.as_dict() for e in result.errors[:MAX_STORED_ERRORS]], ensure_ascii=False),
        datetime.now(UTC),
    )


def interruption(exc: BaseException) -> str:
    """The reason an import that did not run to its end gives in its report."""
    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
        return INTERRUPTED.format(why="it was cancelled")
    if _connection_lost(exc):
        return INTERRUPTED.format(why=f"the database connection was lost: {describe_error(exc)}")
    if is_transient(exc):  # a deadlock, a lock timeout, a serialization failure, a full disk
        return INTERRUPTED.format(why=f"the database could not take it now: {describe_error(exc)}")
    return f"import aborted: {describe_error(exc)}"


def _connection_lost(exc: BaseException) -> bool:
    """Whether an error is the connection to the database going: a socket error, asyncpg's closed connection, or a
    server shutting it down (SQLSTATE classes 08 and 57P)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError)):
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state.startswith(("08", "57P")):
            return True
        current = current.__cause__
    return False


async def _write_outcome(conn: asyncpg.Connection, result: ImportResult, connect: Connect | None) -> None:
    """Writes a failed import's outcome: on a connection of its own when the caller says how to open one (the
    import's may be gone, or busy being cancelled), else on the import's if it is still open. What cannot be written
    now (the database is down) is left to the sweeper, which finds the job's lock free."""
    try:
        async with asyncio.timeout(OUTCOME_WRITE_SECONDS):
            if connect is not None:
                fresh = await connect()
                try:
                    await _finish_job(fresh, result)
                finally:
                    await fresh.close()
            elif not conn.is_closed():
                await _finish_job(conn, result)
            else:
                log.warning("registry.import_outcome_not_written", import_id=str(result.import_id),
                            error="the import's connection is closed")
    except Exception as exc:  # noqa: BLE001 - the sweeper marks the job later
        log.warning("registry.import_outcome_not_written", import_id=str(result.import_id), error=describe_error(exc))


async def _to_the_end(work: Awaitable[None]) -> None:
    """Awaits work to its end even if the caller is cancelled meanwhile (the work bounds its own time); the
    cancellation is passed on once the work is done."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled or task.cancelled():
        raise asyncio.CancelledError
    task.result()


async def import_rows(
    conn: asyncpg.Connection,
    kind: str,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    source_name: str,
    as_of: date | None = None,
    progress: Progress | None = None,
    bytes_read: Callable[[], int] = lambda: 0,
    within: Sequence[str] | None = None,
    grants_admin: bool = True,
    connect: Connect | None = None,
) -> ImportResult:
    """Imports rows (after a header) of one kind, all or nothing; records the job and returns its result.

    `within` limits the codes a file may name to those prefixes (the importing caller's districts; None: any), and
    without `grants_admin` a people file may not grant the administrator role: an upload can do no more than the
    same caller could through the API. `connect` opens a connection to the same database, on which the outcome of an
    import that is cancelled or loses its connection is written.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {', '.join(KINDS)}")
    # Today in China, as the API takes it: a date the API accepts is accepted here, at any hour.
    as_of = as_of or local_date(datetime.now(UTC))
    progress = progress or (lambda phase, n, b: None)
    import_id = await _start_job(conn, kind, source_name)
    result = ImportResult(import_id=import_id, kind=kind, status="running")
    try:
        await _run(conn, result, kind, header, rows, as_of=as_of, progress=progress, bytes_read=bytes_read,
                   within=within, grants_admin=grants_admin)
    except BaseException as exc:
        # Cancelled, the connection lost, or a fault: nothing was written (the transaction rolled back or never
        # committed), and the job must not stay "running". An outcome already decided (a report of refused rows
        # whose writing failed) is kept.
        if result.status != "failed":
            result.status, result.rows_created, result.error_count = "failed", 0, 1
            result.errors = [RowError(0, "file", interruption(exc))]
        await _to_the_end(_write_outcome(conn, result, connect))
        raise
    finally:
        await _release_job(conn, import_id)
    progress("done", result.rows_read, bytes_read())
    return result


async def _run(
    conn: asyncpg.Connection,
    result: ImportResult,
    kind: str,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    as_of: date,
    progress: Progress,
    bytes_read: Callable[[], int],
    within: Sequence[str] | None,
    grants_admin: bool,
) -> None:
    """Checks and writes one file in one transaction; records its outcome in the job."""
    checks = _Rows()
    header = [h.strip().lstrip("\ufeff").replace("\x00", "") for h in header]
    # Columns without a name at the end of the header, as a spreadsheet saves them once a cell right of the data was
    # touched: left out, and so are the empty fields under them (a value there is refused, row by row).
    while header and not header[-1]:
        header.pop()
    required, optional = COLUMNS[kind]
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in required and c not in optional]
    for column in missing:
        checks.error(1, column, "missing column")
    for column in unknown:
        checks.error(1, column, f"unknown column; expected {', '.join(required + optional)}")
    repeated = sorted({c for c in header if header.count(c) > 1})
    for column in repeated:
        # Which of the two a row means cannot be told: the second would silently win.
        checks.error(1, column, "column given more than once")
    if missing or unknown or repeated:
        result.status, result.errors, result.error_count = "failed", checks.errors, checks.error_count
        await _finish_job(conn, result)
        return

    check = CHECKS[kind]
    create_sql, table, columns = STAGING[kind]
    width = len(header)
    person_ids: dict[str, uuid.UUID] = {}  # a people file may name one person on several rows

    def records() -> Iterator[tuple]:
        row_no = 1
        for values in rows:
            row_no += 1
            result.rows_read += 1
            if not any(v.strip() for v in values):
                continue  # a blank line, or one of empty fields only (as spreadsheets write below the data)
            if len(values) > width and not any(v.strip() for v in values[width:]):
                values = values[:width]  # empty fields right of the header's last named column
            if len(values) != width:
                checks.error(row_no, "row", f"has {len(values)} fields, the header has {width}"
                             + (" (a value stands under no named column)" if len(values) > width else ""))
                continue
            fields = dict(zip(header, values))
            if not _within_caller(checks, row_no, fields, within, grants_admin):
                continue
            record = check(checks, row_no, fields, as_of)
            if record is not None:
                if kind == "households":
                    record = (*record, uuid7())
                elif kind == "people":
                    record = (*record, person_ids.get(record[2]) or person_ids.setdefault(record[2], uuid7()))
                yield record
            if row_no % 5000 == 0:
                progress("reading", result.rows_read, bytes_read())

    async def batches() -> AsyncIterator[tuple]:
        for record in records():
            yield record

    try:
        async with conn.transaction():
            # An importer whose host vanished (no reset reaches the server) must not hold its job and the lines it
            # locked for the hours the system's TCP keepalive would take: the server gives up on it within minutes.
            await conn.execute(IMPORT_SESSION_LIMITS)
            await conn.execute(create_sql)
            await conn.copy_records_to_table(table, records=batches(), columns=columns)
            progress("reading", result.rows_read, bytes_read())
            progress("checking", result.rows_read, bytes_read())
            await lock_lines(conn, kind)
            for sql in sql_checks(kind):
                for row_no, field_name, reason in await conn.fetch(sql):
                    checks.error(row_no, field_name, reason)
            if checks.error_count:
                raise ImportFailed
            progress("writing", result.rows_read, bytes_read())
            await conn.execute(f"ANALYZE {table}")
            result.rows_created = await WRITERS[kind](conn, as_of)
            await conn.execute(bulk.NOTIFY_SQL)
            result.status = "succeeded"
            await _finish_job(conn, result)
    except (UnicodeDecodeError, csv.Error) as exc:
        # The transaction rolled back: nothing of the file is written.
        result.status, result.error_count = "failed", 1
        # The row being read (the header is row 1, and rows_read counts the data rows read before this one).
        result.errors = [RowError(result.rows_read + 2, "file", _unreadable(exc))]
        await _finish_job(conn, result)
    except ImportFailed:
        result.status = "failed"
        result.errors = sorted(checks.errors, key=lambda e: (e.row, e.field))
        result.error_count = checks.error_count
        await _finish_job(conn, result)


_LINE_END = re.compile(rb"\r\n|\r|\n")


def _decoded_lines(binary: io.BufferedReader) -> Iterator[str]:
    """The file's lines as text, each decoded alone (a UTF-8 character never holds a CR or LF byte), so that bytes
    that are not UTF-8 stop the import at the row they are in. Lines end with LF, CRLF or a lone CR (as some
    spreadsheets save CSV); a byte-order mark before the header is dropped."""
    first, rest = True, b""
    while chunk := binary.read(1 << 16):
        rest += chunk
        start = 0
        for end in _LINE_END.finditer(rest):
            if end.group() == b"\r" and end.end() == len(rest):
                break  # a CR at the chunk's end may be the first half of a CRLF
            line = rest[start:end.end()].decode("utf-8")
            if first:
                line, first = line.removeprefix("\ufeff"), False
            yield line
            start = end.end()
        rest = rest[start:]
    if rest:
        line = rest.decode("utf-8")
        yield line.removeprefix("\ufeff") if first else line


async def import_file(
    conn: asyncpg.Connection, kind: str, path: Path | str, *, as_of: date | None = None,
    progress: Progress | None = None, source_name: str | None = None, within: Sequence[str] | None = None,
    grants_admin: bool = True, connect: Connect | None = None,
) -> ImportResult:
    """Imports a UTF-8 CSV file of one kind, streaming it; see the module docstring."""
    path = Path(path)
    with path.open("rb") as binary:
        counter = CountingReader(binary)
        reader = csv.reader(_decoded_lines(io.BufferedReader(counter, buffer_size=1 << 16)))
        try:
            header = next(reader, None) or []
        except (UnicodeDecodeError, csv.Error) as exc:
            import_id = await _start_job(conn, kind, source_name or path.name)
            result = ImportResult(import_id=import_id, kind=kind, status="failed", error_count=1,
                                  errors=[RowError(1, "file", _unreadable(exc))])
            try:
                await _finish_job(conn, result)
            finally:
                await _release_job(conn, import_id)
            return result
        return await import_rows(conn, kind, header, reader, source_name=source_name or path.name, as_of=as_of,
                                 progress=progress, bytes_read=lambda: counter.count, within=within,
                                 grants_admin=grants_admin, connect=connect)
