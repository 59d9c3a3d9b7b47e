"""Every query of the registry service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import any_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.importer import job_lock_key
from services.registry.models import (
    Credential,
    Department,
    DepartmentAssignment,
    Household,
    HouseholdContact,
    HouseholdProxy,
    ImportJob,
    OrgUnit,
    OrgUnitHistory,
    PartyOrg,
    Person,
    PersonPersonal,
    RetiredCode,
    RoleGrant,
)
from services.registry.rules.roles import CADRE_ROLES


def prefix_range(code: str) -> tuple[str, str]:
    """Returns [low, high) bounds of every code starting with `code` (codes are digits, ':' follows '9')."""
    return code, code + ":"


def within(column: Any, code: str) -> Any:
    """A condition: the column's code equals `code` or lies below it (an index range scan)."""
    low, high = prefix_range(code)
    return (column >= low) & (column < high)


class Member(NamedTuple):
    """A household member as a page of households reads them: the person's columns and their personal data's."""

    person_id: uuid.UUID
    household_id: uuid.UUID | None
    adult: bool
    name: str
    phone: str | None
    id_number: str | None
    birth_date: date | None
    address: str | None


def _uuids(ids: Sequence[uuid.UUID]) -> Any:
    # One array parameter, not one parameter per id: a page's hundred ids make one statement, prepared once, rather than
    # a statement text per count of ids.
    return bindparam(None, list(ids), type_=ARRAY(UUID(as_uuid=True)))


