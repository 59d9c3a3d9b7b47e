"""HTTP routes of the mediation service under /api/v1/mediation: thin, they parse, call the service, map."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.mediation import schemas, service
from services.mediation.rules.access import SUPERVISOR_ROLES, level_code_length
from services.mediation.rules.confirmation import CHINA_STANDARD_TIME
from services.mediation.rules.ladder import CaseStatus, Level, WarningLevel
from services.mediation.repository import CodeMoveRepository
from services.mediation.service import MediationConfig, Viewer
from youmin.kit.auth import CurrentPrincipal, OptionalPrincipal
from youmin.kit.errors import Instant, RuleViolation
from youmin.kit.service import SessionDep

router = APIRouter(prefix="/api/v1/mediation", tags=["mediation"])

CaseID = Annotated[uuid.UUID, Path(description="the case id")]


async def _viewer(principal: CurrentPrincipal, session: SessionDep) -> Viewer:
    return await service.viewer_of(session, principal)


# The caller, with the scopes of their token as the codes are today (a token issued before a unit moved names its old
# code).
CurrentViewer = Annotated[Viewer, Depends(_viewer)]


def _now(request: Request) -> datetime:
    return request.app.state.clock()


def _config(request: Request) -> MediationConfig:
    return request.app.state.mediation


async def _file(session: SessionDep, case, request: Request) -> schemas.CaseRead:
    return await service.case_file(session, case, _config(request).calendar)


# What a caller is answered about a case: the whole file (its mediator, supervisors), a party's view of their own
# case, or its listing line (no parties, no description).
CaseView = schemas.CaseRead | schemas.CaseForParty | schemas.CaseSummary


async def _file_or_line(session: SessionDep, viewer: Viewer, case, config: MediationConfig) -> CaseView:
    return await service.view(session, viewer, case, config)


@router.post("/cases", status_code=201, response_model=CaseView)
async def open_case(body: schemas.CaseCreate, viewer: CurrentViewer, session: SessionDep,
                    request: Request) -> CaseView:
    """Takes a dispute in for mediation (normally at the grid), by staff or a mediator, or on a resident's
    application as its applicant (in their own community). The one who takes it in gets the file if they may see the
    case (its mediator and supervisors), a party their view of it, anyone else its listing line."""
    config = _config(request)
    case = await service.open_case(session, viewer, body, _now(request), config)
    return await _file_or_line(session, viewer, case, config)


@router.get("/cases", response_model=list[schemas.CaseSummary])
async def list_cases(
    viewer: CurrentViewer, session: SessionDep, request: Request, response: Response,
    status: CaseStatus | None = None, warning: WarningLevel | None = None,
    police_flagged: bool | None = Query(None, description="only cases flagged (or not) for the police: for staff and "
                                        "mediators, among the cases they see as such"),
    before: Instant | None = Query(None, description="paging: the opened_at of the previous page's last case"),
    after_id: uuid.UUID | None = Query(None, description="paging, with `before`: the previous page's last case id"),
    limit: int = Query(50, ge=1, le=500),
) -> list[schemas.CaseSummary]:
    """Lists the cases the caller may see (assigned to them, in their supervising scope and level, or their own as a
    party), newest first.

    Paging: pass the last case's `opened_at` as `before` and its id as `after_id`; a full page also carries the
    next page's address in a `Link: <...>; rel="next"` header. Cases opened at the same instant are neither
    skipped nor repeated across pages.
    """
    if after_id is not None and before is None:
        raise RuleViolation("request.after_id_without_before", "after_id: give it with `before`, the opened_at of "
                            "that same case", field="after_id")
    cases = await service.CaseRepository(session).visible(
        viewer.id, viewer.grants, status=status, warning=warning, police_flagged=police_flagged, before=before,
        after_id=after_id, limit=limit, grid_serial_width=_config(request).grid_serial_width,
    )
    if len(cases) == limit:
        last = cases[-1]
        params = {k: v for k, v in request.query_params.items() if k not in ("before", "after_id")}
        params.update(before=last.opened_at.isoformat(), after_id=str(last.id))
        response.headers["link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    config = _config(request)
    own = await service.CaseRepository(session).cases_of_party(viewer.id, [c.id for c in cases])
    return [service.line(viewer, c, config, party=c.id in own) for c in cases]


@router.get("/cases/{case_id}", response_model=schemas.CaseRead | schemas.CaseForParty)
async def get_case(case_id: CaseID, viewer: CurrentViewer, session: SessionDep,
                   request: Request) -> schemas.CaseRead | schemas.CaseForParty:
    """Returns a case's whole file to its mediator and supervisors, and a party's view of it to its parties; 404 to
    anyone else."""
    config = _config(request)
    case = await service.load_for_party(session, viewer, case_id, config, for_update=False)
    return await _file_or_line(session, viewer, case, config)


@router.post("/cases/{case_id}/consents", response_model=schemas.CaseRead | schemas.CaseForParty)
async def record_consent(case_id: CaseID, body: schemas.ConsentIn, viewer: CurrentViewer,
                         session: SessionDep, request: Request) -> schemas.CaseRead | schemas.CaseForParty:
    """Records a party's consent to mediation or refusal of it: by the party themselves, or by the mediator or staff
    for them."""
    config = _config(request)
    case = await service.record_consent(session, viewer, case_id, body, _now(request), config)
    return await _file_or_line(session, viewer, case, config)


@router.post("/cases/{case_id}/assignment", response_model=schemas.AssignmentRead)
async def assign(case_id: CaseID, viewer: CurrentViewer, session: SessionDep,
                 request: Request) -> schemas.AssignmentRead:
    """Picks the mediator for the case's level and place (supervisors)."""
    return await service.assign_by_staff(session, viewer, case_id, _now(request), _config(request))


