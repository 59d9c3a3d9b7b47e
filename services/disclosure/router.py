"""Staff HTTP routes of the disclosure service under /api/v1/disclosure."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from services.disclosure.models import DisclosureItem, SupervisionQuestion
from services.disclosure.repository import ItemFilter
from services.disclosure.rules import cadence, supervision
from services.disclosure.schemas import (
    AnswerPost,
    CadenceReport,
    FinanceStatementPost,
    ItemPost,
    ItemRead,
    Kind,
    QuestionPost,
    QuestionRead,
    SweepResult,
    UnitCodeShape,
    Withdrawal,
    check_unit_code,
)
from services.disclosure.service import STAFF_ROLES, DisclosureService
from youmin.kit.auth import CurrentPrincipal, require_scope
from youmin.kit.errors import Forbidden, NotFound
from youmin.kit.replica import UNIT_CODE_PATTERN
from youmin.kit.service import SessionDep

router = APIRouter(prefix="/api/v1/disclosure", tags=["disclosure"])

# The sweep flags overdue questions district-wide, so it is run by the district (or by a service), nobody lower.
SWEEP_ROLES = frozenset({"admin", "district_staff"})
DISTRICT = "370705"


async def get_service(session: SessionDep, request: Request) -> DisclosureService:
    """Dependency: the use cases over the request's transaction, at the service clock's now."""
    return DisclosureService(session, request.app.state.settings, request.app.state.clock())


ServiceDep = Annotated[DisclosureService, Depends(get_service)]
UnitCode = Annotated[str, Query(pattern=UNIT_CODE_PATTERN), UnitCodeShape]


def item_read(item: DisclosureItem, service: DisclosureService) -> ItemRead:
    """Builds the staff view of an item."""
    return ItemRead(
        id=item.id, unit_code=item.unit_code, community_code=item.community_code, kind=item.kind,
        category=item.category, title=item.title, content=item.content, major=item.major, matter_id=item.matter_id,
        published_at=item.published_at, updated_at=item.updated_at, withdrawn_at=item.withdrawn_at,
        withdrawal_reason=item.withdrawal_reason,
        earliest_withdrawal_at=cadence.earliest_withdrawal(item.published_at, service.policy),
        objection_window_closes_at=supervision.objection_window_closes_at(item.published_at,
                                                                           service.settings.objection_days),
    )


def question_read(question: SupervisionQuestion) -> QuestionRead:
    """Builds the staff view of a question."""
    return QuestionRead(id=question.id, item_id=question.item_id, unit_code=question.unit_code, kind=question.kind,
                        body=question.body, asked_at=question.asked_at, answer_due_at=question.answer_due_at,
                        answer=question.answer, answered_at=question.answered_at, overdue=question.overdue)


@router.post("/items", status_code=201, response_model=ItemRead)
async def post_item(body: ItemPost, principal: CurrentPrincipal, service: ServiceDep) -> ItemRead:
    """Publishes meeting minutes, a covenant or a notice (redacted)."""
    return item_read(await service.post_item(principal, body), service)


@router.post("/finance-statements", status_code=201, response_model=ItemRead)
async def post_finance_statement(body: FinanceStatementPost, principal: CurrentPrincipal,
                                 service: ServiceDep) -> ItemRead:
    """Publishes a finance statement with fund lines (income, expenditure, balance)."""
    return item_read(await service.post_finance_statement(principal, body), service)


@router.get("/items", response_model=list[ItemRead])
async def list_items(principal: CurrentPrincipal, service: ServiceDep, unit_code: UnitCode,
                     kind: Kind | None = None, include_withdrawn: bool = True,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[ItemRead]:
    """Lists the items under a unit, withdrawn ones included (staff view)."""
    unit_code = await service.codes.current(unit_code)  # named by its code from before a move
    require_scope(await service.as_today(principal), unit_code, STAFF_ROLES)
    items = await service.items.newest_first(
        ItemFilter(unit_prefix=unit_code, kind=kind, include_withdrawn=include_withdrawn), limit)
    return [item_read(i, service) for i in items]


@router.get("/items/{item_id}", response_model=ItemRead)
async def get_item(item_id: UUID, principal: CurrentPrincipal, service: ServiceDep) -> ItemRead:
    """Returns one item (staff view)."""
    item = await service.items.get(item_id)
    if item is None:
        raise NotFound(f"no disclosure item {item_id}")
    require_scope(await service.as_today(principal), item.unit_code, STAFF_ROLES)
    return item_read(item, service)


@router.post("/items/{item_id}/withdraw", response_model=ItemRead)
async def withdraw_item(item_id: UUID, body: Withdrawal, principal: CurrentPrincipal, service: ServiceDep) -> ItemRead:
    """Takes an item down (refused with 422 min_display_days before it has been up 5 days)."""
    return item_read(await service.withdraw(principal, item_id, body.reason, personal_data=body.personal_data), service)


@router.post("/items/{item_id}/questions", status_code=201, response_model=QuestionRead)
async def ask_question(item_id: UUID, body: QuestionPost, principal: CurrentPrincipal,
                       service: ServiceDep) -> QuestionRead:
    """Records a resident's question or objection (within 5 days of posting)."""
    return question_read(await service.ask(principal, item_id, body))


@router.post("/questions/{question_id}/answer", response_model=QuestionRead)
async def answer_question(question_id: UUID, body: AnswerPost, principal: CurrentPrincipal,
                          service: ServiceDep) -> QuestionRead:
    """Records staff's answer to a question."""
    return question_read(await service.answer(principal, question_id, body))


@router.get("/questions", response_model=list[QuestionRead])
async def list_questions(principal: CurrentPrincipal, service: ServiceDep, unit_code: UnitCode,
                         open_only: bool = False, overdue_only: bool = False) -> list[QuestionRead]:
    """Lists the questions under a unit, with the overdue flag."""
    unit_code = await service.codes.current(unit_code)  # named by its code from before a move
    require_scope(await service.as_today(principal), unit_code, STAFF_ROLES)
    questions = await service.questions.in_scope(unit_code, only_open=open_only, only_overdue=overdue_only)
    return [question_read(q) for q in questions]


@router.get("/reports/cadence", response_model=CadenceReport)
async def cadence_report(principal: CurrentPrincipal, service: ServiceDep, unit_code: UnitCode,
                         as_of: date | None = None) -> CadenceReport:
    """Lists the communities under a unit overdue on party, residents' or financial disclosure."""
    return await service.cadence_report(principal, check_unit_code(unit_code), as_of)


@router.post("/supervision/sweep", response_model=SweepResult)
async def sweep(principal: CurrentPrincipal, service: ServiceDep) -> SweepResult:
    """Flags the questions left unanswered past their deadline (also run periodically)."""
    if principal.kind != "service" and not principal.covers(DISTRICT, SWEEP_ROLES):
        raise Forbidden("the sweep is run by district staff (a grant covering the district) or a service",
                        scope=DISTRICT)
    return SweepResult(now=service.now, flagged=await service.sweep_overdue_answers())