class Repository:
    """Queries over one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- units ---------------------------------------------------------------------------------

    async def share_lock_line(self, codes: Sequence[str]) -> int:
        """Locks units by code in share mode, top down: a move of any of them (which locks it for update) waits for
        this transaction, or this one for the move, so what is added below them is re-coded with them. Returns how
        many of the codes exist (fewer when one was moved or never existed)."""
        rows = await self.session.execute(
            select(OrgUnit.unit_id).where(OrgUnit.code.in_(list(codes)))
            .order_by(func.length(OrgUnit.code)).with_for_update(read=True)
        )
        return len(rows.all())

    async def unit_by_code(self, code: str, *, lock: str | None = None) -> OrgUnit | None:
        """A unit by its current code; locked "update" (to change it) or "share" (to add below it or grant at it):
        the row is read again once the lock is held, so a unit moved or retired meanwhile is seen as it is now."""
        stmt = select(OrgUnit).where(OrgUnit.code == code)
        if lock is not None:
            stmt = stmt.with_for_update(read=lock == "share")
            return (await self.session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()
        return await self.session.scalar(stmt)

    async def unit_by_id(self, unit_id: uuid.UUID) -> OrgUnit | None:
        return await self.session.get(OrgUnit, unit_id)

    async def units_by_codes(self, codes: Sequence[str]) -> list[OrgUnit]:
        rows = await self.session.scalars(
            select(OrgUnit).where(OrgUnit.code.in_(list(codes))).order_by(func.length(OrgUnit.code))
        )
        return list(rows)

    async def children(self, unit_id: uuid.UUID, *, include_retired: bool) -> list[OrgUnit]:
        query = select(OrgUnit).where(OrgUnit.parent_id == unit_id)
        if not include_retired:
            query = query.where(OrgUnit.retired_on.is_(None))
        return list(await self.session.scalars(query.order_by(OrgUnit.code)))

    async def active_children_count(self, unit_id: uuid.UUID) -> int:
        return await self.session.scalar(
            select(func.count()).where(OrgUnit.parent_id == unit_id, OrgUnit.retired_on.is_(None))
        )

    async def search(self, q: str, *, within_code: str | None, levels: Sequence[str], limit: int) -> list[OrgUnit]:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = select(OrgUnit).where(OrgUnit.name.ilike(pattern), OrgUnit.level.in_(list(levels)),
                                      OrgUnit.retired_on.is_(None))
        if within_code:
            query = query.where(within(OrgUnit.code, within_code))
        return list(await self.session.scalars(query.order_by(OrgUnit.code).limit(limit)))

    async def is_retired_code(self, code: str) -> bool:
        return await self.session.get(RetiredCode, code) is not None

    async def history(self, unit_id: uuid.UUID) -> list[OrgUnitHistory]:
        rows = await self.session.scalars(
            select(OrgUnitHistory).where(OrgUnitHistory.unit_id == unit_id).order_by(OrgUnitHistory.history_id)
        )
        return list(rows)

    async def latest_change_on(self, code: str, *, below: bool = False) -> date | None:
        """The latest date on which the unit at `code` began or changed (with `below`: or on which a unit under it was
        moved, re-coded or retired), by its record and its history: a change dated earlier would rewrite the current
        state against that history. Units registered below it later do not count: a boundary change recorded after
        the fact keeps its official date, and what was registered meanwhile follows it."""
        low, high = prefix_range(code)
        own = ("SELECT greatest(u.effective_on, max(h.effective_on)) FROM org_unit u "
               "LEFT JOIN org_unit_history h ON h.unit_id = u.unit_id WHERE u.code = :low GROUP BY u.effective_on")
        if not below:
            return await self.session.scalar(text(own), {"low": low})
        return await self.session.scalar(text(
            f"SELECT greatest(({own}), (SELECT max(h.effective_on) FROM org_unit u JOIN org_unit_history h "
            "ON h.unit_id = u.unit_id WHERE u.code > :low AND u.code < :high "
            "AND h.change IN ('moved', 'recoded', 'retired')))"), {"low": low, "high": high})

    async def retire_codes_under(self, code: str, on: date, reason: str) -> None:
        """Records every code at or below `code` as never to be issued again."""
        low, high = prefix_range(code)
        await self.session.execute(
            text("INSERT INTO retired_code (code, unit_id, retired_on, reason) "
                 "SELECT code, unit_id, :on, :reason FROM org_unit WHERE code >= :low AND code < :high "
                 "ON CONFLICT (code) DO NOTHING"),
            {"on": on, "reason": reason, "low": low, "high": high},
        )

    async def record_recoded_descendants(self, old: str, new: str, on: date) -> None:
        """Writes a "recoded" history entry for each unit below a moved one (now under `new`): its old code stays
        traceable from its own history."""
        low, high = prefix_range(new)
        await self.session.execute(
            text("INSERT INTO org_unit_history (unit_id, change, old_code, new_code, old_name, new_name, effective_on) "
                 "SELECT unit_id, 'recoded', :old || substr(code, :cut), code, name, name, :on FROM org_unit "
                 "WHERE code > :new AND code >= :low AND code < :high"),
            {"old": old, "new": new, "cut": len(new) + 1, "low": low, "high": high, "on": on},
        )

    async def current_code_of_retired(self, code: str) -> tuple[str, str] | None:
        """For a code no longer in use: (why: moved | retired, the unit's code today)."""
        row = (await self.session.execute(text(
            "SELECT r.reason, u.code FROM retired_code r JOIN org_unit u ON u.unit_id = r.unit_id WHERE r.code = :c"),
            {"c": code})).first()
        return (row[0], row[1]) if row else None

    async def recode_subtree(self, old: str, new: str) -> None:
        """Gives a unit and its descendants their new codes, and moves the grants scoped there. The new code of a
        descendant retired before the move is retired too: it is never issued again, as its old code is not."""
        low, high = prefix_range(old)
        params = {"new": new, "cut": len(old) + 1, "low": low, "high": high}
        await self.session.execute(
            text("UPDATE org_unit SET code = :new || substr(code, :cut) WHERE code >= :low AND code < :high"), params
        )
        new_low, new_high = prefix_range(new)
        await self.session.execute(
            text("INSERT INTO retired_code (code, unit_id, retired_on, reason) "
                 "SELECT code, unit_id, retired_on, 'retired' FROM org_unit "
                 "WHERE retired_on IS NOT NULL AND code >= :low AND code < :high ON CONFLICT (code) DO NOTHING"),
            {"low": new_low, "high": new_high},
        )
        await self.session.execute(
            text("UPDATE role_grant SET scope_code = :new || substr(scope_code, :cut) "
                 "WHERE scope_code >= :low AND scope_code < :high"),
            params,
        )

    # -- people ----------------------------------------------------------------------------------

    async def person(self, person_id: uuid.UUID) -> tuple[Person, PersonPersonal, str | None] | None:
        row = (await self.session.execute(
            select(Person, PersonPersonal, OrgUnit.code)
            .join(PersonPersonal, PersonPersonal.person_id == Person.person_id)
            .outerjoin(OrgUnit, OrgUnit.unit_id == Person.household_id)
            .where(Person.person_id == person_id)
        )).first()
        return (row[0], row[1], row[2]) if row else None

    async def person_by_phone(self, phone: str) -> PersonPersonal | None:
        return await self.session.scalar(select(PersonPersonal).where(PersonPersonal.phone == phone))

    async def personal_by(self, *, id_number: str | None = None, phone: str | None = None) -> PersonPersonal | None:
        query = select(PersonPersonal)
        query = query.where(PersonPersonal.id_number == id_number) if id_number else query.where(PersonPersonal.phone == phone)
        return await self.session.scalar(query)

    async def household_code_of(self, person_id: uuid.UUID) -> str | None:
        return await self.session.scalar(
            select(OrgUnit.code).join(Person, Person.household_id == OrgUnit.unit_id).where(Person.person_id == person_id)
        )

    async def grants_of(self, person_id: uuid.UUID, *, active_only: bool = True) -> list[RoleGrant]:
        query = select(RoleGrant).where(RoleGrant.person_id == person_id)
        if active_only:
            query = query.where(RoleGrant.revoked_on.is_(None))
        return list(await self.session.scalars(query.order_by(RoleGrant.scope_code, RoleGrant.role)))

    async def grant(self, grant_id: uuid.UUID) -> RoleGrant | None:
        return await self.session.get(RoleGrant, grant_id)

    async def active_grant(self, person_id: uuid.UUID, role: str, scope_code: str) -> RoleGrant | None:
        return await self.session.scalar(select(RoleGrant).where(
            RoleGrant.person_id == person_id, RoleGrant.role == role, RoleGrant.scope_code == scope_code,
            RoleGrant.revoked_on.is_(None)))

    async def active_grants_at(self, role: str, scope_code: str) -> list[RoleGrant]:
        return list(await self.session.scalars(select(RoleGrant).where(
            RoleGrant.role == role, RoleGrant.scope_code == scope_code, RoleGrant.revoked_on.is_(None))))

    async def holders(self, role: str, scope_code: str, limit: int, *, at: list[str] | None = None,
                      under: list[str] | None = None) -> list[tuple[RoleGrant, PersonPersonal]]:
        """The active holders of a role within a scope; if `at` or `under` is given, only those held at one of the
        codes `at` or within one of the codes `under`."""
        query = (
            select(RoleGrant, PersonPersonal).join(PersonPersonal, PersonPersonal.person_id == RoleGrant.person_id)
            .where(RoleGrant.role == role, RoleGrant.revoked_on.is_(None), within(RoleGrant.scope_code, scope_code))
        )
        if at is not None or under is not None:
            query = query.where(or_(RoleGrant.scope_code.in_(at or []),
                                    *(within(RoleGrant.scope_code, code) for code in under or [])))
        rows = await self.session.execute(query.order_by(RoleGrant.scope_code, RoleGrant.person_id).limit(limit))
        return [(r[0], r[1]) for r in rows]

    # -- households ------------------------------------------------------------------------------

    async def household(self, code: str, *, lock: str | None = None) -> tuple[OrgUnit, Household] | None:
        """A household by its unit's code; locked "update" (its unit and household rows, to change who speaks for it)
        or "share" (its unit row, to register someone in it), and read again once the lock is held."""
        stmt = (select(OrgUnit, Household).join(Household, Household.unit_id == OrgUnit.unit_id)
                .where(OrgUnit.code == code))
        if lock is not None:
            stmt = (stmt.with_for_update(read=True, of=OrgUnit) if lock == "share" else stmt.with_for_update())
            stmt = stmt.execution_options(populate_existing=True)
        row = (await self.session.execute(stmt)).first()
        return (row[0], row[1]) if row else None

    async def households_under(self, code: str, *, after: str | None, limit: int) -> list[tuple[uuid.UUID, str, uuid.UUID | None]]:
        """Returns (unit_id, code, representative) of active households under a code, by code."""
        query = (select(OrgUnit.unit_id, OrgUnit.code, Household.representative_person_id)
                 .join(Household, Household.unit_id == OrgUnit.unit_id)
                 .where(OrgUnit.level == "household", within(OrgUnit.code, code), OrgUnit.retired_on.is_(None)))
        if after:
            query = query.where(OrgUnit.code > after)
        rows = await self.session.execute(query.order_by(OrgUnit.code).limit(limit))
        return [(r[0], r[1], r[2]) for r in rows]

    async def count_households_under(self, code: str) -> int:
        return await self.session.scalar(select(func.count()).select_from(OrgUnit).where(
            OrgUnit.level == "household", within(OrgUnit.code, code), OrgUnit.retired_on.is_(None)))

    async def members_of(self, household_ids: Sequence[uuid.UUID]) -> list[Member]:
        """Returns the members of households, each with the person's and their personal data's columns: read as
        columns, not as objects, since a page of households holds hundreds of members and is only read."""
        rows = await self.session.execute(
            select(Person.person_id, Person.household_id, Person.adult, PersonPersonal.name, PersonPersonal.phone,
                   PersonPersonal.id_number, PersonPersonal.birth_date, PersonPersonal.address)
            .join(PersonPersonal, PersonPersonal.person_id == Person.person_id)
            .where(Person.household_id == any_(_uuids(household_ids))).order_by(Person.household_id, PersonPersonal.birth_date)
        )
        return [Member._make(row) for row in rows.tuples()]

    async def proxies_of(self, household_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        rows = await self.session.execute(
            select(HouseholdProxy.household_id, HouseholdProxy.person_id)
            .where(HouseholdProxy.household_id == any_(_uuids(household_ids))).order_by(HouseholdProxy.person_id)
        )
        out: dict[uuid.UUID, list[uuid.UUID]] = {}
        for household_id, person_id in rows:
            out.setdefault(household_id, []).append(person_id)
        return out

    async def replace_proxies(self, household_id: uuid.UUID, person_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(text("DELETE FROM household_proxy WHERE household_id = :h"), {"h": household_id})
        for person_id in dict.fromkeys(person_ids):
            self.session.add(HouseholdProxy(household_id=household_id, person_id=person_id))
        await self.session.flush()

    async def contact(self, household_id: uuid.UUID, person_id: uuid.UUID, kind: str) -> HouseholdContact | None:
        return await self.session.get(HouseholdContact, (household_id, person_id, kind))

    # -- departments -----------------------------------------------------------------------------

    async def departments(self) -> list[tuple[Department, list[str]]]:
        rows = await self.session.execute(text(
            "SELECT d.department_code, coalesce(array_agg(u.code ORDER BY u.code) FILTER (WHERE u.code IS NOT NULL), '{}') "
            "FROM department d LEFT JOIN department_assignment a ON a.department_code = d.department_code AND a.active "
            "LEFT JOIN org_unit u ON u.unit_id = a.community_id GROUP BY d.department_code ORDER BY d.department_code"))
        assigned = {code: list(codes) for code, codes in rows}
        deps = await self.session.scalars(select(Department).order_by(Department.department_code))
        return [(d, assigned.get(d.department_code, [])) for d in deps]

    async def department(self, code: str) -> Department | None:
        return await self.session.get(Department, code)

    async def assignment(self, department_code: str, community_id: uuid.UUID) -> DepartmentAssignment | None:
        return await self.session.get(DepartmentAssignment, (department_code, community_id))

    # -- party organisations ---------------------------------------------------------------------

    async def party_org(self, unit_id: uuid.UUID) -> PartyOrg | None:
        return await self.session.scalar(select(PartyOrg).where(PartyOrg.unit_id == unit_id))

    # -- coverage --------------------------------------------------------------------------------

    async def codes(self, level: str, scope: str) -> list[str]:
        rows = await self.session.scalars(select(OrgUnit.code).where(
            OrgUnit.level == level, within(OrgUnit.code, scope), OrgUnit.retired_on.is_(None)).order_by(OrgUnit.code))
        return list(rows)

    async def liaison_community_codes(self, scope: str) -> list[str]:
        rows = await self.session.scalars(
            select(OrgUnit.code).join(DepartmentAssignment, DepartmentAssignment.community_id == OrgUnit.unit_id)
            .where(DepartmentAssignment.active, within(OrgUnit.code, scope)).distinct())
        return list(rows)

    async def grant_scopes(self, role: str, scope: str) -> list[str]:
        rows = await self.session.scalars(select(RoleGrant.scope_code).where(
            RoleGrant.role == role, RoleGrant.revoked_on.is_(None), within(RoleGrant.scope_code, scope)))
        return list(rows)

    async def households_per(self, prefix_length: int, scope: str) -> dict[str, int]:
        low, high = prefix_range(scope)
        rows = await self.session.execute(text(
            "SELECT left(code, :n), count(*) FROM org_unit WHERE level = 'household' AND retired_on IS NULL "
            "AND code >= :low AND code < :high GROUP BY 1"), {"n": prefix_length, "low": low, "high": high})
        return {code: n for code, n in rows}

    async def staff_per(self, role: str, prefix_length: int, scope: str) -> dict[str, int]:
        low, high = prefix_range(scope)
        rows = await self.session.execute(text(
            "SELECT left(scope_code, :n), count(DISTINCT person_id) FROM role_grant WHERE role = :role "
            "AND revoked_on IS NULL AND scope_code >= :low AND scope_code < :high AND length(scope_code) >= :n "
            "GROUP BY 1"), {"n": prefix_length, "role": role, "low": low, "high": high})
        return {code: n for code, n in rows}

    async def six_haves(self, scope: str) -> dict[str, dict]:
        rows = await self.session.execute(
            select(OrgUnit.code, PartyOrg.six_haves).join(PartyOrg, PartyOrg.unit_id == OrgUnit.unit_id)
            .where(OrgUnit.level == "grid", PartyOrg.kind == "big_branch", within(OrgUnit.code, scope),
                   OrgUnit.retired_on.is_(None)))
        return {code: checklist or {} for code, checklist in rows}

    async def households_without_contact(self, scope: str, kind: str, limit: int) -> tuple[int, list[str]]:
        low, high = prefix_range(scope)
        where = ("FROM org_unit u WHERE u.level = 'household' AND u.retired_on IS NULL AND u.code >= :low "
                 "AND u.code < :high AND NOT EXISTS (SELECT 1 FROM household_contact c "
                 "WHERE c.household_id = u.unit_id AND c.kind = :kind "
                 # A party member's contact counts while they are one, a visiting cadre's while they hold a cadre's
                 # role covering the household (a revoked role ends the contact's cover).
                 "AND EXISTS (SELECT 1 FROM role_grant g WHERE g.person_id = c.person_id AND g.revoked_on IS NULL "
                 "AND CASE c.kind WHEN 'party_member' THEN g.role = 'party_member' "
                 "ELSE g.role = ANY(CAST(:cadres AS text[])) AND starts_with(u.code, g.scope_code) END))")
        params = {"low": low, "high": high, "kind": kind, "limit": limit, "cadres": sorted(r.value for r in CADRE_ROLES)}
        count = await self.session.scalar(text(f"SELECT count(*) {where}"), params)
        codes = await self.session.scalars(text(f"SELECT u.code {where} ORDER BY u.code LIMIT :limit"), params)
        return count, list(codes)

    # -- imports and credentials -----------------------------------------------------------------

    async def import_job(self, import_id: uuid.UUID) -> ImportJob | None:
        return await self.session.get(ImportJob, import_id)

    async def running_import_ids(self) -> list[uuid.UUID]:
        return list(await self.session.scalars(select(ImportJob.import_id).where(ImportJob.status == "running")))

    async def fail_abandoned_import(self, import_id: uuid.UUID, reason: str) -> bool:
        """Marks a running import failed when no session holds its lock (the importing one ended without writing its
        outcome); returns whether it did. The lock taken here lasts until this transaction ends, so an import's own
        final write (made before it gives the lock up) and this one never both apply."""
        if not await self.session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                         {"key": job_lock_key(import_id)}):
            return False
        marked = await self.session.execute(
            update(ImportJob).where(ImportJob.import_id == import_id, ImportJob.status == "running")
            .values(status="failed", rows_created=0, error_count=1, finished_at=func.now(),
                    errors=[{"row": 0, "field": "file", "reason": reason}])
            .execution_options(synchronize_session=False))
        return marked.rowcount == 1

    async def credential(self, person_id: uuid.UUID) -> Credential | None:
        return await self.session.get(Credential, person_id)

    async def set_credential(self, person_id: uuid.UUID, password_hash: str) -> None:
        await self.session.execute(text(
            "INSERT INTO credential (person_id, password_hash, updated_at) VALUES (:p, :h, clock_timestamp()) "
            "ON CONFLICT (person_id) DO UPDATE SET password_hash = EXCLUDED.password_hash, updated_at = clock_timestamp()"),
            {"p": person_id, "h": password_hash})

    async def mark_unit(self, unit_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(update(OrgUnit).where(OrgUnit.unit_id == unit_id).values(**values))
