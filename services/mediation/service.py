"""The use cases of the mediation ladder; every function flushes, none commits.

Each use case locks the case row first (SELECT ... FOR UPDATE), so two staff members acting on one case,
or a staff member and the sweep, take turns instead of both moving it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.mediation.events import (
    CaseAgreementReached,
    CaseAssigned,
    CaseConfirmationApplied,
    CaseConfirmationRecorded,
    CaseEscalated,
    CaseOpened,
    CaseReferred,
    CaseTerminated,
)
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
from services.mediation.repository import CaseRepository, CodeMoveRepository, RegistryReplica
from services.mediation.rules import ladder as ladder_rules
from services.mediation.rules.access import (
    INTAKE_ROLES,
    ScopeGrant,
    code_lengths,
    level_code_length,
    may_apply,
    may_see_case,
    place_level,
    supervises,
)
from services.mediation.rules.assignment import (
    CaseToAssign,
    Mediator,
    NoEligibleMediator,
    Party,
    ancestor_code,
    levels_leaving_unit,
    pick_mediator,
)
from services.mediation.rules.confirmation import (
    CHINA_STANDARD_TIME,
    AgreementKind,
    confirmation_deadline,
    confirmation_last_day,
    missing_signatures,
    reminder_due,
)
from services.mediation.rules.consent import (
    ConsentDecision,
    ConsentState,
    PartyConsent,
    breach_notice,
    consent_state,
    other_routes_notice,
)
from services.mediation.rules.ladder import (
    Action,
    CaseStatus,
    InvalidTransition,
    LadderConfig,
    LadderRuleError,
    Level,
    LegalRoute,
    WarningLevel,
    agreement_action,
    allowed_actions,
    level_deadline,
    next_level,
    route_for,
    route_refusal,
    transition,
    warning,
)
from services.mediation.rules.risk import police_flag_reasons
from services.mediation.rules.statistics import CaseRecord, DisputeType, Figures, compare, compute, previous_period
from services.mediation import schemas
from youmin.kit import replica as replica_kit
from youmin.kit.auth import Principal
from youmin.kit.calendar import WorkCalendar, default_calendar, local_date
from youmin.kit.db import is_transient
from youmin.kit.errors import Conflict, Forbidden, NotFound, RuleViolation, describe_error
from youmin.kit.logging import get_logger
from youmin.kit.names import names_in_text
from youmin.kit.outbox import publish
from youmin.kit.pii import redact_text

SCHEDULER = "scheduler"
REGISTRY = "registry"  # the actor of what a unit's move does to the cases under it
# A case the sweep failed on is looked at again after this (the others are swept meanwhile).
SWEEP_RETRY_AFTER = timedelta(hours=1)
log = get_logger("youmin.mediation")
WARNING_RANK = {WarningLevel.NONE: 0, WarningLevel.YELLOW: 1, WarningLevel.RED: 2, WarningLevel.OVERDUE: 3}
CONFIRMATION_REMINDER = (
    "调解协议已生效。双方当事人可以自调解协议生效之日起三十日内，共同向人民法院申请司法确认"
    "（《人民调解法》第三十三条）。"
)


@dataclass(frozen=True)
class MediationConfig:
    """The service's rules that come from settings."""

    ladder: LadderConfig = field(default_factory=LadderConfig)
    grid_serial_width: int = 3
    auto_referral_route: LegalRoute = LegalRoute.LITIGATION
    # Rest days and make-up working days: a confirmation window ending on a rest day runs to the next working day.
    calendar: WorkCalendar = field(default_factory=default_calendar)


@dataclass(frozen=True)
class Viewer:
    """The caller as the confidentiality rules see them."""

    id: str
    grants: tuple[ScopeGrant, ...]

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        return cls(principal.sub, tuple(ScopeGrant(g.role, g.scope) for g in principal.grants))


async def viewer_of(session: AsyncSession, principal: Principal) -> Viewer:
    """Returns the caller with their scopes as the codes are today: a token issued before a unit moved names its old
    code, and the registry has re-coded the grant since (old codes are never reused, so nobody else's scope changes)."""
    current = await CodeMoveRepository(session).current_of(g.scope for g in principal.grants)
    return Viewer(principal.sub, tuple(ScopeGrant(g.role, current[g.scope]) for g in principal.grants))


# --- small helpers ---------------------------------------------------------------------------------------

def _conflict(exc: InvalidTransition) -> Conflict:
    return Conflict(str(exc), case_status=str(exc.status), action=str(exc.action), allowed=sorted(str(a) for a in exc.allowed))


def _move(case: MediationCase, action: Action) -> CaseStatus:
    try:
        return transition(CaseStatus(case.status), action, level=Level(case.level))
    except InvalidTransition as exc:
        raise _conflict(exc) from None


def _history(
    session: AsyncSession, case: MediationCase, action: str, *, from_status: str | None, from_level: str | None,
    now: datetime, actor: str | None, reason: str | None = None, automatic: bool = False,
) -> None:
    session.add(CaseHistory(
        case_id=case.id, action=action, from_status=from_status, to_status=case.status, from_level=from_level,
        to_level=case.level, automatic=automatic, reason=reason, actor=actor, at=now,
    ))


def _open_due(case: MediationCase, config: LadderConfig) -> datetime:
    """Returns when the sweep must next look at an open case: its next warning or its deadline."""
    deadline = level_deadline(case.level_entered_at, Level(case.level), config)
    return {
        WarningLevel.NONE: deadline - timedelta(days=config.yellow_lead_days),
        WarningLevel.YELLOW: deadline - timedelta(hours=config.red_lead_hours),
    }.get(WarningLevel(case.warning), deadline)


def _enter_level(case: MediationCase, level: Level, now: datetime, config: LadderConfig) -> None:
    case.level = str(level)
    case.level_entered_at = now
    case.deadline_at = level_deadline(now, level, config)
    case.warning = str(WarningLevel.NONE)
    case.next_due_at = _open_due(case, config)


def _leave_ladder(case: MediationCase, now: datetime) -> None:
    case.deadline_at = None
    case.next_due_at = None
    case.warning = str(WarningLevel.NONE)
    case.updated_at = now


def _place_data(case: MediationCase) -> dict:
    return {"case_id": case.id, "place_code": case.place_code}


async def _end_assignment(session: AsyncSession, case: MediationCase, now: datetime) -> None:
    active = await CaseRepository(session).active_assignment(case.id)
    if active is not None:
        active.ended_at = now
    case.mediator_person_id = None


# --- access --------------------------------------------------------------------------------------------

async def load_for(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, config: MediationConfig, *, for_update: bool = True
) -> MediationCase:
    """Returns a case the caller may see and act on as its mediator or a supervisor; 404 otherwise, so a case's
    existence does not leak. Staff who are a party to it act on it as a party only (their neighbour's dispute with
    them is another staff member's to run)."""
    case = await CaseRepository(session).get(case_id, for_update=for_update)
    if case is None or not may_see(viewer, case, config):
        raise NotFound(f"no case {case_id} that you may see")
    if await CaseRepository(session).parties_of_person(case_id, viewer.id):
        raise Forbidden("you are a party to this case: another staff member acts on it")
    return case


def may_see(viewer: Viewer, case: MediationCase, config: MediationConfig) -> bool:
    """Tells whether the caller may see a case as it stands now (its level and mediator)."""
    return may_see_case(
        viewer.id, viewer.grants, place_code=case.place_code, level=Level(case.level),
        mediator_person_id=str(case.mediator_person_id) if case.mediator_person_id else None,
        grid_serial_width=config.grid_serial_width,
    )