@router.post("/cases/{case_id}/mediator-choices", response_model=CaseView)
async def choose_mediator(case_id: CaseID, body: schemas.MediatorChoiceIn, viewer: CurrentViewer,
                          session: SessionDep, request: Request) -> CaseView:
    """Records a party choosing or refusing a mediator, by the party or by staff for them (a mediator refused here
    gets the listing line only)."""
    config = _config(request)
    case = await service.choose_mediator(session, viewer, case_id, body, _now(request), config)
    return await _file_or_line(session, viewer, case, config)


@router.post("/cases/{case_id}/sessions", status_code=201, response_model=schemas.SessionRead)
async def record_session(case_id: CaseID, body: schemas.SessionIn, viewer: CurrentViewer,
                         session: SessionDep, request: Request) -> schemas.SessionRead:
    """Records a mediation session."""
    record = await service.record_session(session, viewer, case_id, body, _now(request), _config(request))
    return schemas.SessionRead.model_validate(record, from_attributes=True)


@router.post("/cases/{case_id}/agreements", status_code=201, response_model=schemas.CaseRead)
async def reach_agreement(case_id: CaseID, body: schemas.AgreementIn, viewer: CurrentViewer,
                          session: SessionDep, request: Request) -> schemas.CaseRead:
    """Records an agreement (written with every signature, or oral)."""
    await service.reach_agreement(session, viewer, case_id, body, _now(request), _config(request))
    case = await service.load_for(session, viewer, case_id, _config(request))
    return await _file(session, case, request)


@router.post("/cases/{case_id}/confirmation-application", response_model=schemas.CaseRead)
async def apply_for_confirmation(case_id: CaseID, body: schemas.ConfirmationApplicationIn,
                                 viewer: CurrentViewer, session: SessionDep,
                                 request: Request) -> schemas.CaseRead:
    """Records the parties' joint application for judicial confirmation."""
    case = await service.apply_for_confirmation(session, viewer, case_id, body, _now(request),
                                                _config(request))
    return await _file(session, case, request)


@router.post("/cases/{case_id}/confirmation", response_model=schemas.CaseRead)
async def record_confirmation(case_id: CaseID, body: schemas.ConfirmationOutcomeIn, viewer: CurrentViewer,
                              session: SessionDep, request: Request) -> schemas.CaseRead:
    """Records the court's decision on judicial confirmation."""
    case = await service.record_confirmation(session, viewer, case_id, body, _now(request),
                                             _config(request))
    return await _file(session, case, request)


@router.post("/cases/{case_id}/escalation", response_model=CaseView)
async def escalate(case_id: CaseID, body: schemas.EscalateIn, viewer: CurrentViewer, session: SessionDep,
                   request: Request) -> CaseView:
    """Hands a case up the ladder before its time runs out, with a reason. The caller gets the file if they may
    still see the case at its new level, else its listing line (no parties, no description)."""
    config = _config(request)
    case = await service.escalate_case(session, viewer, case_id, body, _now(request), config)
    return await _file_or_line(session, viewer, case, config)


