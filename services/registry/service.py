"""The registry's use cases: org units, people and roles, households, departments, coverage, log-in.

Every write flushes and publishes its events through the outbox in the caller's transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from functools import lru_cache
from collections.abc import Iterable
from datetime import UTC, date, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import importer, schemas
from services.registry.events import (
    DepartmentAssigned,
    HouseholdRepresentativeSet,
    ResidencyChanged,
    RoleGranted,
    RoleRevoked,
    UnitCreated,
    UnitMoved,
    UnitRenamed,
    UnitRetired,
)
from services.registry.models import (
    DepartmentAssignment,
    Household,
    HouseholdContact,
    OrgUnit,
    OrgUnitHistory,
    PartyOrg,
    Person,
    PersonPersonal,
    RetiredCode,
    RoleGrant,
)
from services.registry.repository import Member, Repository
from services.registry.rules import coverage as coverage_rules
from services.registry.rules.codes import (
    CodeRuleError,
    Level,
    ancestors,
    configured_scheme,
    level_of,
    parent_code,
    parent_level,
    validate_child_code,
    validate_code,
)
from services.registry.rules.roles import (
    CADRE_ROLES,
    GRANTED_BY,
    PERSONAL_DATA_ROLES,
    SIX_HAVES,
    STAFF_ROLES,
    Role,
    can_see_personal_data,
    is_valid_scope,
    party_org_kind_for_level,
    six_haves_shortfall,
)
from youmin.kit.auth import Grant, Principal
from youmin.kit.calendar import local_date
from youmin.kit.errors import Conflict, Forbidden, NotFound, PersonUnknown, RuleViolation, Unauthorized
from youmin.kit.outbox import publish
from youmin.kit.pii import (
    PiiValidationError,
    birth_date_from_id_number,
    is_adult,
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
    validate_mobile,
)

PUBLIC_NAME_LEVELS = frozenset({Level.DISTRICT, Level.STREET, Level.COMMUNITY, Level.GRID})
# Staff who may change the org tree, grant roles and manage households within their scope.
WRITER_ROLES = frozenset(r.value for r in STAFF_ROLES)
IMPORTER_ROLES = frozenset({Role.ADMIN.value, Role.DISTRICT_STAFF.value})


def _district_wide(principal: Principal) -> bool:
    """Whether the caller is the district's staff or an administrator (a grant at a district code)."""
    return any(g.role in IMPORTER_ROLES and len(g.scope) == 6 for g in principal.grants)
READER_ROLES = frozenset(r.value for r in PERSONAL_DATA_ROLES)
PASSWORDS = PasswordHasher()
# The rule is pure; a page of households asks it for the same (role, scope, unit) many times (under one scheme).
_can_see_under = lru_cache(maxsize=65536)(can_see_personal_data)


def _can_see(role: str, scope: str, code: str) -> bool:
    return _can_see_under(role, scope, code, configured_scheme())


_DUMMY_HASH = PASSWORDS.hash("not-a-real-password")


def _today(on: date | None, *, not_before: date | None = None, what: str = "") -> date:
    """The date a change takes effect: today (in China) unless given. A change takes effect when it is recorded, so a
    date ahead is refused (nothing schedules it), as is one before `not_before` (`what` says what happened then: the
    record it changes began, or its latest recorded change)."""
    today = local_date(datetime.now(UTC))
    if on is None:
        return max(today, not_before) if not_before else today
    if on > today:
        raise RuleViolation("date.in_future", f"effective_on: a change takes effect when it is recorded; {on} is after "
                            f"today ({today})", field="effective_on")
    if not_before is not None and on < not_before:
        raise RuleViolation("date.before_record", f"effective_on: {on} is before {what or 'the record began'} "
                            f"({not_before})", field="effective_on")
    return on


def code_rule(exc: CodeRuleError, field: str = "code") -> RuleViolation:
    """Turns a code rule error into a 422 naming the rule and the field."""
    return RuleViolation(exc.rule, exc.detail, field=field)


def _unit_read(unit: OrgUnit) -> schemas.UnitRead:
    return schemas.UnitRead(unit_id=unit.unit_id, code=unit.code, level=unit.level, name=unit.name,
                            parent_code=parent_code(unit.code), effective_on=unit.effective_on,
                            retired_on=unit.retired_on)


def _require_writer(principal: Principal, code: str) -> None:
    if not principal.covers(code, WRITER_ROLES):
        raise Forbidden(f"only staff whose scope covers {code} may do this", scope=code)


def _require_granter(principal: Principal, role: Role, code: str) -> None:
    """Refuses unless the caller holds, over the scope, a role that grants and revokes this one (GRANTED_BY)."""
    granters = GRANTED_BY[role]
    if not principal.covers(code, {r.value for r in granters}):
        raise Forbidden(f"role: a {role.value} at {code} is granted by {', '.join(sorted(r.value for r in granters))} "
                        f"covering it", scope=code, field="role")