async def load_for_party(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, config: MediationConfig, *, party_id: uuid.UUID | None = None,
    for_update: bool = True,
) -> MediationCase:
    """Returns a case its mediator or supervisors may see, or one the caller is a party to; 404 otherwise. A party
    acting on a case (`party_id`) acts for themselves only."""
    case = await CaseRepository(session).get(case_id, for_update=for_update)
    own = await CaseRepository(session).parties_of_person(case_id, viewer.id) if case is not None else []
    if case is not None and not own and may_see(viewer, case, config):
        return case
    if not own:
        raise NotFound(f"no case {case_id} that you may see")
    if party_id is not None and party_id not in {p.id for p in own}:
        raise Forbidden("party_id: a party answers for themselves only", field="party_id")
    return case


async def view(
    session: AsyncSession, viewer: Viewer, case: MediationCase, config: MediationConfig
) -> schemas.CaseRead | schemas.CaseForParty | schemas.CaseSummary:
    """The case as the caller may see it now: the whole file (its mediator, supervisors), a party's view, or its
    listing line."""
    if await CaseRepository(session).parties_of_person(case.id, viewer.id):
        # Staff who are a party see what any party sees.
        return await party_view(session, case, viewer.id, config.calendar)
    if may_see(viewer, case, config):
        return await case_file(session, case, config.calendar)
    return summary(case)


def _require_supervisor(viewer: Viewer, case: MediationCase, config: MediationConfig) -> None:
    if not supervises(viewer.grants, case.place_code, Level(case.level), config.grid_serial_width):
        raise Forbidden("only supervisors at or above the case's level may do this", level=case.level)


# --- intake ----------------------------------------------------------------------------------------------

async def open_case(
    session: AsyncSession, viewer: Viewer, data: schemas.CaseCreate, now: datetime, config: MediationConfig
) -> MediationCase:
    """Takes a dispute in at a level (normally the grid), flags it for the police if needed, assigns a mediator."""
    lengths = code_lengths(config.grid_serial_width)
    if len(data.place_code) not in lengths:
        shapes = ", ".join(f"{unit} {n}" for n, unit in lengths.items())
        raise RuleViolation("mediation.place_code_shape", f"place_code: {len(data.place_code)} digits is not the code "
                            f"of a unit a dispute is placed at (digits: {shapes}; a household's dispute is placed at "
                            "its building unit)", field="place_code")
    # A place named by its code from before its unit moved is taken in at its code of today (under the shared lock: a
    # move committing meanwhile re-codes this case too, or is seen here first).
    place_code = await CodeMoveRepository(session).current(data.place_code)
    application = not any(g.role in INTAKE_ROLES and place_code.startswith(g.scope) for g in viewer.grants)
    if not application and any(p.person_id is not None and str(p.person_id) == viewer.id for p in data.parties):
        # A mediator or staff member who is a party would take in, and then run, their own dispute.
        raise RuleViolation("mediation.intake_by_party", "parties: you are a party to this dispute; another "
                            "staff member takes it in", field="parties")
    if application:
        # A resident applies for mediation (调解申请) of a dispute in their own community, as its applicant.
        if not may_apply(viewer.grants, place_code):
            raise Forbidden(f"place_code: no mediation or staff grant covers {place_code}, nor is it in your "
                            "community", field="place_code", scope=place_code)
        if len(place_code) < level_code_length(Level.GRID, config.grid_serial_width):
            # The ladder starts at the grid: an application placed at the community or above would skip it.
            raise RuleViolation("mediation.apply_at_grid", "place_code: apply at your grid, building or building unit, "
                                "where the ladder starts", field="place_code")
        applicants = [p for p in data.parties if p.role == "applicant"]
        if len(applicants) != 1 or applicants[0].person_id is None or str(applicants[0].person_id) != viewer.id:
            raise RuleViolation("mediation.applicant_not_a_party", "parties: a resident applies as the one "
                                "applicant, named by their own person_id", field="parties")
        if data.risk_level is not None or data.risk_indicators:
            # A police flag follows the staff's assessment of the risk, not a party's word about the other.
            raise RuleViolation("mediation.risk_assessed_by_staff", "risk_level: the grid's staff assess the risk "
                                "when they take the application up; say what happened in the description",
                                field="risk_level")
    natural = place_level(place_code, config.grid_serial_width)
    level = Level(data.level) if data.level else natural
    try:
        ancestor_code(place_code, level, config.grid_serial_width)
    except ValueError:
        raise RuleViolation("mediation.place_below_level", f"place_code {place_code} is not inside a {level} unit",
                            field="level") from None
    if level != natural and not supervises(viewer.grants, place_code, level, config.grid_serial_width):
        # Taking a dispute in above its lowest level skips the ladder: for the staff of that level (or above).
        raise RuleViolation("mediation.intake_above_own_level",
                            f"level: a dispute at {place_code} is taken in at the {natural}; only staff of the "
                            f"{level} take it in there", field="level")
    case = MediationCase(
        id=uuid.uuid4(), place_code=place_code,
        community_code=place_code[:12] if len(place_code) >= 12 else None,
        status=str(CaseStatus.INTAKE), dispute_type=str(data.dispute_type), description=data.description,
        risk_level=str(data.risk_level) if data.risk_level else None,
        risk_indicators=[str(i) for i in data.risk_indicators], police_flagged=False, opened_at=now,
        opened_by=viewer.id, escalations=0,
        chosen_mediator_ids=[str(m) for m in data.chosen_mediator_ids],
        refused_mediator_ids=[str(m) for m in data.refused_mediator_ids], updated_at=now,
    )
    _enter_level(case, level, now, config.ladder)
    session.add(case)
    await session.flush()
    for position, party in enumerate(data.parties):
        outside_id = None
        if party.outside is not None:
            outside_id = uuid.uuid4()
            session.add(OutsidePerson(id=outside_id, **party.outside.model_dump()))
            await session.flush()
        # The lists given at intake by staff are every party's (who said which is not recorded); an applicant's are
        # their own.
        theirs = not application or party.role == "applicant"
        session.add(CaseParty(id=uuid.uuid4(), case_id=case.id, person_id=party.person_id,
                              outside_person_id=outside_id, role=party.role, consent="pending", position=position,
                              chosen_mediator_ids=list(case.chosen_mediator_ids) if theirs else [],
                              refused_mediator_ids=list(case.refused_mediator_ids) if theirs else []))
    _history(session, case, "open", from_status=None, from_level=None, now=now, actor=viewer.id)
    await _flag_if_at_risk(session, case, viewer.id, now)
    await publish(session, CaseOpened(case_id=case.id, place_code=case.place_code, level=case.level,
                                      dispute_type=case.dispute_type, opened_at=now, community_code=case.community_code))
    await session.flush()
    await assign(session, case, now, config, actor=viewer.id, required=False)
    if application:
        # Applying is the applicant's consent; the other parties are asked for theirs.
        applicant = next(p for p in await CaseRepository(session).parties_for_update(case.id)
                         if p.person_id is not None and str(p.person_id) == viewer.id and p.role == "applicant")
        await _answer(session, case, applicant, "given", now, viewer.id)
    return case