@router.post("/cases/{case_id}/referral", response_model=schemas.CaseRead)
async def refer(case_id: CaseID, body: schemas.ReferIn, viewer: CurrentViewer, session: SessionDep,
                request: Request) -> schemas.CaseRead:
    """Refers a case to a legal route."""
    case = await service.refer_case(session, viewer, case_id, body, _now(request), _config(request))
    return await _file(session, case, request)


@router.post("/cases/{case_id}/breach", response_model=schemas.CaseRead)
async def report_breach(case_id: CaseID, body: schemas.BreachIn, viewer: CurrentViewer,
                        session: SessionDep, request: Request) -> schemas.CaseRead:
    """Records a broken agreement; the case reopens to the legal route."""
    case = await service.report_breach(session, viewer, case_id, body, _now(request), _config(request))
    return await _file(session, case, request)


@router.post("/cases/{case_id}/closure", response_model=schemas.CaseRead)
async def close(case_id: CaseID, viewer: CurrentViewer, session: SessionDep,
                request: Request) -> schemas.CaseRead:
    """Closes a case whose agreement stands."""
    case = await service.close_case(session, viewer, case_id, _now(request), _config(request))
    return await _file(session, case, request)


@router.post("/cases/{case_id}/risk", response_model=schemas.CaseRead)
async def reassess_risk(case_id: CaseID, body: schemas.RiskIn, viewer: CurrentViewer, session: SessionDep,
                        request: Request) -> schemas.CaseRead:
    """Records a new risk assessment; flags the police at once if the dispute may turn violent."""
    case = await service.reassess_risk(session, viewer, case_id, body, _now(request), _config(request))
    return await _file(session, case, request)


def _month_start(value: datetime) -> bool | None:
    """Whether an instant is 00:00 of the first day of a month in China Standard Time; None for an instant outside
    the years the service stores (the statistics refuse it as such)."""
    try:
        local = value.astimezone(CHINA_STANDARD_TIME)
    except (OverflowError, ValueError):
        return None
    return local.day == 1 and (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


@router.get("/statistics", response_model=schemas.StatisticsRead)
async def statistics(
    session: SessionDep,
    request: Request,
    principal: OptionalPrincipal,
    scope: str = Query(pattern=r"^[0-9]{6,27}$", description="a district, street, community or grid code"),
    period_start: datetime = Query(description="start of the period (inclusive, with a time zone)"),
    period_end: datetime = Query(description="end of the period (exclusive, with a time zone)"),
) -> schemas.StatisticsRead:
    """Aggregates for a scope and period, against the previous period: no case, no party, nothing personal."""
    grid_width = _config(request).grid_serial_width
    if len(scope) not in {level_code_length(level, grid_width) for level in Level}:
        # Below a grid, a handful of households: a count of their disputes would point at one of them.
        raise RuleViolation("mediation.statistics_too_fine", "scope: statistics go down to a grid; give a district, "
                            "street, community or grid code", field="scope")
    # Both as the codes are today: a token from before a unit moved names its old code, and so may the scope asked for
    # (a grid's former community's staff do not supervise it any more).
    scope = (await CodeMoveRepository(session).current_of([scope]))[scope]
    viewer = await service.viewer_of(session, principal) if principal is not None else None
    staff = viewer is not None and any(g.role in SUPERVISOR_ROLES and scope.startswith(g.scope) for g in viewer.grants)
    if len(scope) == level_code_length(Level.GRID, grid_width) and not staff:
        # A grid sees about one dispute a month: its month would be one case's type, outcome and days to resolve.
        raise RuleViolation("mediation.statistics_grid_for_staff", "scope: a grid's statistics are for the staff "
                            "who supervise it; give its community, street or district", field="scope")
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        if value.tzinfo is None:
            raise RuleViolation("mediation.naive_time", f"{name} needs a time zone", field=name)
    # Anyone may ask: a grid's count over an hour, or the difference of two periods an hour apart, would point at the
    # one household whose dispute it was. Whole months (a month, a quarter, a year) cannot be shifted by an hour.
    starts = {"period_start": _month_start(period_start), "period_end": _month_start(period_end)}
    for name, month_start in starts.items():
        if period_start < period_end and None not in starts.values() and not month_start:
            raise RuleViolation("mediation.statistics_whole_months", f"{name}: statistics cover whole months: give "
                                "the first day of a month at 00:00 China Standard Time (+08:00)", field=name)
    return await service.statistics(session, scope, period_start, period_end, staff=staff)
