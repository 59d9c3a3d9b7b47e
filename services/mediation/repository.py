"""Every query of the mediation service, including the reads of the local registry replica."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Text, and_, case, false, func, insert, literal, or_, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.mediation.models import (
    OPEN_STATUSES,
    Agreement,
    AgreementSignature,
    CaseAssignment,
    CaseHistory,
    CaseNotice,
    CaseParty,
    CaseSession,
    CaseWarning,
    MediationCase,
    OutsidePerson,
    PoliceNotification,
)
from services.mediation.rules.access import MEDIATOR_ROLE, SUPERVISOR_ROLES, ScopeGrant, visible_levels
from youmin.kit import replica

COMMUNITY_LENGTH = 12


def like_prefix(code: str) -> str:
    """Returns a LIKE pattern matching a code and every code below it."""
    return code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def recoded(column: Any, new: str, old: str) -> Any:
    """SQL for a code column under `old` re-prefixed with `new` (the rest of the code kept)."""
    return literal(new, Text) + func.substr(column, len(old) + 1)


# The cases a mediator may still act on: on the ladder, or their agreement refused by the court (the parties may
# mediate again).
MEDIATOR_HELD_STATUSES = (*OPEN_STATUSES, "confirmation_refused")


class CaseRepository:
    """Queries over cases and their files."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, case_id: uuid.UUID, *, for_update: bool = False, fresh: bool = False) -> MediationCase | None:
        """Returns a case, locked for the rest of the transaction when asked; `fresh` reloads one the session holds
        already (after a bulk update)."""
        stmt = select(MediationCase).where(MediationCase.id == case_id)
        if for_update:
            stmt = stmt.with_for_update()
        if fresh:
            stmt = stmt.execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def parties(self, case_id: uuid.UUID) -> list[tuple[CaseParty, OutsidePerson | None]]:
        """Returns the parties of a case in intake order, with outside persons' data."""
        rows = await self.session.execute(
            select(CaseParty, OutsidePerson)
            .outerjoin(OutsidePerson, OutsidePerson.id == CaseParty.outside_person_id)
            .where(CaseParty.case_id == case_id)
            .order_by(CaseParty.position)
        )
        return [(p, o) for p, o in rows.all()]

    async def cases_of_party(self, person_id: str, case_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of some cases a registry person is a party to."""
        try:
            person = uuid.UUID(person_id)
        except ValueError:
            return set()
        if not case_ids:
            return set()
        rows = await self.session.execute(select(CaseParty.case_id).where(CaseParty.person_id == person,
                                                                          CaseParty.case_id.in_(list(case_ids))))
        return set(rows.scalars())

    async def parties_of_person(self, case_id: uuid.UUID, person_id: str) -> list[CaseParty]:
        """Returns the parties of a case that a registry person is."""
        try:
            person = uuid.UUID(person_id)
        except ValueError:
            return []
        rows = await self.session.execute(
            select(CaseParty).where(CaseParty.case_id == case_id, CaseParty.person_id == person).order_by(CaseParty.position))
        return list(rows.scalars())

    async def parties_for_update(self, case_id: uuid.UUID) -> list[CaseParty]:
        """Returns a case's parties, locked."""
        rows = await self.session.execute(
            select(CaseParty).where(CaseParty.case_id == case_id).order_by(CaseParty.position).with_for_update()
        )
        return list(rows.scalars())

    async def sessions(self, case_id: uuid.UUID) -> list[CaseSession]:
        rows = await self.session.execute(
            select(CaseSession).where(CaseSession.case_id == case_id).order_by(CaseSession.held_on, CaseSession.recorded_at)
        )
        return list(rows.scalars())

    async def agreements(self, case_id: uuid.UUID) -> list[tuple[Agreement, list[str]]]:
        rows = (await self.session.execute(
            select(Agreement).where(Agreement.case_id == case_id).order_by(Agreement.reached_at)
        )).scalars().all()
        out = []
        for agreement in rows:
            signers = (await self.session.execute(
                select(AgreementSignature.signer_id).where(AgreementSignature.agreement_id == agreement.id)
                .order_by(AgreementSignature.signer_id)
            )).scalars().all()
            out.append((agreement, list(signers)))
        return out

    async def history(self, case_id: uuid.UUID) -> list[CaseHistory]:
        rows = await self.session.execute(
            select(CaseHistory).where(CaseHistory.case_id == case_id).order_by(CaseHistory.id)
        )
        return list(rows.scalars())

    async def notices(self, case_id: uuid.UUID) -> list[CaseNotice]:
        rows = await self.session.execute(select(CaseNotice).where(CaseNotice.case_id == case_id).order_by(CaseNotice.id))
        return list(rows.scalars())

    async def warnings(self, case_id: uuid.UUID) -> list[CaseWarning]:
        rows = await self.session.execute(select(CaseWarning).where(CaseWarning.case_id == case_id).order_by(CaseWarning.id))
        return list(rows.scalars())

    async def police_notifications(self, case_id: uuid.UUID) -> list[PoliceNotification]:
        rows = await self.session.execute(
            select(PoliceNotification).where(PoliceNotification.case_id == case_id).order_by(PoliceNotification.flagged_at)
        )
        return list(rows.scalars())

    async def active_assignment(self, case_id: uuid.UUID) -> CaseAssignment | None:
        return (await self.session.execute(
            select(CaseAssignment).where(CaseAssignment.case_id == case_id, CaseAssignment.ended_at.is_(None))
        )).scalar_one_or_none()

    async def assignment_during(self, case_id: uuid.UUID, start: datetime, end: datetime) -> CaseAssignment | None:
        """The case's assignment in force during [start, end): the last one begun before `end` that had not ended by
        `start`."""
        return (await self.session.execute(
            select(CaseAssignment).where(
                CaseAssignment.case_id == case_id, CaseAssignment.assigned_at < end,
                or_(CaseAssignment.ended_at.is_(None), CaseAssignment.ended_at >= start))
            .order_by(CaseAssignment.assigned_at.desc(), CaseAssignment.id.desc()).limit(1)
        )).scalar_one_or_none()

    async def open_counts(self, person_ids: Iterable[str], *, besides: uuid.UUID | None = None) -> dict[str, int]:
        """Returns how many open cases each mediator carries now (for load balancing), `besides` the case being
        assigned (which would make its own mediator look one case heavier)."""
        ids = [uuid.UUID(p) for p in person_ids]
        if not ids:
            return {}
        rows = await self.session.execute(
            select(MediationCase.mediator_person_id, func.count())
            .where(MediationCase.mediator_person_id.in_(ids), MediationCase.status.in_(OPEN_STATUSES),
                   MediationCase.id != besides if besides is not None else true())
            .group_by(MediationCase.mediator_person_id)
        )
        return {str(pid): n for pid, n in rows.all()}

    async def due(self, now: datetime, limit: int, *, reload: bool = False) -> list[MediationCase]:
        """Returns the cases the sweep must act on, oldest first, skipping those another sweeper holds (`reload`:
        read them afresh, as after a rolled-back savepoint)."""
        stmt = (
            select(MediationCase)
            .where(MediationCase.next_due_at.is_not(None), MediationCase.next_due_at <= now)
            .order_by(MediationCase.next_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if reload:
            stmt = stmt.execution_options(populate_existing=True)
        return list((await self.session.execute(stmt)).scalars())

    async def visible(
        self,
        viewer_id: str,
        grants: Sequence[ScopeGrant],
        *,
        status: str | None = None,
        warning: str | None = None,
        police_flagged: bool | None = None,
        limit: int = 100,
        before: datetime | None = None,
        after_id: uuid.UUID | None = None,
        grid_serial_width: int = 3,
    ) -> list[MediationCase]:
        """Returns the cases a caller may see: assigned to them, in a supervisor's scope and level, or their own as a
        party. Filtered by the police flag, only those they see as staff or mediator: the risk assessment stays with
        them, and a party listing flagged cases would learn theirs is one."""
        try:
            viewer = uuid.UUID(viewer_id)
        except ValueError:
            viewer = None
        seen = []
        for grant in grants:
            levels = [str(level) for level in visible_levels(grant.scope, grid_serial_width)]
            in_scope = and_(MediationCase.place_code.startswith(grant.scope, autoescape=True),
                            MediationCase.level.in_(levels))
            if grant.role in SUPERVISOR_ROLES:
                seen.append(in_scope)
            elif grant.role == MEDIATOR_ROLE and viewer is not None:
                # The assigned mediator, while they still hold a mediator's role covering the case.
                seen.append(and_(MediationCase.mediator_person_id == viewer, in_scope))
        own = select(CaseParty.case_id).where(CaseParty.person_id == viewer) if viewer is not None else None
        if own is not None and police_flagged is None:
            seen.append(MediationCase.id.in_(own))
        stmt = select(MediationCase).where(or_(*seen) if seen else false())
        if police_flagged is not None:
            stmt = stmt.where(MediationCase.police_flagged.is_(police_flagged))
            if own is not None:  # staff who are a party to a case see it as a party
                stmt = stmt.where(MediationCase.id.not_in(own))
        if status:
            stmt = stmt.where(MediationCase.status == status)
        if warning:
            stmt = stmt.where(MediationCase.warning == warning)
        if before and after_id:
            # Keyset on the listing's order (opened_at descending, id ascending): same-instant cases after the last.
            stmt = stmt.where(or_(MediationCase.opened_at < before,
                                  and_(MediationCase.opened_at == before, MediationCase.id > after_id)))
        elif before:
            stmt = stmt.where(MediationCase.opened_at < before)
        stmt = stmt.order_by(MediationCase.opened_at.desc(), MediationCase.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def statistics_rows(self, scope: str, start: datetime, end: datetime) -> list[MediationCase]:
        """Returns the cases under a scope opened in [start, end)."""
        stmt = select(MediationCase).where(
            MediationCase.place_code.startswith(scope, autoescape=True),
            MediationCase.opened_at >= start,
            MediationCase.opened_at < end,
        )
        return list((await self.session.execute(stmt)).scalars())

    async def open_of_mediator(self, person_id: uuid.UUID) -> list[uuid.UUID]:
        """Returns the cases assigned to a mediator that they may still act on, locked: those on the ladder, and those
        whose agreement the court refused (the parties may mediate again)."""
        stmt = (select(MediationCase.id)
                .where(MediationCase.mediator_person_id == person_id,
                       MediationCase.status.in_(MEDIATOR_HELD_STATUSES))
                .order_by(MediationCase.id).with_for_update())
        return list((await self.session.execute(stmt)).scalars())

    async def open_at_levels_under(self, code: str, levels: Sequence[str]) -> list[uuid.UUID]:
        """Returns the cases at or under a code whose level is one of `levels` that their mediator may still act on
        (on the ladder, or their agreement refused by the court), locked."""
        if not levels:
            return []
        stmt = (select(MediationCase.id)
                .where(MediationCase.place_code.like(like_prefix(code)),
                       MediationCase.status.in_(MEDIATOR_HELD_STATUSES),
                       MediationCase.level.in_(list(levels)))
                .order_by(MediationCase.id).with_for_update())
        return list((await self.session.execute(stmt)).scalars())

    async def recode(self, old: str, new: str, now: datetime, *, actor: str) -> None:
        """Moves the cases at or under a code that moved to the new code: their place, and their community (the new
        code's, as a grid may have moved to another community). A case not yet closed notes the move in its history.

        Nothing else of the mediation service holds a code: the units at a case's levels are its place's ancestors,
        and its history, warnings, sessions and agreements name levels and people only.
        """
        pattern = like_prefix(old)
        place = recoded(MediationCase.place_code, new, old)
        # Noted first, while the cases are still under the old code (a redelivered move finds none and notes none).
        noted = select(
            MediationCase.id, literal("recode_place"), MediationCase.status, MediationCase.status,
            MediationCase.level, MediationCase.level, true(), literal(f"org unit {old} is now {new}", Text),
            literal(actor, Text), literal(now, DateTime(timezone=True)),
        ).where(MediationCase.place_code.like(pattern), MediationCase.closed_at.is_(None))
        await self.session.execute(insert(CaseHistory).from_select(
            ["case_id", "action", "from_status", "to_status", "from_level", "to_level", "automatic", "reason", "actor",
             "at"], noted.order_by(MediationCase.opened_at, MediationCase.id)))
        await self.session.execute(
            update(MediationCase).where(MediationCase.place_code.like(pattern))
            .values(place_code=place,
                    community_code=case((func.length(MediationCase.place_code) >= COMMUNITY_LENGTH,
                                         func.left(place, COMMUNITY_LENGTH)), else_=None),
                    updated_at=func.greatest(MediationCase.updated_at, now))
            .execution_options(synchronize_session=False))


class RegistryReplica:
    """What the mediation service reads from its local replica of the registry."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def mediators_within(self, unit_code: str) -> list[replica.Holder]:
        """Returns the active mediator grants at or below a unit."""
        return await replica.holders(self.session, "mediator", within=unit_code)

    async def mediator_scopes_of(self, person_id: str) -> list[str]:
        """Returns the scopes of a person's active mediator grants."""
        rows = await self.session.execute(text(
            "SELECT scope_code FROM replica_grant WHERE active AND role = 'mediator' AND person_id = CAST(:p AS uuid)"),
            {"p": person_id})
        return list(rows.scalars())

    async def household_of(self, person_id: str) -> str | None:
        """Returns the household a person lives in, if known."""
        return await replica.household_of(self.session, person_id)

    async def households_of(self, person_ids: Iterable[str]) -> dict[str, str | None]:
        """Returns the households of several people."""
        return {pid: await replica.household_of(self.session, pid) for pid in dict.fromkeys(person_ids)}


class CodeMoveRepository:
    """The moves of org units, as the registry replica recorded them (old code -> today's code).

    Writers that look a code up hold a shared transaction lock, and a move takes it exclusively before re-coding: a case
    opened under a code just before the move commits is either seen and re-coded by it, or opened after it under the
    new code; never left behind under the old one.
    """

    LOCK = text("SELECT pg_advisory_xact_lock_shared(hashtext('mediation.code_moves'))")
    EXCLUSIVE_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('mediation.code_moves'))")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_for_move(self) -> None:
        """Waits for the writers that looked codes up, and holds new ones back until the move commits."""
        await self.session.execute(self.EXCLUSIVE_LOCK)

    async def current(self, code: str) -> str:
        """Returns the code a unit has today, for a writer (taking the shared lock): a code at or under a unit that
        moved since is re-coded (a caller may still name the old code)."""
        await self.session.execute(self.LOCK)
        return (await self.current_of([code]))[code]

    async def current_of(self, codes: Iterable[str]) -> dict[str, str]:
        """Returns the code each of several codes has today, for a reader (no lock), in one look-up."""
        return await replica.codes_today(self.session, codes)

    async def moves_into(self, code: str) -> list[tuple[str, str]]:
        """Returns every recorded move into a unit's code, longest old code first (see youmin.kit.replica.moves_into)."""
        return await replica.moves_into(self.session, code)