async def _flag_if_at_risk(session: AsyncSession, case: MediationCase, actor: str, now: datetime) -> None:
    """Records a police notification at once when the risk rules say the dispute may turn violent."""
    reasons = police_flag_reasons(case.risk_level, case.risk_indicators)
    if not reasons:
        return
    known = {r for n in await CaseRepository(session).police_notifications(case.id) for r in n.reasons}
    if case.police_flagged and set(reasons) <= known:
        return
    case.police_flagged = True
    session.add(PoliceNotification(id=uuid.uuid4(), case_id=case.id, reasons=list(reasons), flagged_by=actor,
                                   flagged_at=now))
    await session.flush()


async def reassess_risk(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.RiskIn, now: datetime,
    config: MediationConfig,
) -> MediationCase:
    """Records a new risk assessment; flags the police at once when it calls for it."""
    case = await load_for(session, viewer, case_id, config)
    case.risk_level = str(data.risk_level) if data.risk_level else None
    case.risk_indicators = sorted({str(i) for i in data.risk_indicators})
    case.updated_at = now
    _history(session, case, "assess_risk", from_status=case.status, from_level=case.level, now=now, actor=viewer.id)
    await _flag_if_at_risk(session, case, viewer.id, now)
    return case


# --- mediators ------------------------------------------------------------------------------------------

async def assign(
    session: AsyncSession, case: MediationCase, now: datetime, config: MediationConfig, *, actor: str,
    required: bool = True, only_by_choice: bool = False,
) -> schemas.AssignmentRead | None:
    """Picks a mediator for the case's level and place from the replica; None when nobody may (unless required).

    The current mediator stays when still eligible and no lighter-loaded one is; `only_by_choice` changes the mediator
    only for one the parties chose (a party choosing someone who cannot serve replaces nobody)."""
    if case.status not in OPEN_STATUSES:
        raise Conflict(f"a case that is {case.status} takes no mediator", case_status=case.status,
                       allowed=sorted(allowed_actions(CaseStatus(case.status), Level(case.level))))
    level = Level(case.level)
    unit = ancestor_code(case.place_code, level, config.grid_serial_width)
    replica = RegistryReplica(session)
    holders = await replica.mediators_within(unit)
    # One candidate per person: the grant at the unit itself wins over a grant further down.
    by_person: dict[str, str] = {}
    for holder in sorted(holders, key=lambda h: len(h.scope_code)):
        by_person.setdefault(holder.person_id, holder.scope_code)
    parties = await CaseRepository(session).parties(case.id)
    party_people = [str(p.person_id) for p, _ in parties if p.person_id is not None]
    households = await replica.households_of([*party_people, *by_person])
    candidates = [Mediator(mediator_id=pid, person_id=pid, scope_code=scope, household_id=households.get(pid))
                  for pid, scope in by_person.items()]
    to_assign = CaseToAssign(
        case_id=str(case.id), level=level, place_code=case.place_code,
        parties=[Party(person_id=str(p.person_id) if p.person_id else f"outside:{p.id}",
                       household_id=households.get(str(p.person_id)) if p.person_id else None) for p, _ in parties],
        chosen_mediator_ids=frozenset(case.chosen_mediator_ids), refused_mediator_ids=frozenset(case.refused_mediator_ids),
    )
    counts = await CaseRepository(session).open_counts(by_person, besides=case.id)
    current = str(case.mediator_person_id) if case.mediator_person_id else None
    try:
        picked = pick_mediator(to_assign, candidates, counts, grid_serial_width=config.grid_serial_width,
                               current=current)
    except NoEligibleMediator as exc:
        if not required:
            return None
        raise Conflict(str(exc), rule=NoEligibleMediator.rule,
                       excluded={k: str(v) for k, v in exc.excluded.items()}) from None
    if only_by_choice and current is not None and not picked.by_party_choice:
        return None
    mediator = uuid.UUID(picked.mediator_id)
    if case.mediator_person_id != mediator:
        await _end_assignment(session, case, now)
        session.add(CaseAssignment(case_id=case.id, mediator_person_id=mediator, level=case.level,
                                   by_party_choice=picked.by_party_choice, assigned_at=now))
        case.mediator_person_id = mediator
        case.updated_at = now
        _history(session, case, "assign", from_status=case.status, from_level=case.level, now=now, actor=actor,
                 reason=f"mediator {mediator}")
        await publish(session, CaseAssigned(**_place_data(case), level=case.level, mediator_person_id=mediator, at=now))
        await session.flush()
    return schemas.AssignmentRead(case_id=case.id, mediator_person_id=mediator, level=level,
                                  by_party_choice=picked.by_party_choice,
                                  excluded={k: str(v) for k, v in picked.excluded.items()})


async def assign_by_staff(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, now: datetime, config: MediationConfig
) -> schemas.AssignmentRead:
    """A supervisor asks for a mediator to be (re)picked for the case."""
    case = await load_for(session, viewer, case_id, config)
    _require_supervisor(viewer, case, config)
    result = await assign(session, case, now, config, actor=viewer.id, required=True)
    assert result is not None
    return result


async def _party(session: AsyncSession, case: MediationCase, party_id: uuid.UUID, field_name: str) -> CaseParty:
    for party in await CaseRepository(session).parties_for_update(case.id):
        if party.id == party_id:
            return party
    raise RuleViolation("mediation.unknown_party", f"{party_id} is not a party to this case", field=field_name)


async def choose_mediator(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.MediatorChoiceIn, now: datetime,
    config: MediationConfig,
) -> MediationCase:
    """Records a party choosing or refusing a mediator (by the party, or by staff for them); a refused mediator leaves
    the case at once."""
    case = await load_for_party(session, viewer, case_id, config, party_id=data.party_id)
    if case.status not in OPEN_STATUSES:
        raise Conflict(f"the mediator of a case that is {case.status} cannot change", case_status=case.status,
                       allowed=sorted(allowed_actions(CaseStatus(case.status), Level(case.level))))
    party = await _party(session, case, data.party_id, "party_id")
    mediator = str(data.mediator_person_id)
    if viewer.id == mediator and str(party.person_id or "") != viewer.id:
        # The parties choose their mediator: one they refused cannot bring themselves back on their behalf (nor choose
        # themselves for them), even when they also supervise the case as staff.
        raise Forbidden("mediator_person_id: a mediator does not choose or refuse themselves for a party",
                        field="mediator_person_id")
    # A party changes only their own mind: choosing a mediator lifts their own refusal, never another party's.
    own_chosen = [m for m in party.chosen_mediator_ids if m != mediator]
    own_refused = [m for m in party.refused_mediator_ids if m != mediator]
    (own_chosen if data.choice == "chosen" else own_refused).append(mediator)
    party.chosen_mediator_ids, party.refused_mediator_ids = own_chosen, own_refused
    parties = await CaseRepository(session).parties_for_update(case.id)
    refused = sorted({m for p in parties for m in p.refused_mediator_ids})
    chosen = sorted({m for p in parties for m in p.chosen_mediator_ids} - set(refused))
    case.chosen_mediator_ids, case.refused_mediator_ids = chosen, refused
    case.updated_at = now
    _history(session, case, f"mediator_{data.choice}", from_status=case.status, from_level=case.level, now=now,
             actor=viewer.id, reason=f"party {data.party_id}: mediator {mediator}")
    current = str(case.mediator_person_id) if case.mediator_person_id else None
    if current is not None and current in refused:
        await _end_assignment(session, case, now)
        current = None
    if current is None or (chosen and current not in chosen):
        await assign(session, case, now, config, actor=viewer.id, required=False, only_by_choice=current is not None)
    await session.flush()
    return case


# --- consent ----------------------------------------------------------------------------------------------