class RegistryService:
    """The registry's use cases over one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = Repository(session)

    # -- org units ---------------------------------------------------------------------------------

    async def unit(self, code: str, field: str = "code") -> OrgUnit:
        """The unit of a code; a malformed code is a 422 naming `field` (the request's name for it)."""
        try:
            validate_code(code)
        except CodeRuleError as exc:
            raise code_rule(exc, field) from None
        unit = await self.repo.unit_by_code(code)
        if unit is None:
            former = await self.repo.current_code_of_retired(code)
            if former is not None and former[0] == "moved":
                raise NotFound(f"{code} is no longer in use: the unit moved and is {former[1]} now", code=code,
                               moved_to=former[1])
            raise NotFound(f"no org unit {code}", code=code)
        return unit

    async def unit_with_ancestors(self, principal: Principal, code: str) -> schemas.UnitWithAncestors:
        """Returns a unit and the units above it."""
        unit = await self.unit(code)
        self._check_tree_read(principal, unit)
        above = await self.repo.units_by_codes(ancestors(unit.code))
        return schemas.UnitWithAncestors(**_unit_read(unit).model_dump(), ancestors=[_unit_read(u) for u in above])

    def _check_tree_read(self, principal: Principal, unit: OrgUnit) -> None:
        # District to grid is the public structure; buildings and below locate homes.
        if Level(unit.level) not in PUBLIC_NAME_LEVELS and not principal.covers(unit.code):
            raise Forbidden(f"no grant covers {unit.code}", scope=unit.code)

    async def children(self, principal: Principal, code: str, include_retired: bool) -> list[schemas.UnitRead]:
        """Returns a unit's children."""
        unit = await self.unit(code)
        if Level(unit.level) in (Level.GRID, Level.BUILDING, Level.UNIT) and not principal.covers(unit.code):
            raise Forbidden(f"no grant covers {unit.code}", scope=unit.code)
        return [_unit_read(u) for u in await self.repo.children(unit.unit_id, include_retired=include_retired)]

    async def search(self, q: str, within_code: str | None, limit: int) -> list[schemas.UnitRead]:
        """Finds units (district to grid) by name."""
        levels = [lv.value for lv in PUBLIC_NAME_LEVELS]
        return [_unit_read(u) for u in await self.repo.search(q, within_code=within_code, levels=levels, limit=limit)]

    async def history(self, principal: Principal, code: str) -> list[schemas.UnitHistoryRead]:
        """Returns a unit's renames, moves and retirements."""
        unit = await self.unit(code)
        self._check_tree_read(principal, unit)
        return [schemas.UnitHistoryRead.model_validate(h, from_attributes=True) for h in await self.repo.history(unit.unit_id)]

    async def _codes_in_use(self, *codes: str | None) -> tuple[set[str], set[str]]:
        """Returns (existing, retired) among the given codes, for the pure code rules."""
        existing, retired = set(), set()
        for code in filter(None, codes):
            unit = await self.repo.unit_by_code(code)
            if unit is not None:
                existing.add(code)
                if unit.retired_on is not None:
                    retired.add(code)
            if await self.repo.is_retired_code(code):
                retired.add(code)
        return existing, retired

    async def create_unit(self, principal: Principal, body: schemas.UnitCreate) -> schemas.UnitRead:
        """Creates a unit under its parent; publishes unit.created."""
        try:
            level = Level(body.level) if body.level else level_of(body.code)
        except CodeRuleError as exc:
            raise code_rule(exc) from None
        except ValueError:
            raise RuleViolation("code.unknown_level", f"{body.level!r} is not a level", field="level") from None
        try:
            given_parent = body.parent_code if body.parent_code is not None else parent_code(body.code)
            validate_child_code(body.code, level, given_parent, existing_codes=(), retired_codes=())
        except CodeRuleError as exc:
            raise code_rule(exc) from None
        _require_writer(principal, given_parent or body.code)
        parent = None
        if given_parent is not None:
            # The parent's line is locked against a move (of the parent or above it) or a retirement while the child
            # is added: the child is re-coded with its parent, or added under its new code.
            await self.repo.share_lock_line([*ancestors(given_parent), given_parent])
            parent = await self.repo.unit_by_code(given_parent, lock="share")
            if parent is None:
                raise RuleViolation("code.parent_unknown", f"parent {given_parent} does not exist", field="parent_code")
            if parent.retired_on is not None:
                raise RuleViolation("code.parent_retired", f"parent {given_parent} was retired and takes no new children",
                                    field="parent_code")
        existing, retired = await self._codes_in_use(body.code, given_parent)
        try:
            validate_child_code(body.code, level, given_parent, existing_codes=existing, retired_codes=retired)
        except CodeRuleError as exc:
            raise code_rule(exc) from None
        # A unit exists within its parent: not from before the parent began.
        effective_on = _today(body.effective_on, not_before=parent.effective_on if parent else None,
                              what=f"the parent {given_parent} began")
        unit = OrgUnit(unit_id=uuid.uuid4(), code=body.code, parent_id=parent.unit_id if parent else None,
                       level=level.value, name=body.name, effective_on=effective_on)
        self.session.add(unit)
        await self.session.flush()
        if level is Level.HOUSEHOLD:
            self.session.add(Household(unit_id=unit.unit_id))
            await self.session.flush()
        await publish(self.session, UnitCreated(
            unit_id=unit.unit_id, unit_code=unit.code, parent_code=given_parent, level=level.value,
            unit_name=body.name if level in PUBLIC_NAME_LEVELS else None, effective_on=effective_on))
        return _unit_read(unit)

    async def _writable_unit(self, principal: Principal, code: str) -> OrgUnit:
        await self.unit(code)  # a well-formed code of an existing unit, else 422/404
        # Locked: a concurrent move or retirement finishes first, and this one sees its outcome (a moved unit is no
        # longer at this code).
        unit = await self.repo.unit_by_code(code, lock="update")
        if unit is None:
            raise NotFound(f"no org unit {code} (it was moved or changed meanwhile)", code=code)
        _require_writer(principal, parent_code(unit.code) or unit.code)
        if unit.retired_on is not None:
            raise Conflict(f"{code} was retired on {unit.retired_on}", allowed=[])
        return unit

    async def _changes_from(self, unit: OrgUnit, *, below: bool = False) -> tuple[date, str]:
        """The earliest date a change to a unit may take effect, and what happened then: when it began or its latest
        recorded change (with `below`, of any unit under it too: a move re-codes them and a retirement ends their
        line). An earlier date would rewrite the current state against the history."""
        latest = await self.repo.latest_change_on(unit.code, below=below)
        if latest is None or latest <= unit.effective_on:
            return unit.effective_on, "the unit began"
        return latest, ("the latest recorded change of the unit or a unit below it" if below
                        else "the unit's latest recorded change")

    async def rename_unit(self, principal: Principal, code: str, body: schemas.UnitRename) -> schemas.UnitRead:
        """Renames a unit from a date, keeping the old name in its history; publishes unit.renamed."""
        unit = await self._writable_unit(principal, code)
        not_before, what = await self._changes_from(unit)
        effective_on = _today(body.effective_on, not_before=not_before, what=what)
        if body.name == unit.name:
            return _unit_read(unit)
        self.session.add(OrgUnitHistory(unit_id=unit.unit_id, change="renamed", old_code=unit.code, new_code=unit.code,
                                        old_name=unit.name, new_name=body.name, effective_on=effective_on))
        unit.name = body.name
        await self.session.flush()
        if Level(unit.level) in PUBLIC_NAME_LEVELS:
            await publish(self.session, UnitRenamed(unit_id=unit.unit_id, unit_code=unit.code, unit_name=body.name,
                                                    effective_on=effective_on))
        return _unit_read(unit)

    async def move_unit(self, principal: Principal, code: str, body: schemas.UnitMove) -> schemas.UnitRead:
        """Moves a unit under another parent with a new code; its old codes are never reused; publishes unit.moved."""
        unit = await self._writable_unit(principal, code)
        level = Level(unit.level)
        if parent_level(level) is None:
            raise RuleViolation("unit.district_cannot_move", "a district has no parent to move under", field="code")
        try:
            validate_child_code(body.new_code, level, body.new_parent_code, existing_codes=(), retired_codes=())
        except CodeRuleError as exc:
            raise code_rule(exc, "new_code") from None
        _require_writer(principal, body.new_parent_code)
        new_parent = await self.repo.unit_by_code(body.new_parent_code, lock="share")
        if new_parent is None:
            raise RuleViolation("code.parent_unknown", f"parent {body.new_parent_code} does not exist",
                                field="new_parent_code")
        if new_parent.retired_on is not None:
            raise RuleViolation("code.parent_retired", f"parent {body.new_parent_code} was retired and takes no new "
                                "children", field="new_parent_code")
        existing, retired = await self._codes_in_use(body.new_code, body.new_parent_code)
        try:
            validate_child_code(body.new_code, level, body.new_parent_code, existing_codes=existing,
                                retired_codes=retired)
        except CodeRuleError as exc:
            raise code_rule(exc, "new_code") from None
        # Not before the unit or anything below it (all re-coded on that date) last changed, nor before the new
        # parent began.
        not_before, what = await self._changes_from(unit, below=True)
        if new_parent.effective_on > not_before:
            not_before, what = new_parent.effective_on, f"the new parent {new_parent.code} began"
        effective_on = _today(body.effective_on, not_before=not_before, what=what)
        old_code = unit.code
        await self.session.flush()
        await self.repo.retire_codes_under(old_code, effective_on, "moved")
        await self.repo.recode_subtree(old_code, body.new_code)
        await self.repo.record_recoded_descendants(old_code, body.new_code, effective_on)
        await self.repo.mark_unit(unit.unit_id, parent_id=new_parent.unit_id)
        self.session.add(OrgUnitHistory(unit_id=unit.unit_id, change="moved", old_code=old_code, new_code=body.new_code,
                                        old_name=unit.name, new_name=unit.name, effective_on=effective_on))
        await self.session.flush()
        await self.session.refresh(unit)
        await publish(self.session, UnitMoved(unit_id=unit.unit_id, old_code=old_code, new_code=body.new_code,
                                              new_parent_code=body.new_parent_code, effective_on=effective_on))
        return _unit_read(unit)

    async def retire_unit(self, principal: Principal, code: str, body: schemas.UnitRetire) -> schemas.UnitRead:
        """Retires a unit without active children; revokes the grants scoped to it; publishes unit.retired."""
        unit = await self._writable_unit(principal, code)
        if await self.repo.active_children_count(unit.unit_id):
            raise Conflict(f"{code} still has active units below it", allowed=["retire or move its children first"])
        if unit.level == Level.HOUSEHOLD.value and await self.repo.members_of([unit.unit_id]):
            raise Conflict(f"people still live in {code}", allowed=["move its members out first"])
        not_before, what = await self._changes_from(unit, below=True)
        effective_on = _today(body.effective_on, not_before=not_before, what=what)
        unit.retired_on = effective_on
        self.session.add(RetiredCode(code=unit.code, unit_id=unit.unit_id, retired_on=effective_on, reason="retired"))
        self.session.add(OrgUnitHistory(unit_id=unit.unit_id, change="retired", old_code=unit.code, new_code=None,
                                        old_name=unit.name, new_name=None, effective_on=effective_on))
        await self.session.flush()
        await publish(self.session, UnitRetired(unit_id=unit.unit_id, unit_code=unit.code, effective_on=effective_on))
        for role in Role:
            for grant in await self.repo.active_grants_at(role.value, unit.code):
                await self._revoke(grant, effective_on)
        return _unit_read(unit)

    # -- people --------------------------------------------------------------------------------------

    @staticmethod
    def _sees_personal(principal: Principal, person_id: uuid.UUID, subject_codes: Iterable[str | None]) -> bool:
        codes = [c for c in subject_codes if c]
        if not codes:
            # Someone living and serving nowhere in the district yet (an adviser from outside): the district's staff,
            # who register and place such people, see them.
            return principal.sub == str(person_id) or _district_wide(principal)
        return principal.sub == str(person_id) or any(
            _can_see(g.role, g.scope, code) for g in principal.grants for code in codes)

    def _personal(self, principal: Principal, personal: PersonPersonal | Member, subject_codes: Iterable[str | None],
                  person_id: uuid.UUID) -> schemas.PersonalData:
        if self._sees_personal(principal, person_id, subject_codes):
            return schemas.PersonalData(name=personal.name, phone=personal.phone, id_number=personal.id_number,
                                        birth_date=personal.birth_date, address=personal.address, masked=False)
        return schemas.PersonalData(
            name=mask_name(personal.name), phone=mask_phone(personal.phone) if personal.phone else None,
            id_number=mask_id_number(personal.id_number) if personal.id_number else None, birth_date=None,
            address=mask_address(personal.address) if personal.address else None, masked=True)

    def _person_read(self, principal: Principal, person: Person | Member, personal: PersonPersonal | Member,
                     household_code: str | None, extra_codes: Iterable[str] = ()) -> schemas.PersonRead:
        """A person as the caller reads them; `person` and `personal` may be one Member (members_of)."""
        adult = is_adult(personal.birth_date, local_date(datetime.now(UTC))) if personal.birth_date else None
        return schemas.PersonRead(
            person_id=person.person_id, household_code=household_code, adult=adult,
            personal=self._personal(principal, personal, [household_code, *extra_codes], person.person_id))

    async def create_person(self, principal: Principal, body: schemas.PersonCreate) -> schemas.PersonRead:
        """Registers a person (optionally in a household); publishes residency.changed for a resident."""
        household = None
        if body.household_code:
            _require_writer(principal, body.household_code)
            try:
                above = ancestors(body.household_code)
            except CodeRuleError:
                raise RuleViolation("code.unknown_unit", f"no household {body.household_code}",
                                    field="household_code") from None
            # The household's line is locked as for adding a unit below it: a retirement of the household (which
            # locks it for update and finds nobody living there) waits for this registration, or this one for it and
            # sees it retired; a move waits too, so the household code published is the one the person lives at.
            await self.repo.share_lock_line([*above, body.household_code])
            found = await self.repo.household(body.household_code, lock="share")
            if found is None or found[0].retired_on is not None:
                raise RuleViolation("code.unknown_unit", f"no household {body.household_code}", field="household_code")
            household = found[0]
        elif not principal.roles() & WRITER_ROLES:
            raise Forbidden("only staff may register people")
        if await self.repo.personal_by(id_number=body.id_number):
            raise Conflict("a person with this ID number is already registered", field="id_number", allowed=[])
        if body.phone and await self.repo.personal_by(phone=body.phone):
            raise Conflict("this phone number is already registered to someone", field="phone", allowed=[])
        born_on = birth_date_from_id_number(body.id_number)
        today = local_date(datetime.now(UTC))
        if born_on > today:
            raise RuleViolation("person.born_in_future", "the ID number's birth date is in the future", field="id_number")
        person = Person(person_id=uuid.uuid4(), household_id=household.unit_id if household else None,
                        adult=is_adult(born_on, today))
        personal = PersonPersonal(person_id=person.person_id, name=body.name.strip(), phone=body.phone,
                                  id_number=body.id_number, birth_date=born_on, address=body.address)
        self.session.add(person)
        await self.session.flush()
        self.session.add(personal)
        await self.session.flush()
        if household is not None:
            await publish(self.session, ResidencyChanged(person_id=person.person_id, household_code=household.code,
                                                          adult=person.adult, effective_on=today))
        return self._person_read(principal, person, personal, household.code if household else None)

    async def _person_scopes(self, person_id: uuid.UUID) -> tuple[str | None, list[RoleGrant]]:
        return await self.repo.household_code_of(person_id), await self.repo.grants_of(person_id)

    def _may_read_person(self, principal: Principal, person_id: uuid.UUID, codes: Iterable[str | None]) -> bool:
        codes = [c for c in codes if c]
        if not codes:
            return principal.sub == str(person_id) or _district_wide(principal)
        return principal.sub == str(person_id) or any(principal.covers(c, READER_ROLES) for c in codes)

    async def person(self, principal: Principal, person_id: uuid.UUID) -> schemas.PersonRead:
        """Returns a person, masked unless the caller may see their personal data."""
        found = await self.repo.person(person_id)
        if found is None:
            raise NotFound(f"no person {person_id}")
        person, personal, household_code = found
        grants = await self.repo.grants_of(person_id)
        codes = [household_code, *(g.scope_code for g in grants)]
        if not self._may_read_person(principal, person_id, codes):
            raise Forbidden("no grant covers this person")
        return self._person_read(principal, person, personal, household_code, [g.scope_code for g in grants])

    async def person_roles(self, principal: Principal, person_id: uuid.UUID) -> list[schemas.GrantRead]:
        """Returns a person's active role grants. A resident's role is not a grant: it comes with their household (the
        person's household_code), as it does in their log-in token."""
        if await self.repo.person(person_id) is None:
            raise NotFound(f"no person {person_id}")
        household_code, grants = await self._person_scopes(person_id)
        if not self._may_read_person(principal, person_id, [household_code, *(g.scope_code for g in grants)]):
            raise Forbidden("no grant covers this person")
        return [schemas.GrantRead.model_validate(g, from_attributes=True) for g in grants]

    async def role_holders(self, principal: Principal, role: str, scope: str, limit: int) -> list[schemas.RoleHolder]:
        """Returns the people holding a role within a scope, masked unless the caller may see them."""
        try:
            validate_code(scope)
        except CodeRuleError as exc:
            raise code_rule(exc, "scope") from None
        if role not in {r.value for r in Role}:
            raise RuleViolation("role.unknown", f"{role!r} is not a role", field="role")
        if role == Role.RESIDENT:
            raise RuleViolation("role.implicit", "role: residents hold their role through their household, not a grant; "
                                "they are listed with their households (GET /api/v1/registry/units/{code}/households)",
                                field="role")
        # Anyone whose grants lie on the scope's line (above it, at it or below it) may ask who serves there. A caller
        # whose grants lie below it sees the holders who serve them: at the units above their grants, not beside
        # them (a resident asking the district for its party members gets those of their own line, not the district's
        # every party member with the code of each one's home).
        if principal.covers(scope):
            at = under = None
        else:
            under = [g.scope for g in principal.grants if g.scope.startswith(scope)]
            if not under:
                raise Forbidden(f"no grant of yours is related to {scope}", scope=scope)
            # The units on their line above their grants, and what their grants cover (a grid manager asking their
            # community sees their own grid's building heads).
            at = sorted({b[:n] for b in under for n in range(len(scope), len(b))})
        return [
            schemas.RoleHolder(grant_id=g.grant_id, person_id=g.person_id, role=g.role, scope_code=g.scope_code,
                               certified_social_worker=g.certified_social_worker,
                               personal=self._personal(principal, p, [g.scope_code], g.person_id))
            for g, p in await self.repo.holders(role, scope, limit, at=at, under=under)
        ]

    async def grant_role(self, principal: Principal, body: schemas.GrantCreate) -> schemas.GrantRead:
        """Grants a role at a scope; publishes role.granted."""
        if body.role not in {r.value for r in Role}:
            raise RuleViolation("role.unknown", f"{body.role!r} is not a role", field="role")
        if body.role == Role.RESIDENT:
            raise RuleViolation("role.implicit", "residents get their role from their household", field="role")
        try:
            validate_code(body.scope_code)
        except CodeRuleError as exc:
            raise code_rule(exc, "scope_code") from None
        if not is_valid_scope(body.role, body.scope_code):
            raise RuleViolation("role.scope_level", f"{body.role} cannot be held at a {level_of(body.scope_code).value}",
                                field="scope_code")
        if body.certified_social_worker and body.role != Role.COMMUNITY_WORKER:
            raise RuleViolation("role.certified_flag", "only community workers carry the certified flag",
                                field="certified_social_worker")
        if body.from_organisation and body.role != Role.PART_TIME_MEMBER:
            raise RuleViolation("role.from_organisation", "only part-time committee members come from an organisation",
                                field="from_organisation")
        _require_granter(principal, Role(body.role), body.scope_code)
        if principal.sub == str(body.person_id):
            raise Forbidden("person_id: nobody grants a role to themselves; ask staff above you", field="person_id")
        # Not retired nor moved while the grant is made (a grant made during a move is re-coded with it).
        await self.repo.share_lock_line([*ancestors(body.scope_code), body.scope_code])
        scope = await self.repo.unit_by_code(body.scope_code, lock="share")
        if scope is None or scope.retired_on is not None:
            raise RuleViolation("code.unknown_unit", f"no active unit {body.scope_code}", field="scope_code")
        if await self.repo.person(body.person_id) is None:
            raise NotFound(f"no person {body.person_id}", field="person_id")
        household_code, held = await self._person_scopes(body.person_id)
        # Someone registered without a household who has never held a role here (once they have, they are no longer
        # a newcomer: a role revoked must not let anyone claim them, and see their record, by granting another).
        newcomer = household_code is None and not await self.repo.grants_of(body.person_id, active_only=False)
        district_wide = principal.covers(body.scope_code, {Role.ADMIN.value, Role.DISTRICT_STAFF.value})
        if not (newcomer or district_wide
                or self._sees_personal(principal, body.person_id, [household_code, *(g.scope_code for g in held)])):
            # A role shows its holder's contact details to those covering its scope: granting one to a stranger
            # would show them to the granter. Roles go to people the granter may already see in full (or to someone
            # registered without a household and serving nowhere yet, such as an adviser from outside).
            raise Forbidden("person_id: you grant roles to people living or serving in your area; ask staff "
                            "covering where this person lives", field="person_id")
        if await self.repo.active_grant(body.person_id, body.role, body.scope_code):
            raise Conflict("this person already holds this role here", allowed=["revoke"])
        if body.role == Role.LEGAL_ADVISER and await self.repo.active_grants_at(body.role, body.scope_code):
            raise RuleViolation("legal_adviser.one_per_community", f"{body.scope_code} already has a legal adviser",
                                field="scope_code")
        effective_on = _today(body.effective_on)
        grant = RoleGrant(grant_id=uuid.uuid4(), person_id=body.person_id, role=body.role, scope_code=body.scope_code,
                          certified_social_worker=body.certified_social_worker,
                          from_organisation=body.from_organisation, effective_on=effective_on)
        self.session.add(grant)
        await self.session.flush()
        await publish(self.session, RoleGranted(grant_id=grant.grant_id, person_id=grant.person_id, role=grant.role,
                                                scope_code=grant.scope_code,
                                                certified_social_worker=grant.certified_social_worker,
                                                effective_on=effective_on))
        return schemas.GrantRead.model_validate(grant, from_attributes=True)

    async def _revoke(self, grant: RoleGrant, on: date) -> None:
        grant.revoked_on = on
        await self.session.flush()
        await publish(self.session, RoleRevoked(grant_id=grant.grant_id, person_id=grant.person_id, role=grant.role,
                                                scope_code=grant.scope_code, effective_on=on))

    async def revoke_grant(self, principal: Principal, grant_id: uuid.UUID, on: date | None) -> schemas.GrantRead:
        """Ends a role; publishes role.revoked."""
        grant = await self.repo.grant(grant_id)
        if grant is None:
            raise NotFound(f"no grant {grant_id}")
        _require_granter(principal, Role(grant.role), grant.scope_code)
        if grant.revoked_on is not None:
            raise Conflict(f"the grant was revoked on {grant.revoked_on}", allowed=[])
        await self._revoke(grant, _today(on, not_before=grant.effective_on, what="the role began"))
        return schemas.GrantRead.model_validate(grant, from_attributes=True)

    # -- households ----------------------------------------------------------------------------------

    async def households(self, principal: Principal, code: str, after: str | None, limit: int) -> schemas.HouseholdPage:
        """Returns a page of the households under a unit with their members (masked as the caller's role requires)."""
        unit = await self.unit(code)
        if not principal.covers(unit.code, READER_ROLES):
            raise Forbidden(f"no staff grant covers {unit.code}", scope=unit.code)
        rows = await self.repo.households_under(unit.code, after=after, limit=limit)
        ids = [r[0] for r in rows]
        members = await self.repo.members_of(ids) if ids else []
        proxies = await self.repo.proxies_of(ids) if ids else {}
        by_household: dict[uuid.UUID, list] = {}
        code_of = {r[0]: r[1] for r in rows}
        for member in members:
            by_household.setdefault(member.household_id, []).append(
                self._person_read(principal, member, member, code_of[member.household_id]))
        households = [schemas.HouseholdRead(household_code=c, representative_person_id=rep,
                                            proxy_person_ids=proxies.get(i, []), members=by_household.get(i, []))
                      for i, c, rep in rows]
        return schemas.HouseholdPage(
            unit_code=unit.code, total=await self.repo.count_households_under(unit.code), households=households,
            next_after=rows[-1][1] if len(rows) == limit else None)

    async def set_representative(self, principal: Principal, code: str,
                                 body: schemas.RepresentativeSet) -> schemas.HouseholdRead:
        """Names a household's representative and proxies (户决制); publishes household.representative_set."""
        try:
            above = ancestors(code)
        except CodeRuleError:
            raise NotFound(f"no household {code}") from None
        # The household is locked for update (after its line, in share mode, as other writers take it): two changes
        # at once run one after the other, so the proxies stored are those the last event names; a registration or a
        # retirement of the household waits, and the membership checked below holds until this one commits.
        await self.repo.share_lock_line(above)
        found = await self.repo.household(code, lock="update")
        if found is None:
            raise NotFound(f"no household {code}")
        unit, household = found
        if unit.retired_on is not None:
            raise Conflict(f"household {code} was retired on {unit.retired_on}", allowed=[])
        if not (principal.covers(code, WRITER_ROLES) or
                (household.representative_person_id is not None and principal.sub == str(household.representative_person_id))):
            raise Forbidden(f"no staff grant covers {code}", scope=code)
        members = {m.person_id: m for m in await self.repo.members_of([unit.unit_id])}
        if body.representative_person_id is not None and body.representative_person_id not in members:
            raise RuleViolation("household.representative_not_member", "the representative must live in the household",
                                field="representative_person_id")
        # The household's vote (户决制) is cast by an adult: the representative, or a proxy standing in for them.
        if body.representative_person_id is not None and not members[body.representative_person_id].adult:
            raise RuleViolation("household.representative_minor", "representative_person_id: the representative is "
                                "an adult member of the household", field="representative_person_id")
        for proxy in body.proxy_person_ids:
            found_proxy = await self.repo.person(proxy)
            if found_proxy is None:
                raise RuleViolation("household.proxy_unknown", f"no person {proxy}", field="proxy_person_ids")
            if not found_proxy[0].adult:
                raise RuleViolation("household.proxy_minor", f"proxy_person_ids: {proxy} is not an adult",
                                    field="proxy_person_ids")
        household.representative_person_id = body.representative_person_id
        await self.session.flush()
        await self.repo.replace_proxies(unit.unit_id, body.proxy_person_ids)
        proxies = sorted(dict.fromkeys(body.proxy_person_ids))
        await publish(self.session, HouseholdRepresentativeSet(
            household_code=code, representative_person_id=body.representative_person_id, proxy_person_ids=proxies,
            effective_on=_today(body.effective_on)))
        members = [self._person_read(principal, m, m, code) for m in await self.repo.members_of([unit.unit_id])]
        return schemas.HouseholdRead(household_code=code, representative_person_id=body.representative_person_id,
                                     proxy_person_ids=proxies, members=members)

    async def add_contact(self, principal: Principal, code: str, body: schemas.ContactCreate) -> None:
        """Links a party member (党员联户) or a visiting cadre to a household."""
        found = await self.repo.household(code)
        if found is None:
            raise NotFound(f"no household {code}")
        _require_writer(principal, code)
        if body.kind == "party_member":
            grants = await self.repo.grants_of(body.person_id)
            if not any(g.role == Role.PARTY_MEMBER for g in grants):
                raise RuleViolation("contact.not_party_member", "the person holds no party-member role",
                                    field="person_id")
        elif await self.repo.person(body.person_id) is None:
            raise NotFound(f"no person {body.person_id}", field="person_id")
        elif not any(g.role in CADRE_ROLES and code.startswith(g.scope_code)
                     for g in await self.repo.grants_of(body.person_id)):
            raise RuleViolation("contact.not_a_cadre", "a visiting cadre holds a staff role (grid, community, street, "
                                "district or department liaison) covering the household", field="person_id")
        if await self.repo.contact(found[0].unit_id, body.person_id, body.kind) is None:
            self.session.add(HouseholdContact(household_id=found[0].unit_id, person_id=body.person_id, kind=body.kind))
            await self.session.flush()

    # -- departments and party organisations ---------------------------------------------------------

    async def departments(self) -> list[schemas.DepartmentRead]:
        """Returns the joint conference's members and the communities each is bound to."""
        return [schemas.DepartmentRead(department_code=d.department_code, name=d.name, kind=d.kind,
                                       community_codes=codes) for d, codes in await self.repo.departments()]

    async def assign_department(self, principal: Principal, department_code: str,
                                body: schemas.AssignmentSet) -> None:
        """Binds a department to a community (部门包居) or ends it; publishes department.assigned."""
        if await self.repo.department(department_code) is None:
            raise NotFound(f"no department {department_code}")
        community = await self.unit(body.community_code, "community_code")
        if community.level != Level.COMMUNITY:
            raise RuleViolation("assignment.community_only", "departments are bound to communities",
                                field="community_code")
        _require_writer(principal, parent_code(community.code))
        effective_on = _today(body.effective_on)
        assignment = await self.repo.assignment(department_code, community.unit_id)
        if assignment is None:
            if not body.active:
                raise NotFound("the department is not bound to this community")
            self.session.add(DepartmentAssignment(department_code=department_code, community_id=community.unit_id,
                                                  active=True, effective_on=effective_on))
        elif assignment.active == body.active:
            return
        else:
            assignment.active, assignment.effective_on = body.active, effective_on
        await self.session.flush()
        await publish(self.session, DepartmentAssigned(department_code=department_code, community_code=community.code,
                                                       active=body.active, effective_on=effective_on))

    async def set_party_org(self, principal: Principal, code: str, body: schemas.PartyOrgSet) -> schemas.PartyOrgRead:
        """Binds the party organisation of a unit's level to it, with 六有 for a grid's big branch."""
        unit = await self._writable_unit(principal, code)
        kind = party_org_kind_for_level(Level(unit.level))
        if kind is None:
            raise RuleViolation("party_org.level", f"no party organisation binds to a {unit.level}", field="code")
        if body.six_haves and unit.level != Level.GRID:
            raise RuleViolation("party_org.six_haves_grid_only", "六有 applies to a grid's big branch", field="six_haves")
        unknown = sorted(set(body.six_haves) - set(SIX_HAVES))
        if unknown:
            raise RuleViolation("party_org.six_haves_item", f"unknown 六有 item {unknown[0]!r}", field="six_haves")
        checklist = {k: v.model_dump() for k, v in body.six_haves.items()}
        org = await self.repo.party_org(unit.unit_id)
        if org is None:
            org = PartyOrg(party_org_id=uuid.uuid4(), unit_id=unit.unit_id, kind=kind.value, name=body.name,
                           six_haves=checklist)
            self.session.add(org)
        else:
            org.name, org.six_haves = body.name, checklist
        await self.session.flush()
        return self._party_org_read(org, unit.code)

    def _party_org_read(self, org: PartyOrg, code: str) -> schemas.PartyOrgRead:
        missing = six_haves_shortfall(org.six_haves) if org.kind == "big_branch" else None
        return schemas.PartyOrgRead(party_org_id=org.party_org_id, unit_code=code, kind=org.kind, name=org.name,
                                    six_haves=org.six_haves, six_haves_missing=missing)

    async def party_org(self, principal: Principal, code: str) -> schemas.PartyOrgRead:
        """Returns the party organisation bound to a unit (below a grid, to those the unit itself is shown to)."""
        unit = await self.unit(code)
        self._check_tree_read(principal, unit)
        org = await self.repo.party_org(unit.unit_id)
        if org is None:
            raise NotFound(f"no party organisation is bound to {code}")
        return self._party_org_read(org, unit.code)

    # -- coverage ------------------------------------------------------------------------------------

    async def coverage(self, principal: Principal, scope: str, limit: int) -> schemas.CoverageRead:
        """Computes the coverage targets within a scope."""
        unit = await self.unit(scope, "scope")
        if not principal.covers(unit.code, WRITER_ROLES | {Role.PART_TIME_MEMBER.value}):
            raise Forbidden(f"no staff grant covers {scope}", scope=scope)
        repo = self.repo
        communities = await repo.codes("community", scope)
        grids = await repo.codes("grid", scope)
        grid, community = configured_scheme().length(Level.GRID), configured_scheme().length(Level.COMMUNITY)
        grid_households = await repo.households_per(grid, scope)
        community_households = await repo.households_per(community, scope)
        managers = await repo.staff_per(Role.GRID_MANAGER.value, grid, scope)
        workers = await repo.staff_per(Role.COMMUNITY_WORKER.value, community, scope)
        snapshot = coverage_rules.CoverageSnapshot(
            community_codes=communities,
            liaison_community_codes=await repo.liaison_community_codes(scope),
            adviser_community_codes=await repo.grant_scopes(Role.LEGAL_ADVISER.value, scope),
            grids=tuple(coverage_rules.GridLoad(g, grid_households.get(g, 0), managers.get(g, 0)) for g in grids),
            communities=tuple(coverage_rules.CommunityLoad(c, community_households.get(c, 0), workers.get(c, 0))
                              for c in communities),
            six_haves_checklists=await repo.six_haves(scope),
        )
        # Household lists can run to hundreds of thousands at district scope: counted in the database.
        report = coverage_rules.coverage_report(snapshot)
        no_party = await repo.households_without_contact(scope, "party_member", limit)
        no_cadre = await repo.households_without_contact(scope, "visiting_cadre", limit)

        def listed(codes: list[str]) -> schemas.ListOf:
            return schemas.ListOf(count=len(codes), items=codes[:limit])

        gaps = report.grid_branches_failing_six_haves
        return schemas.CoverageRead(
            scope_code=scope,
            communities_without_liaison=listed(report.communities_without_liaison),
            households_without_party_contact=schemas.ListOf(count=no_party[0], items=no_party[1]),
            households_without_visiting_cadre=schemas.ListOf(count=no_cadre[0], items=no_cadre[1]),
            grids_over_ratio=listed(report.grids_over_ratio),
            communities_over_worker_ratio=listed(report.communities_over_worker_ratio),
            communities_without_legal_adviser=listed(report.communities_without_legal_adviser),
            grid_branches_failing_six_haves=[schemas.SixHavesGapRead(grid_code=g.grid_code, missing=list(g.missing))
                                             for g in gaps[:limit]],
            grid_branches_failing_six_haves_count=len(gaps),
            all_met=report.all_met and no_party[0] == 0 and no_cadre[0] == 0,
        )

    # -- imports -------------------------------------------------------------------------------------

    async def import_status(self, principal: Principal, import_id: uuid.UUID) -> schemas.ImportRead:
        """Returns an import's status and error report."""
        # The reports name rows and values of files that carry personal data: for those who import, as they do.
        if not any(g.role in IMPORTER_ROLES and len(g.scope) == 6 for g in principal.grants):
            raise Forbidden("only district staff and administrators read import reports")
        job = await self.repo.import_job(import_id)
        if job is None:
            raise NotFound(f"no import {import_id}")
        if job.status == "running" and await self.sweep_interrupted_imports([import_id]):
            await self.session.refresh(job)
        return schemas.ImportRead.model_validate(job, from_attributes=True)

    async def sweep_interrupted_imports(self, import_ids: Iterable[uuid.UUID] | None = None) -> list[uuid.UUID]:
        """Marks failed the imports recorded as running that no live import holds (the process or its connection
        ended mid-import, on any replica); returns them."""
        ids = list(import_ids) if import_ids is not None else await self.repo.running_import_ids()
        reason = importer.INTERRUPTED.format(why="its process or database connection ended")
        return [i for i in ids if await self.repo.fail_abandoned_import(i, reason)]

    # -- log-in (internal) ---------------------------------------------------------------------------

    async def _login_grants(self, person_id: uuid.UUID) -> list[schemas.GrantClaim]:
        household_code, grants = await self._person_scopes(person_id)
        claims = [schemas.GrantClaim(role=g.role, scope=g.scope_code) for g in grants]
        if household_code:
            claims.append(schemas.GrantClaim(role=Role.RESIDENT.value, scope=household_code))
        return claims

    async def _personal_by_phone(self, phone: str) -> PersonPersonal | None:
        try:
            return await self.repo.person_by_phone(validate_mobile(phone))
        except PiiValidationError:
            return None

    async def verify_credentials(self, body: schemas.CredentialCheck) -> schemas.LoginIdentity:
        """Checks a phone number and password; returns who it is and their grants, or 401."""
        personal = await self._personal_by_phone(body.phone)
        credential = await self.repo.credential(personal.person_id) if personal else None
        stored = credential.password_hash if credential else _DUMMY_HASH
        try:
            # argon2 is slow by design: off the event loop.
            ok = await asyncio.to_thread(PASSWORDS.verify, stored, body.password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or credential is None or personal is None:
            raise Unauthorized("the phone number or the password is wrong")
        # When the password just checked was set: the gateway keeps it with the log-in, and a refresh finding another
        # time there ends the log-in (a reset committed after this check, however close).
        return schemas.LoginIdentity(person_id=personal.person_id, grants=await self._login_grants(personal.person_id),
                                     password_changed_at=credential.updated_at)

    async def lookup_credentials(self, body: schemas.CredentialLookup) -> schemas.LoginIdentity:
        """Finds the person a phone number belongs to (for one-time codes), with when their password was set."""
        personal = await self._personal_by_phone(body.phone)
        if personal is None:
            raise NotFound("no person has this phone number")
        credential = await self.repo.credential(personal.person_id)
        return schemas.LoginIdentity(person_id=personal.person_id, grants=await self._login_grants(personal.person_id),
                                     password_changed_at=credential.updated_at if credential else None)

    async def login_identity(self, person_id: uuid.UUID) -> schemas.LoginIdentity:
        """Returns a person's current grants (for renewing a log-in); 404 person-unknown when the registry does not know
        them (the gateway then ends the log-in, so the answer carries its own problem type)."""
        if await self.repo.person(person_id) is None:
            raise PersonUnknown(f"no person {person_id}")
        credential = await self.repo.credential(person_id)
        return schemas.LoginIdentity(person_id=person_id, grants=await self._login_grants(person_id),
                                     password_changed_at=credential.updated_at if credential else None)

    async def set_password(self, body: schemas.CredentialSet) -> None:
        """Sets a person's password (stored as an argon2 hash)."""
        if await self.repo.person(body.person_id) is None:
            raise NotFound(f"no person {body.person_id}", field="person_id")
        await self.repo.set_credential(body.person_id, await asyncio.to_thread(PASSWORDS.hash, body.password))


def principal_grants(identity: schemas.LoginIdentity) -> list[Grant]:
    """Returns an identity's grants as token grants."""
    return [Grant(role=g.role, scope=g.scope) for g in identity.grants]