async def record_consent(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.ConsentIn, now: datetime,
    config: MediationConfig,
) -> MediationCase:
    """Records one party's consent or refusal (by the party, or by staff or the mediator for them); a refusal ends
    mediation and the other routes are given."""
    case = await load_for_party(session, viewer, case_id, config, party_id=data.party_id)
    party = await _party(session, case, data.party_id, "party_id")
    return await _answer(session, case, party, data.decision, now, viewer.id)


async def _answer(
    session: AsyncSession, case: MediationCase, party: CaseParty, decision: str, now: datetime, actor: str
) -> MediationCase:
    # After the court refused the agreement, a party may say no to mediating again (it is voluntary): that ends it.
    refusing_again = case.status == CaseStatus.CONFIRMATION_REFUSED and decision == "refused"
    if case.status not in OPEN_STATUSES and not refusing_again:
        raise _conflict(InvalidTransition(CaseStatus(case.status), Action.GIVE_CONSENT if decision == "given"
                                          else Action.REFUSE_CONSENT,
                                          allowed_actions(CaseStatus(case.status), Level(case.level))))
    parties = await CaseRepository(session).parties_for_update(case.id)
    decisions = [PartyConsent(str(p.id), ConsentDecision(decision if p.id == party.id else p.consent))
                 for p in parties]
    state = consent_state(decisions)
    action = {ConsentState.REFUSED: Action.REFUSE_CONSENT, ConsentState.GIVEN: Action.GIVE_CONSENT,
              ConsentState.PENDING: Action.REQUEST_CONSENT}[state]
    before = case.status
    if state is ConsentState.PENDING and case.status == CaseStatus.CONSENT_PENDING:
        target = CaseStatus.CONSENT_PENDING  # still waiting for the others
    elif state is ConsentState.PENDING and case.status == CaseStatus.MEDIATING:
        raise Conflict("every party has consented already", case_status=case.status,
                       allowed=sorted(allowed_actions(CaseStatus(case.status), Level(case.level))))
    else:
        target = _move(case, action)
    party.consent = decision
    party.consent_at = now
    case.status = str(target)
    case.updated_at = now
    _history(session, case, f"consent_{decision}", from_status=before, from_level=case.level, now=now,
             actor=actor, reason=f"party {party.id}")
    if target is CaseStatus.TERMINATED:
        case.termination_reason = "consent_refused"
        case.closed_at = now
        _leave_ladder(case, now)
        session.add(CaseNotice(case_id=case.id, kind="other_routes", body=other_routes_notice(), at=now))
        await publish(session, CaseTerminated(**_place_data(case), dispute_type=case.dispute_type, level=case.level,
                                              reason_code="consent_refused", at=now))
    await session.flush()
    return case


# --- sessions and agreements -------------------------------------------------------------------------------

def _require_mediator(case: MediationCase) -> uuid.UUID:
    if case.mediator_person_id is None:
        raise RuleViolation("mediation.no_mediator", "the case has no assigned mediator at its level")
    return case.mediator_person_id


async def record_session(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.SessionIn, now: datetime,
    config: MediationConfig,
) -> CaseSession:
    """Records a mediation session: date, the parties who attended, a summary."""
    case = await load_for(session, viewer, case_id, config)
    target = _move(case, Action.RECORD_SESSION)
    # Mediating again after the court refused the agreement: the case's mediator may have left meanwhile, and it is
    # given one as it goes back on the ladder (below).
    again_unassigned = case.status == CaseStatus.CONFIRMATION_REFUSED and case.mediator_person_id is None
    mediator = None if again_unassigned else _require_mediator(case)
    party_ids = {p.id for p in await CaseRepository(session).parties_for_update(case.id)}
    unknown = [str(a) for a in data.attendee_party_ids if a not in party_ids]
    if unknown:
        raise RuleViolation("mediation.unknown_party", f"not parties to this case: {', '.join(unknown)}",
                            field="attendee_party_ids")
    if data.held_on > local_date(now):
        raise RuleViolation("mediation.session_in_future", "held_on: a session is recorded after it was held",
                            field="held_on")
    if data.held_on < local_date(case.opened_at):
        raise RuleViolation("mediation.session_before_case", f"held_on: the case was opened on "
                            f"{local_date(case.opened_at)}; its sessions are held after that", field="held_on")
    before = case.status
    case.status = str(target)
    case.updated_at = now
    if before == CaseStatus.CONFIRMATION_REFUSED:
        # The court refused the agreement and the parties mediate again: the case is unresolved once more and back
        # on the ladder at its level, with a new time limit (the refused agreement stays in the file's history).
        case.resolved_at = case.resolved_level = case.agreement_kind = None
        case.agreement_signed_at = case.confirmation_reminded_at = None
        case.confirmation_applied_on = case.confirmation_outcome = None
        _enter_level(case, Level(case.level), now, config.ladder)
        if again_unassigned:
            await assign(session, case, now, config, actor=viewer.id, required=True)
            mediator = _require_mediator(case)
    held_at_level, held_by = await _level_on(session, case, data.held_on, now, mediator, "held_on")
    record = CaseSession(id=uuid.uuid4(), case_id=case.id, level=held_at_level, held_on=data.held_on,
                         attendee_party_ids=[str(a) for a in data.attendee_party_ids],
                         mediator_person_ids=[str(held_by)], summary=data.summary, recorded_by=viewer.id,
                         recorded_at=now)
    session.add(record)
    _history(session, case, "record_session", from_status=before, from_level=case.level, now=now, actor=viewer.id)
    await session.flush()
    return record


async def _level_on(session: AsyncSession, case: MediationCase, day: date, now: datetime,
                    mediator: uuid.UUID | None, field: str) -> tuple[str, uuid.UUID | None]:
    """The level and mediator of a case on a day: today, its current ones; an earlier day (a session held, or a paper
    agreement signed, then and entered since: the case may have moved up, or changed mediators, meanwhile), those of
    the assignment in force that day. A day it had none is refused: nobody mediated it then."""
    if day >= local_date(now):
        return case.level, mediator
    start = datetime.combine(day, time(), CHINA_STANDARD_TIME)
    held = await CaseRepository(session).assignment_during(case.id, start, start + timedelta(days=1))
    if held is None:
        raise RuleViolation("mediation.no_mediator", f"{field}: the case had no mediator on {day}", field=field)
    return held.level, held.mediator_person_id


def _signed_at(case: MediationCase, data: schemas.AgreementIn, now: datetime) -> datetime:
    """When a written agreement was signed: now, or the start of the day it says it was signed (China Standard Time),
    between the case's opening and today. The confirmation window's last day counts from that day."""
    if data.signed_on is None:
        return now
    if data.kind is not AgreementKind.WRITTEN:
        raise RuleViolation("mediation.signed_on_written_only", "signed_on: only a written agreement is signed",
                            field="signed_on")
    today = now.astimezone(CHINA_STANDARD_TIME).date()
    opened_on = case.opened_at.astimezone(CHINA_STANDARD_TIME).date()
    if not opened_on <= data.signed_on <= today:
        raise RuleViolation("mediation.signed_on_out_of_range", f"signed_on: the day it was signed, between the case's "
                            f"opening ({opened_on}) and today ({today})", field="signed_on")
    if data.signed_on == today:
        return now
    return datetime.combine(data.signed_on, time(), CHINA_STANDARD_TIME)


async def reach_agreement(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.AgreementIn, now: datetime,
    config: MediationConfig,
) -> Agreement:
    """Records an agreement with every party's and the mediator's signature (written) or assent (oral)."""
    case = await load_for(session, viewer, case_id, config)
    target = _move(case, agreement_action(data.kind))
    mediator = _require_mediator(case)
    party_ids = [p.id for p in await CaseRepository(session).parties_for_update(case.id)]
    strangers = [str(s) for s in data.signed_party_ids if s not in party_ids]
    if strangers:
        raise RuleViolation("mediation.unknown_party", f"not parties to this case: {', '.join(strangers)}",
                            field="signed_party_ids")
    signed_at = _signed_at(case, data, now)
    # A paper agreement signed before the case was handed up (and entered after) is the lower level's and its
    # mediator's, who signed it.
    level, mediator = await _level_on(session, case, local_date(signed_at), now, mediator, "signed_on")
    signatures = {str(s) for s in data.signed_party_ids} | ({str(mediator)} if data.mediator_signed else set())
    missing = missing_signatures(data.kind, [str(p) for p in party_ids], signatures, str(mediator))
    if missing:
        raise RuleViolation("mediation.agreement_unsigned", "an agreement records every party's signature (written) or "
                            "assent (oral) and the mediator's: signed_party_ids, mediator_signed",
                            field="signed_party_ids", missing=sorted(missing))
    agreement = Agreement(id=uuid.uuid4(), case_id=case.id, kind=str(data.kind), terms=data.terms, level=level,
                          mediator_person_id=mediator, reached_at=now)
    session.add(agreement)
    await session.flush()
    for signer in sorted(signatures):  # written: the signatures; oral: the assents the mediator recorded
        kind = "mediator" if signer == str(mediator) else "party"
        session.add(AgreementSignature(agreement_id=agreement.id, signer_id=signer, signer_kind=kind,
                                       signed_at=signed_at))
    before = case.status
    case.status = str(target)
    case.resolved_at = now
    case.resolved_level = level
    case.agreement_kind = str(data.kind)
    _leave_ladder(case, now)
    if data.kind is AgreementKind.WRITTEN:
        case.agreement_signed_at = signed_at
        case.confirmation_reminded_at = None
        case.confirmation_applied_on = None
        case.confirmation_outcome = None
        case.next_due_at = now  # the sweep reminds the parties of judicial confirmation
    _history(session, case, str(agreement_action(data.kind)), from_status=before, from_level=case.level, now=now,
             actor=viewer.id)
    await publish(session, CaseAgreementReached(**_place_data(case), dispute_type=case.dispute_type, level=level,
                                                agreement_kind=str(data.kind), opened_at=case.opened_at, at=now))
    await session.flush()
    return agreement


# --- judicial confirmation -----------------------------------------------------------------------------

async def apply_for_confirmation(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.ConfirmationApplicationIn,
    now: datetime, config: MediationConfig,
) -> MediationCase:
    """Records that the parties jointly applied for judicial confirmation within the 30 days."""
    case = await load_for(session, viewer, case_id, config)
    # An application made in the window but recorded after the sweep closed the case (the parties went to court on
    # the last day, the mediator heard of it two days later) reopens it for the court's answer.
    closed_unapplied = case.status == CaseStatus.CLOSED and case.confirmation_outcome == "not_applied"
    if (case.status != CaseStatus.CONFIRMATION_PENDING and not closed_unapplied) or case.agreement_signed_at is None:
        raise Conflict(f"a case that is {case.status} has no confirmation to apply for", case_status=case.status,
                       allowed=sorted(allowed_actions(CaseStatus(case.status), Level(case.level))))
    if case.confirmation_applied_on is not None:
        raise Conflict("the parties applied already", case_status=case.status, allowed=["confirm", "refuse_confirmation"])
    last_day = confirmation_last_day(case.agreement_signed_at, config.calendar)
    signed_on = case.agreement_signed_at.astimezone(CHINA_STANDARD_TIME).date()
    today = now.astimezone(CHINA_STANDARD_TIME).date()
    if not signed_on <= data.applied_on <= min(last_day, today):
        raise RuleViolation("mediation.confirmation_window_closed",
                            f"judicial confirmation is applied for from {signed_on} to {last_day}, and not ahead of time",
                            field="applied_on", last_day=str(last_day))
    parties = {p.id for p in await CaseRepository(session).parties_for_update(case.id)}
    if set(data.applicant_party_ids) != parties:
        # The court confirms an agreement on the parties' joint application; one party going to court alone is not
        # one (and would hold the case pending an answer that never comes).
        raise RuleViolation("mediation.confirmation_not_joint", "applicant_party_ids: the parties apply jointly; name "
                            "every party of the case", field="applicant_party_ids",
                            missing=sorted(str(p) for p in parties - set(data.applicant_party_ids)))
    before = case.status
    if closed_unapplied:
        case.status = str(CaseStatus.CONFIRMATION_PENDING)
        case.closed_at = case.confirmation_outcome = None
    case.confirmation_applied_on = data.applied_on
    case.next_due_at = None  # the court decides now; the window no longer closes the case
    case.updated_at = now
    _history(session, case, "apply_for_confirmation", from_status=before, from_level=case.level, now=now,
             actor=viewer.id, reason="applied by parties " + ", ".join(sorted(str(p) for p in parties)))
    await publish(session, CaseConfirmationApplied(**_place_data(case), applied_on=data.applied_on,
                                                   reopened=closed_unapplied, at=now))
    await session.flush()
    return case


async def record_confirmation(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.ConfirmationOutcomeIn, now: datetime,
    config: MediationConfig,
) -> MediationCase:
    """Records the court's decision on judicial confirmation."""
    case = await load_for(session, viewer, case_id, config)
    action = Action.CONFIRM if data.outcome == "confirmed" else Action.REFUSE_CONFIRMATION
    target = _move(case, action)
    if case.confirmation_applied_on is None:
        raise RuleViolation("mediation.confirmation_not_applied", "record the parties' application first")
    before = case.status
    case.status = str(target)
    if action is Action.REFUSE_CONFIRMATION:
        # The court did not confirm the agreement: the dispute is not resolved (mediating again may resolve it). The
        # staff have the level's time limit to mediate again, close or refer it; then the case is flagged overdue.
        case.resolved_at = case.resolved_level = None
        case.deadline_at = case.next_due_at = level_deadline(now, Level(case.level), config.ladder)
        case.warning = str(WarningLevel.NONE)
    case.confirmation_outcome = data.outcome
    case.updated_at = now
    _history(session, case, str(action), from_status=before, from_level=case.level, now=now, actor=viewer.id)
    await publish(session, CaseConfirmationRecorded(**_place_data(case), outcome=data.outcome, at=now))
    await session.flush()
    return case


# --- closing, referral, breach, escalation -------------------------------------------------------------

async def close_case(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, now: datetime, config: MediationConfig
) -> MediationCase:
    """Closes a case whose agreement stands."""
    case = await load_for(session, viewer, case_id, config)
    if case.status == CaseStatus.CONFIRMATION_PENDING and case.agreement_signed_at is not None:
        # The parties have 30 days to ask a court to confirm their written agreement; the sweep closes the case
        # when the window passes unused. Closing by hand would take the window, or the court's answer, away.
        if case.confirmation_applied_on is not None:
            raise Conflict("the parties applied for judicial confirmation: the court's answer closes the case",
                           case_status=case.status, allowed=["confirm", "refuse_confirmation"])
        if now < confirmation_deadline(case.agreement_signed_at, config.calendar):
            last_day = confirmation_last_day(case.agreement_signed_at, config.calendar)
            raise Conflict(f"the parties may apply for judicial confirmation until {last_day}; the case closes by "
                           "itself when that window passes", case_status=case.status, last_day=str(last_day))
    target = _move(case, Action.CLOSE)
    before = case.status
    window_passed = case.status == CaseStatus.CONFIRMATION_PENDING and case.agreement_signed_at is not None
    case.status = str(target)
    case.closed_at = now
    _leave_ladder(case, now)
    _history(session, case, "close", from_status=before, from_level=case.level, now=now, actor=viewer.id)
    if window_passed:
        # Closed by hand before the sweep got to it: recorded as the sweep records it.
        case.confirmation_outcome = "not_applied"
        await publish(session, CaseConfirmationRecorded(**_place_data(case), outcome="not_applied", at=now))
    await session.flush()
    return case


async def _refer(
    session: AsyncSession, case: MediationCase, route: LegalRoute, now: datetime, *, actor: str,
    reason: str | None, automatic: bool = False, action: Action = Action.REFER, notice: str | None = None,
) -> None:
    refusal = route_refusal(case.dispute_type, route, confirmed=action is Action.REPORT_BREACH
                            and case.confirmation_outcome == "confirmed")
    if refusal is not None:
        raise RuleViolation("mediation.route_not_open", refusal, field="route")
    target = _move(case, action)
    before = case.status
    case.status = str(target)
    case.referred_route = str(route)
    case.closed_at = now
    _leave_ladder(case, now)
    _history(session, case, str(action), from_status=before, from_level=case.level, now=now, actor=actor,
             reason=reason, automatic=automatic)
    session.add(CaseNotice(case_id=case.id, kind="other_routes", body=notice or other_routes_notice(), at=now))
    await publish(session, CaseReferred(**_place_data(case), dispute_type=case.dispute_type, level=case.level,
                                        route=str(route), at=now))


async def refer_case(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.ReferIn, now: datetime,
    config: MediationConfig,
) -> MediationCase:
    """Refers a case to a legal route (litigation, arbitration, reconsideration, petition)."""
    case = await load_for(session, viewer, case_id, config)
    await _refer(session, case, data.route, now, actor=viewer.id, reason=data.reason)
    await session.flush()
    return case


async def report_breach(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.BreachIn, now: datetime,
    config: MediationConfig,
) -> MediationCase:
    """Records that a party broke the agreement; the case reopens to the legal route."""
    case = await load_for(session, viewer, case_id, config)
    _move(case, Action.REPORT_BREACH)
    await _party(session, case, data.party_id, "party_id")
    confirmed = case.confirmation_outcome == "confirmed"
    route = data.route or route_for(case.dispute_type, confirmed=confirmed, default=LegalRoute.LITIGATION)
    await _refer(session, case, route, now, actor=viewer.id, reason=f"party {data.party_id}: {data.reason}",
                 action=Action.REPORT_BREACH, notice=breach_notice(str(route)))
    await session.flush()
    return case


async def _escalate(
    session: AsyncSession, case: MediationCase, now: datetime, config: MediationConfig, *, actor: str,
    automatic: bool, reason: str | None, to_level: Level | None = None, by_staff: bool = False,
) -> None:
    _move(case, Action.ESCALATE)
    try:
        target = ladder_rules.escalate(Level(case.level), to_level, by_staff=by_staff, reason=reason)
    except LadderRuleError as exc:
        raise RuleViolation(exc.rule, exc.detail, field="to_level") from None
    before = Level(case.level)
    await _end_assignment(session, case, now)
    _enter_level(case, target, now, config.ladder)
    case.escalations += 1
    case.updated_at = now
    # The whole file goes up: parties, sessions, notices and history stay on the case; only its level moves.
    _history(session, case, "escalate", from_status=case.status, from_level=str(before), now=now, actor=actor,
             reason=reason, automatic=automatic)
    await publish(session, CaseEscalated(**_place_data(case), dispute_type=case.dispute_type, from_level=str(before),
                                         to_level=str(target), automatic=automatic, at=now))
    await session.flush()
    await assign(session, case, now, config, actor=actor, required=False)


async def escalate_case(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, data: schemas.EscalateIn, now: datetime,
    config: MediationConfig,
) -> MediationCase:
    """Staff (or the case's mediator) hand a case up before its time runs out, giving a reason."""
    case = await load_for(session, viewer, case_id, config)
    if data.from_level is not None and data.from_level != case.level:
        raise Conflict(f"from_level: the case is at the {case.level} level now, not {data.from_level}",
                       rule="mediation.level_changed", level=case.level, case_status=case.status,
                       allowed=sorted(allowed_actions(CaseStatus(case.status), Level(case.level))))
    # Skipping a level is for the staff who supervise the case, with a reason; its mediator hands it one level up.
    by_staff = supervises(viewer.grants, case.place_code, Level(case.level), config.grid_serial_width)
    await _escalate(session, case, now, config, actor=viewer.id, automatic=False, reason=data.reason,
                    to_level=data.to_level, by_staff=by_staff)
    return case


# --- the sweep ---------------------------------------------------------------------------------------------

@dataclass
class SweepReport:
    """What one sweep did."""

    examined: int = 0
    warned_yellow: int = 0
    warned_red: int = 0
    escalated: int = 0
    referred: int = 0
    reminded: int = 0
    window_closed: int = 0


async def sweep(
    session: AsyncSession, now: datetime, config: MediationConfig | None = None, *, batch_size: int = 500
) -> SweepReport:
    """Acts on every case that fell due by `now`: warnings, automatic escalation, confirmation reminders.

    Reads only the partial index on next_due_at; rows another sweeper holds are skipped, not waited for.
    """
    config = config or MediationConfig()
    repo = CaseRepository(session)
    report = SweepReport()
    try:
        # The batch in one savepoint: one flush for all its cases.
        async with session.begin_nested():
            for case in await repo.due(now, batch_size):
                await _sweep_case(session, case, now, config, report)
            await session.flush()
        return report
    except Exception as exc:  # noqa: BLE001 - a case of the batch failed: the batch again, case by case
        log.warning("mediation.sweep_batch_replayed_singly", error=describe_error(exc))
    # The rolled-back savepoint released the cases' locks and expired them: they are locked and read again (one
    # another sweeper took meanwhile is skipped, and swept by it).
    report = SweepReport()
    for case in await repo.due(now, batch_size, reload=True):
        case_id = case.id
        try:
            # One case that cannot be swept (a bug, bad data) is logged and looked at again later; the others go on.
            async with session.begin_nested():
                await _sweep_case(session, case, now, config, report)
                await session.flush()
        except Exception as exc:  # noqa: BLE001 - isolated to this case by its savepoint
            if is_transient(exc):
                # A deadlock with a staff action, a serialization failure: the next round sweeps the case again.
                log.warning("mediation.sweep_case_deferred", case_id=str(case_id), error=describe_error(exc))
                continue
            log.error("mediation.sweep_case_failed", case_id=str(case_id), error=describe_error(exc))
            await session.execute(update(MediationCase).where(MediationCase.id == case_id)
                                  .values(next_due_at=now + SWEEP_RETRY_AFTER))
    await session.flush()
    return report


async def _sweep_case(
    session: AsyncSession, case: MediationCase, now: datetime, config: MediationConfig, report: SweepReport
) -> None:
    report.examined += 1
    if case.status in OPEN_STATUSES:
        await _sweep_open(session, case, now, config, report)
    elif case.status == CaseStatus.CONFIRMATION_PENDING:
        await _sweep_confirmation(session, case, now, report, config.calendar)
    elif case.status == CaseStatus.CONFIRMATION_REFUSED and case.deadline_at is not None and now >= case.deadline_at:
        # Nobody mediated again, closed or referred it after the court's refusal: it is listed overdue for its level's
        # staff (not moved on by itself: the parties may go to court instead).
        session.add(CaseWarning(case_id=case.id, level=case.level, warning=str(WarningLevel.OVERDUE),
                                deadline_at=case.deadline_at, at=now))
        case.warning = str(WarningLevel.OVERDUE)
        case.next_due_at = None
        report.warned_red += 1
    else:
        case.next_due_at = None


async def _sweep_open(
    session: AsyncSession, case: MediationCase, now: datetime, config: MediationConfig, report: SweepReport
) -> None:
    level = Level(case.level)
    state = warning(case.level_entered_at, level, now, config.ladder)
    if state is WarningLevel.OVERDUE:
        if next_level(level) is None:
            route = route_for(case.dispute_type, confirmed=False, default=config.auto_referral_route)
            await _refer(session, case, route, now, actor=SCHEDULER, automatic=True,
                         reason=f"time limit at the {level} ran out; the ladder is exhausted")
            report.referred += 1
        else:
            await _escalate(session, case, now, config, actor=SCHEDULER, automatic=True,
                            reason=f"time limit at the {level} ran out")
            report.escalated += 1
        return
    if WARNING_RANK[state] > WARNING_RANK[WarningLevel(case.warning)]:
        session.add(CaseWarning(case_id=case.id, level=case.level, warning=str(state), deadline_at=case.deadline_at,
                                at=now))
        case.warning = str(state)
        if state is WarningLevel.RED:
            report.warned_red += 1
        else:
            report.warned_yellow += 1
    case.next_due_at = _open_due(case, config.ladder)


async def _sweep_confirmation(session: AsyncSession, case: MediationCase, now: datetime, report: SweepReport,
                              calendar: WorkCalendar) -> None:
    signed_at = case.agreement_signed_at
    if signed_at is None or case.confirmation_applied_on is not None:
        case.next_due_at = None
        return
    if reminder_due(signed_at, now, case.confirmation_reminded_at is not None, calendar=calendar):
        last_day = confirmation_last_day(signed_at, calendar)
        session.add(CaseNotice(case_id=case.id, kind="confirmation_reminder", body=CONFIRMATION_REMINDER,
                               due_on=last_day, at=now))
        case.confirmation_reminded_at = now
        report.reminded += 1
    deadline = confirmation_deadline(signed_at, calendar)
    if now < deadline:
        case.next_due_at = deadline
        return
    # The window passed without an application: the agreement still binds; the case closes.
    before = case.status
    case.status = str(_move(case, Action.CLOSE))
    case.confirmation_outcome = "not_applied"
    case.closed_at = now
    case.next_due_at = None
    case.updated_at = now
    _history(session, case, "close", from_status=before, from_level=case.level, now=now, actor=SCHEDULER,
             reason="the 30-day window for judicial confirmation passed", automatic=True)
    await publish(session, CaseConfirmationRecorded(**_place_data(case), outcome="not_applied", at=now))
    report.window_closed += 1


# --- org units that moved --------------------------------------------------------------------------------

async def unit_moved(session: AsyncSession, d: dict, now: datetime, config: MediationConfig) -> None:
    """Re-codes the cases under a unit that moved, once the replica has recorded the move (same transaction): they
    follow it to the new code, so the staff and mediators of the new codes see and handle them, the old parent's no
    longer do, and the ladder climbs from the new place.

    Every recorded move that now leads into the unit is applied, not only this one: a chain of moves (or a case opened
    under an earlier code) ends at today's code. Applying it twice changes nothing more, since no case is left under an
    old code, and old codes are never reused.
    """
    moves = CodeMoveRepository(session)
    await moves.lock_for_move()
    moved_from = replica_kit.take_moved_from(session)
    for old, new in [*([moved_from] if moved_from else []), *await moves.moves_into(d["new_code"])]:
        await _recode(session, old, new, now, config)
    await session.flush()


async def _recode(session: AsyncSession, old: str, new: str, now: datetime, config: MediationConfig) -> None:
    repo = CaseRepository(session)
    # A case at a level above the moved unit where its old and new parents differ (a community case of a grid moved to
    # another community) is now the new parent's: its mediator, who serves the old one, hands it over.
    leaving = [str(level) for level in levels_leaving_unit(old, new, config.grid_serial_width)]
    handed_over = await repo.open_at_levels_under(old, leaving)
    await repo.recode(old, new, now, actor=REGISTRY)
    for case_id in handed_over:
        case = await repo.get(case_id, for_update=True, fresh=True)
        assert case is not None
        if case.mediator_person_id is not None:
            mediator = case.mediator_person_id
            await _end_assignment(session, case, now)
            case.updated_at = now
            _history(session, case, "unassign", from_status=case.status, from_level=case.level, now=now,
                     actor=REGISTRY, reason=f"mediator {mediator} serves the {case.level} that org unit {old} left",
                     automatic=True)
        # The new parent's mediator, if one is eligible; otherwise its supervisors assign one when they can (a refused
        # agreement's case is given one when the parties mediate again).
        if case.status in OPEN_STATUSES:
            await assign(session, case, now, config, actor=REGISTRY, required=False)


async def mediator_role_ended(session: AsyncSession, d: dict, now: datetime, config: MediationConfig) -> None:
    """A mediator's grant was revoked (the replica has recorded it, same transaction): the open cases they no longer
    hold a mediator's role for pass to another mediator, or wait for their supervisors to assign one. A file stays
    with no one who may no longer open it."""
    if d.get("role") != "mediator":
        return
    person = uuid.UUID(str(d["person_id"]))
    repo = CaseRepository(session)
    scopes = await RegistryReplica(session).mediator_scopes_of(str(person))
    for case_id in await repo.open_of_mediator(person):
        case = await repo.get(case_id, for_update=True, fresh=True)
        assert case is not None
        unit = ancestor_code(case.place_code, Level(case.level), config.grid_serial_width)
        if unit in scopes:
            continue  # still a mediator of this case's unit at its level (another grant), as assignment asks
        await _end_assignment(session, case, now)
        case.updated_at = now
        _history(session, case, "unassign", from_status=case.status, from_level=case.level, now=now, actor=REGISTRY,
                 reason=f"mediator {person} no longer holds a mediator's role for this case", automatic=True)
        if case.status in OPEN_STATUSES:  # a refused agreement's case is given one when the parties mediate again
            await assign(session, case, now, config, actor=REGISTRY, required=False)
    await session.flush()


# --- reading ---------------------------------------------------------------------------------------------

async def case_file(session: AsyncSession, case: MediationCase, calendar: WorkCalendar) -> schemas.CaseRead:
    """Assembles the whole file of a case (the caller's right to see it was checked already)."""
    repo = CaseRepository(session)
    parties = await repo.parties(case.id)
    households = await RegistryReplica(session).households_of(str(p.person_id) for p, _ in parties if p.person_id)
    police = await repo.police_notifications(case.id)
    return schemas.CaseRead(
        **await _progress(repo, case, lambda text: text, calendar),
        allowed_actions=sorted(str(a) for a in allowed_actions(CaseStatus(case.status), Level(case.level))),
        risk_level=case.risk_level,
        risk_indicators=list(case.risk_indicators),
        police_flag_reasons=sorted({r for n in police for r in n.reasons}),
        chosen_mediator_ids=list(case.chosen_mediator_ids),
        refused_mediator_ids=list(case.refused_mediator_ids),
        parties=[
            schemas.PartyRead(
                party_id=p.id, person_id=p.person_id,
                household_code=households.get(str(p.person_id)) if p.person_id else None,
                outside=schemas.OutsidePersonRead(full_name=o.full_name, phone=o.phone, id_number=o.id_number,
                                                  address=o.address) if o else None,
                role=p.role, consent=p.consent, consent_at=p.consent_at,
            )
            for p, o in parties
        ],
        sessions=[schemas.SessionRead.model_validate(s, from_attributes=True) for s in await repo.sessions(case.id)],
        history=[schemas.HistoryRead.model_validate(h, from_attributes=True) for h in await repo.history(case.id)],
        warnings=[schemas.WarningRead.model_validate(w, from_attributes=True) for w in await repo.warnings(case.id)],
    )


async def _progress(repo: CaseRepository, case: MediationCase, shown: Callable[[str], str],
                    calendar: WorkCalendar) -> dict[str, Any]:
    """The fields of where a case stands that its file and its parties' view share; `shown` gives the free text as
    the reader reads it."""
    signed_at = case.agreement_signed_at
    return {
        **summary(case).model_dump(),
        "description": shown(case.description),
        "level_entered_at": case.level_entered_at,
        "escalations": case.escalations,
        "resolved_at": case.resolved_at,
        "resolved_level": case.resolved_level,
        "referred_route": case.referred_route,
        "termination_reason": case.termination_reason,
        "confirmation": schemas.ConfirmationRead(
            last_day=confirmation_last_day(signed_at, calendar) if signed_at else None,
            reminded_at=case.confirmation_reminded_at, applied_on=case.confirmation_applied_on,
            outcome=case.confirmation_outcome,
        ),
        "agreements": [
            schemas.AgreementRead(id=a.id, kind=a.kind, terms=shown(a.terms), level=a.level,
                                  mediator_person_id=a.mediator_person_id, reached_at=a.reached_at, signer_ids=signers)
            for a, signers in await repo.agreements(case.id)
        ],
        "notices": [schemas.NoticeRead.model_validate(n, from_attributes=True) for n in await repo.notices(case.id)],
    }


# Steps of a case's history its parties are not shown: the staff's risk assessment and police flag.
STAFF_ONLY_STEPS = frozenset({"assess_risk"})


async def party_view(session: AsyncSession, case: MediationCase, person_id: str,
                     calendar: WorkCalendar) -> schemas.CaseForParty:
    """Assembles a case as one of its parties follows it (the caller was checked to be a party)."""
    repo = CaseRepository(session)
    with_outside = await repo.parties(case.id)
    parties = [p for p, _ in with_outside]
    own = [p for p in parties if p.person_id is not None and str(p.person_id) == person_id]
    known = [o.full_name for _, o in with_outside if o is not None]

    def masked(text: str) -> str:
        return redact_text(text, known_names=[*known, *names_in_text(text)])

    actions: list[str] = []
    if case.status in OPEN_STATUSES:
        if any(p.consent != "given" for p in own):
            actions.append(str(Action.GIVE_CONSENT))
        actions += [str(Action.REFUSE_CONSENT), "choose_mediator"]
    return schemas.CaseForParty(
        **{**await _progress(repo, case, masked, calendar), "police_flagged": None},  # the risk assessment stays with the staff
        allowed_actions=actions,
        parties=[schemas.PartyLine(party_id=p.id, role=p.role, consent=p.consent, consent_at=p.consent_at,
                                   you=p in own) for p in parties],
        history=[schemas.PartyHistoryRead.model_validate(h, from_attributes=True) for h in await repo.history(case.id)
                 if h.action not in STAFF_ONLY_STEPS],
    )


def line(viewer: Viewer, case: MediationCase, config: MediationConfig, *, party: bool = False) -> schemas.CaseSummary:
    """The listing line of a case for the caller: a party (who may not see the file, staff who are a party included)
    is not told of a police flag."""
    listed = summary(case)
    if may_see(viewer, case, config) and not party:
        return listed
    return listed.model_copy(update={"police_flagged": None})


def summary(case: MediationCase) -> schemas.CaseSummary:
    """Returns the listing line of a case."""
    return schemas.CaseSummary(
        id=case.id, place_code=case.place_code, level=case.level, status=case.status, dispute_type=case.dispute_type,
        opened_at=case.opened_at, deadline_at=case.deadline_at, warning=case.warning,
        police_flagged=case.police_flagged, mediator_person_id=case.mediator_person_id,
    )


# --- statistics -------------------------------------------------------------------------------------------

def _record(case: MediationCase) -> CaseRecord:
    return CaseRecord(
        opened_at=case.opened_at, dispute_type=DisputeType(case.dispute_type), status=CaseStatus(case.status),
        resolved_at=case.resolved_at, resolved_level=Level(case.resolved_level) if case.resolved_level else None,
        escalations=case.escalations,
        referred=case.status in (CaseStatus.REFERRED, CaseStatus.REOPENED_TO_LEGAL),
    )


# A median of fewer resolutions than this is shown to the staff who supervise the scope only: of one or two cases, it
# is their days to resolve.
MIN_RESOLVED_FOR_MEDIAN = 3


def _figures(f: Figures, *, median: bool = True) -> schemas.FiguresRead:
    return schemas.FiguresRead(
        opened=f.opened, resolved=f.resolved, resolved_by_level={str(k): v for k, v in f.resolved_by_level.items()},
        resolution_rate=f.resolution_rate, median_days_to_resolve=f.median_days_to_resolve if median else None,
        escalations=f.escalations, referrals=f.referrals, terminated=f.terminated,
    )


async def statistics(
    session: AsyncSession, scope: str, period_start: datetime, period_end: datetime, *, staff: bool = True,
) -> schemas.StatisticsRead:
    """Computes the aggregates of a scope for a period and the one before it."""
    try:
        prev_start, prev_end = previous_period(period_start, period_end)
    except ValueError as exc:
        raise RuleViolation("mediation.bad_period", str(exc), field=str(exc).split(":")[0]) from None
    # A scope named by its code from before its unit moved: the unit's cases are under its code of today.
    scope = (await CodeMoveRepository(session).current_of([scope]))[scope]
    rows = await CaseRepository(session).statistics_rows(scope, prev_start, period_end)
    records = [_record(c) for c in rows]
    current = compute(records, period_start, period_end)
    previous = compute(records, prev_start, prev_end)
    change = compare(current, previous)

    def shown(figures: Figures, *compared: Figures | None) -> schemas.FiguresRead:
        """The figures, with their median for staff, or when each group it comes from (a change: both periods')
        resolved enough cases."""
        groups = compared or (figures,)
        return _figures(figures, median=staff or all(g is not None and g.resolved >= MIN_RESOLVED_FOR_MEDIAN
                                                     for g in groups))

    return schemas.StatisticsRead(
        scope=scope, period_start=period_start, period_end=period_end,
        current=shown(current), by_type={str(k): shown(v) for k, v in current.by_type.items()},
        previous=shown(previous), previous_by_type={str(k): shown(v) for k, v in previous.by_type.items()},
        change=shown(change, current, previous),
        change_by_type={str(k): shown(v, current.by_type.get(k), previous.by_type.get(k))
                        for k, v in change.by_type.items()},
    )
