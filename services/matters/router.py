"""HTTP routes of the matters service under /api/v1/matters: thin, they parse, call the service and map."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from services.matters import schemas as s
from services.matters.models import Matter
from services.matters.service import (
    STAFF_ROLES,
    Context,
    MattersService,
    masked_text,
    public_status,
    template_dict,
    templates,
)
from youmin.kit.auth import CurrentPrincipal, Principal, require_scope
from youmin.kit.errors import Forbidden, Instant, NotFound, RuleViolation, SafeStr, problem
from youmin.kit.service import SessionDep

router = APIRouter(prefix="/api/v1/matters", tags=["matters"])

MatterID = Annotated[uuid.UUID, Path(description="The matter's id")]
VoteID = Annotated[uuid.UUID, Path(description="The vote's id")]
TaskID = Annotated[uuid.UUID, Path(description="The implementation task's id")]
WorkOrderID = Annotated[uuid.UUID, Path(description="The work order's id")]
CommunityCode = Annotated[str, Path(pattern=s.COMMUNITY_CODE)]


def _service(request: Request, session) -> MattersService:
    return MattersService(session, request.app.state.settings, getattr(request.app.state, "calendar", None),
                          request.app.state.recent_moves)


def _ctx(request: Request, principal: Principal) -> Context:
    return Context(principal=principal, now=request.app.state.clock())


async def _caller(request: Request, session: SessionDep, principal: CurrentPrincipal) -> Principal:
    return await _service(request, session).caller(principal)


# The caller, with the scopes of their token as the codes are today (a token issued before a unit moved names its old
# code).
Caller = Annotated[Principal, Depends(_caller)]


# --- matters: create and list ----------------------------------------------------------------------


@router.post("", status_code=201, response_model=s.MatterCreated, include_in_schema=False)
@router.post("/", status_code=201, response_model=s.MatterCreated)
async def raise_matter(data: s.MatterCreate, request: Request, session: SessionDep, principal: Caller) -> dict:
    """Raises a matter (民事民提); similar matters of the community come back as duplicate suggestions."""
    service = _service(request, session)
    matter, duplicates, template = await service.raise_matter(_ctx(request, principal), data)
    return {**await service.read(principal, matter, template, vote_open=False), "duplicates": duplicates}


@router.get("", response_model=s.MatterPage, include_in_schema=False)
@router.get("/", response_model=s.MatterPage)
async def list_matters(
    request: Request,
    session: SessionDep,
    principal: Caller,
    category: s.Category | None = None,
    status: Literal["open", "closed"] | None = None,
    state: SafeStr | None = None,
    community_code: Annotated[str | None, Query(pattern=s.COMMUNITY_CODE)] = None,
    key_project: bool | None = None,
    start: Instant | None = None,
    end: Instant | None = None,
    ids: SafeStr | None = Query(None, description="comma-separated matter ids"),
    q: Annotated[SafeStr | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=s.MAX_BIGINT)] = 0,
) -> dict:
    """Lists and searches the matters the caller may see (their scope and their own)."""
    id_list = None
    if ids:
        try:
            id_list = [uuid.UUID(part.strip()) for part in ids.split(",") if part.strip()]
        except ValueError:
            raise RuleViolation("request.invalid_ids", "ids: must be comma-separated matter ids", field="ids") from None
    service = _service(request, session)
    if community_code:
        community_code = await service.code_moves.current(community_code)  # named by its code from before a move
    filters = dict(visibility=service.visibility(principal), category=category.value if category else None,
                   status=status, state=state, community_code=community_code, key_project=key_project, start=start,
                   end=end, ids=id_list)
    matters, total, limited = await service.search(principal, filters, q, limit, offset)
    cache: dict[str, object] = {}
    open_votes = await service.repo.with_open_votes([m.matter_id for m in matters])
    items = []
    for matter in matters:
        if matter.community_code not in cache:
            cache[matter.community_code] = (await service.template_of(matter.community_code))[0]
        items.append(await service.read(principal, matter, cache[matter.community_code],
                                        vote_open=matter.matter_id in open_votes))
    return {"items": items, "total": total, "search_limited": limited}


# --- templates -------------------------------------------------------------------------------------


@router.get("/templates", response_model=list[s.TemplateRead])
async def list_templates(principal: CurrentPrincipal) -> list[dict]:
    """Lists the built-in community workflow templates with their stages and rules (any signed-in caller)."""
    return [template_dict(t) for t in templates().values()]


@router.get("/templates/communities/{community_code}", response_model=s.CommunityTemplateRead)
async def community_template(community_code: CommunityCode, request: Request, session: SessionDep,
                             principal: Caller) -> dict:
    """Returns the template a community works by (the default until it chooses one); for callers whose grant
    covers the community (its own staff or above) and for services."""
    service = _service(request, session)
    community_code = await service.code_moves.current(community_code)  # named by its code from before a move
    if principal.kind != "service":
        require_scope(principal, community_code)
    template, chosen = await service.template_of(community_code)
    return {"community_code": community_code, "template": template_dict(template), "chosen": chosen}


@router.put("/templates/communities/{community_code}", response_model=s.CommunityTemplateRead)
async def choose_template(community_code: CommunityCode, data: s.TemplateChoice, request: Request, session: SessionDep,
                          principal: Caller) -> dict:
    """Sets the template a community works by."""
    community_code, template = await _service(request, session).choose_template(_ctx(request, principal), community_code,
                                                                                data.template_code)
    return {"community_code": community_code, "template": template_dict(template), "chosen": True}


# --- statistics ------------------------------------------------------------------------------------


@router.get("/stats")
async def statistics(
    request: Request,
    session: SessionDep,
    principal: Caller,
    community_code: Annotated[str | None, Query(pattern=s.COMMUNITY_CODE)] = None,
    category: s.Category | None = None,
    key_project: bool | None = None,
) -> dict:
    """Counts and median days per stage, and counts per community and category (key projects too)."""
    return await _service(request, session).statistics(principal, community_code, category.value if category else None,
                                                       key_project)


# --- department work orders (部门包居) ---------------------------------------------------------------


@router.get("/workorders/feed", response_model=s.WorkOrderFeed)
async def work_order_feed(
    request: Request,
    session: SessionDep,
    principal: Caller,
    after: Annotated[int, Query(ge=0, le=s.MAX_BIGINT)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict:
    """The department's work-order changes after a cursor, in a stable order with no gaps or repeats."""
    return await _service(request, session).feed(principal, after, limit)


@router.get("/workorders", response_model=list[s.WorkOrderRead])
async def list_work_orders(
    request: Request,
    session: SessionDep,
    principal: Caller,
    department: SafeStr | None = None,
    status: Literal["dispatched", "signed", "answered", "returned"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=s.MAX_BIGINT)] = 0,
) -> list:
    """Lists work orders in the caller's scope."""
    service = _service(request, session)
    return await service.repo.list_work_orders(service.work_order_visibility(principal), department, status, limit, offset)


@router.get("/workorders/{work_order_id}", response_model=s.WorkOrderRead)
async def get_work_order(work_order_id: WorkOrderID, request: Request, session: SessionDep, principal: Caller):
    """Returns one work order."""
    service = _service(request, session)
    order = await service.repo.get_work_order(work_order_id)
    if order is None:
        raise NotFound(f"no work order {work_order_id}")
    # A department reads its own orders only (another department's answer on the same matter is not its business);
    # everyone else reads the orders of the matters they may read.
    matter = await service.repo.get_matter(order.matter_id)
    if principal.kind == "department":
        readable = principal.department == order.department_code
    else:
        readable = await service.can_read(principal, matter)
    if not readable:
        raise NotFound(f"no work order {work_order_id}")
    return service.read_work_order(principal, order, matter, s.WorkOrderRead.model_fields)


@router.post("/workorders/{work_order_id}/sign", response_model=s.WorkOrderRead)
async def sign_work_order(work_order_id: WorkOrderID, request: Request, session: SessionDep, principal: Caller):
    """The department signs for a work order."""
    return await _service(request, session).sign(_ctx(request, principal), work_order_id)


@router.post("/workorders/{work_order_id}/answer", response_model=s.WorkOrderRead)
async def answer_work_order(work_order_id: WorkOrderID, data: s.AnswerIn, request: Request, session: SessionDep,
                            principal: Caller):
    """The department answers a work order (within 5 working days)."""
    return await _service(request, session).answer(_ctx(request, principal), work_order_id, data.answer)


@router.post("/workorders/{work_order_id}/extend", response_model=s.WorkOrderRead)
async def extend_work_order(work_order_id: WorkOrderID, data: s.ExtendIn, request: Request, session: SessionDep,
                            principal: Caller):
    """The department takes its one extension of up to 10 working days."""
    return await _service(request, session).extend(_ctx(request, principal), work_order_id, data.workdays, data.reason)


@router.post("/workorders/{work_order_id}/return", response_model=s.WorkOrderRead)
async def return_work_order(work_order_id: WorkOrderID, data: s.ReturnIn, request: Request, session: SessionDep,
                            principal: Caller):
    """The department sends a misrouted work order back (within 2 working days)."""
    return await _service(request, session).send_back(_ctx(request, principal), work_order_id, data.reason)


# --- administrative tasks entering communities (准入) -------------------------------------------------


@router.post("/department-tasks", status_code=201, response_model=s.DepartmentTaskRead)
async def submit_department_task(data: s.DepartmentTaskIn, request: Request, session: SessionDep, principal: Caller):
    """Admits a department's task into a community if it cites the admission catalogue; refused -> 422."""
    task = await _service(request, session).submit_department_task(_ctx(request, principal), data)
    if not task.admitted:
        # The refusal is recorded (and published) on purpose: the response must not roll it back.
        rule = "admission.catalogue_code_missing" if task.catalogue_code is None else "admission.not_in_catalogue"
        return problem(422, "Rule violation", task.reason, "/problems/rule-violation", rule=rule, field="catalogue_code",
                       task_id=str(task.task_id))
    return task


@router.get("/department-tasks/burden")
async def burden(
    request: Request,
    session: SessionDep,
    principal: Caller,
    start: Instant | None = None,
    end: Instant | None = None,
) -> dict:
    """Administrative tasks per community per month (the burden report)."""
    service = _service(request, session)
    scopes = None if principal.kind == "service" else principal.scopes(STAFF_ROLES)
    if scopes is not None and not scopes:
        raise Forbidden("the burden report is for community, street and district staff")
    rows = await service.repo.burden(scopes, start, end)
    return {"items": [{"community_code": r.community_code, "month": r.month, "admitted": int(r.admitted),
                       "refused": int(r.refused)} for r in rows]}


# --- votes -----------------------------------------------------------------------------------------


@router.get("/votes/mine", response_model=list[s.VoteRead])
async def my_votes(request: Request, session: SessionDep, principal: Caller) -> list[dict]:
    """The votes taking ballots now in which the caller may cast something (their own vote, or a household's as its
    representative or proxy, wherever it lives), each with whether it is cast: a resident's "votes for you"."""
    return await _service(request, session).my_open_votes(_ctx(request, principal))


@router.get("/votes/{vote_id}", response_model=s.VoteRead)
async def get_vote(vote_id: VoteID, request: Request, session: SessionDep, principal: Caller) -> dict:
    """Returns a vote: its frozen rule, base, participation and, once closed, the result."""
    service = _service(request, session)
    vote, _ = await service.vote_for_reader(principal, vote_id)
    return await service.vote_read(vote, principal)


@router.post("/votes/{vote_id}/ballots", status_code=201, response_model=s.Receipt)
async def cast_ballot(vote_id: VoteID, data: s.BallotCast, request: Request, session: SessionDep, principal: Caller):
    """Casts an online ballot (personally, or for a household as its representative or proxy); returns a receipt."""
    return await _service(request, session).cast(_ctx(request, principal), vote_id, data)


@router.get("/votes/{vote_id}/receipts/{receipt}", response_model=s.ReceiptCheck)
async def check_receipt(vote_id: VoteID, receipt: Annotated[SafeStr, Path(min_length=8, max_length=100)], request: Request,
                        session: SessionDep, principal: Caller):
    """Tells whether the ballot behind a receipt was counted."""
    return await _service(request, session).check_receipt(principal, vote_id, receipt)


@router.post("/votes/{vote_id}/offline-tallies", status_code=201, response_model=s.OfflineTallyRead)
async def offline_tally(vote_id: VoteID, data: s.OfflineTallyIn, request: Request, session: SessionDep,
                        principal: Caller):
    """Enters a meeting's paper ballots with the sign-in record as evidence."""
    return await _service(request, session).offline_tally(_ctx(request, principal), vote_id, data)


@router.post("/votes/{vote_id}/close", response_model=s.VoteRead)
async def close_vote(vote_id: VoteID, request: Request, session: SessionDep, principal: Caller,
                     body: s.VoteClose | None = None) -> dict:
    """Closes a vote and decides the matter: quorum, for/against/abstain and the rule version; `public_title` is the
    title the public sees for the decision."""
    service = _service(request, session)
    vote = await service.close_vote(_ctx(request, principal), vote_id, body.public_title if body else None)
    return await service.vote_read(vote)


@router.post("/votes/{vote_id}/cancel", response_model=s.VoteRead)
async def cancel_vote(vote_id: VoteID, data: s.VoteCancel, request: Request, session: SessionDep,
                      principal: Caller) -> dict:
    """Calls an open vote off, undecided, with a reason: the matter goes back to routed (a vote may be opened again);
    the ballots cast count for nothing. Whoever may close the vote may cancel it."""
    service = _service(request, session)
    vote = await service.cancel_vote(_ctx(request, principal), vote_id, data.reason)
    return await service.vote_read(vote)


# --- implementation tasks --------------------------------------------------------------------------


# Before every /tasks/{task_id}/... and /{matter_id}/... route, so "assigned" is never read as an id.
@router.get("/tasks/assigned", response_model=s.AssignedTaskPage)
async def tasks_assigned(
    request: Request,
    session: SessionDep,
    principal: Caller,
    status: Annotated[Literal["open", "finished"] | None,
                      Query(description="open: not yet at 100%; finished: reported at 100%")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=s.MAX_BIGINT)] = 0,
) -> dict:
    """The implementation tasks the calling department carries out, newest first (departments only)."""
    return await _service(request, session).tasks_carried_by_department(principal, status, limit, offset)


@router.post("/tasks/{task_id}/progress", response_model=s.TaskRead)
async def task_progress(task_id: TaskID, data: s.ProgressIn, request: Request, session: SessionDep, principal: Caller):
    """Records a dated progress update of a task; answers the task with all its updates and spending."""
    service = _service(request, session)
    return (await service.read_tasks([await service.add_progress(_ctx(request, principal), task_id, data)]))[0]


@router.post("/tasks/{task_id}/spending", response_model=s.TaskRead)
async def task_spending(task_id: TaskID, data: s.SpendingIn, request: Request, session: SessionDep, principal: Caller):
    """Records a spending line against a task's budget; answers the task with all its spending and updates."""
    service = _service(request, session)
    return (await service.read_tasks([await service.add_spending(_ctx(request, principal), task_id, data)]))[0]


# --- one matter --------------------------------------------------------------------------------------


@router.get("/by-token/{token}", response_model=s.TokenStatus)
async def by_token(token: Annotated[SafeStr, Path(min_length=1, max_length=100)], request: Request, session: SessionDep,
                   principal: Caller) -> dict:
    """Finds a matter by the token its external system gave it (Open311)."""
    service = _service(request, session)
    matter = await service.repo.matter_by_token(token)
    if matter is None or not await service.can_read(principal, matter):
        raise NotFound(f"no matter with token {token}")
    return {"matter_id": matter.matter_id, "external_token": token, "status": public_status(matter.state)}


@router.get("/{matter_id}", response_model=s.MatterDetail)
async def get_matter(matter_id: MatterID, request: Request, session: SessionDep, principal: Caller) -> dict:
    """Returns a matter with its timeline (who moved it, when, why)."""
    service = _service(request, session)
    return await _detail(service, principal, await service.readable_matter(principal, matter_id))


async def _detail(service: MattersService, principal: Principal, matter: Matter) -> dict:
    # Who acted is for the staff who handle the matter; a resident reading a neighbour's matter sees their own steps
    # and the system's, not the person ids of whoever raised, withdrew or evaluated it.
    staff = principal.covers(matter.unit_code, STAFF_ROLES)

    def actor(sub: str) -> str | None:
        return sub if staff or sub == principal.sub or sub.startswith("system:") else None

    in_full = service.reads_in_full(principal, matter.unit_code, matter.proposer_sub)

    def reason(text: str | None) -> str | None:
        return text if in_full or text is None else masked_text(text)

    timeline = [{"from_state": t.from_state, "to_state": t.to_state, "action": t.action, "actor": actor(t.actor_sub),
                 "reason": reason(t.reason), "reason_code": t.reason_code, "details": t.details, "at": t.at}
                for t in await service.repo.timeline(matter.matter_id)]
    return {**await service.read(principal, matter), "timeline": timeline,
            "vote_ids": await service.repo.vote_ids(matter.matter_id),
            "work_order_ids": await service.repo.work_order_ids(matter.matter_id)}


@router.get("/{matter_id}/duplicates", response_model=list[s.DuplicateRead])
async def duplicates(matter_id: MatterID, request: Request, session: SessionDep, principal: Caller):
    """Suggests live matters of the same community that look like this one (to merge)."""
    return await _service(request, session).duplicates(principal, matter_id)


@router.post("/{matter_id}/meeting-requests", status_code=201, response_model=s.MeetingRequestsRead)
async def request_meeting(matter_id: MatterID, request: Request, session: SessionDep, principal: Caller) -> dict:
    """Asks, as a resident of the matter's community, that a residents' meeting be called on it (once); answers how
    many have asked. Once a fifth of the adults or households have, the meeting must be called: the timeline says so
    and the router proposes the residents' meeting."""
    return await _service(request, session).request_meeting(_ctx(request, principal), matter_id)


@router.get("/{matter_id}/meeting-requests", response_model=s.MeetingRequestsRead)
async def meeting_requests(matter_id: MatterID, request: Request, session: SessionDep, principal: Caller) -> dict:
    """How many of the community's adults and households have asked for a residents' meeting on the matter."""
    service = _service(request, session)
    return await service.meeting_requests(principal, await service.readable_matter(principal, matter_id))


@router.get("/{matter_id}/route-proposal", response_model=s.RouteProposalRead)
async def route_proposal(matter_id: MatterID, request: Request, session: SessionDep, principal: Caller):
    """The channel the router proposes for the matter, and why."""
    service = _service(request, session)
    return await service.route_proposal(await service.readable_matter(principal, matter_id))


@router.post("/{matter_id}/transitions", response_model=s.MatterRead)
async def apply_transition(matter_id: MatterID, data: s.TransitionRequest, request: Request, session: SessionDep,
                           principal: Caller) -> dict:
    """Moves a matter through its lifecycle; an action not allowed now gets 409 with the allowed ones."""
    service = _service(request, session)
    matter = await service.apply_transition(_ctx(request, principal), matter_id, data)
    return await service.read(principal, matter)


@router.put("/{matter_id}/flags", response_model=s.MatterRead)
async def set_flags(matter_id: MatterID, data: s.FlagsChange, request: Request, session: SessionDep,
                    principal: Caller) -> dict:
    """Flags a matter as a key project (重点项目) or major, or takes a flag off (staff; major until a vote opens)."""
    service = _service(request, session)
    matter = await service.set_flags(_ctx(request, principal), matter_id, data)
    return await service.read(principal, matter)


@router.post("/{matter_id}/votes", status_code=201, response_model=s.VoteRead)
async def open_vote(matter_id: MatterID, data: s.VoteOpen, request: Request, session: SessionDep, principal: Caller):
    """Opens a voting window; the electorate is frozen from the registry replica now."""
    service = _service(request, session)
    vote = await service.open_vote(_ctx(request, principal), matter_id, data)
    return await service.vote_read(vote)


@router.post("/{matter_id}/tasks", status_code=201, response_model=s.TaskRead)
async def add_task(matter_id: MatterID, data: s.TaskCreate, request: Request, session: SessionDep, principal: Caller):
    """Adds an implementation task with its responsible body, budget and deadline."""
    task = await _service(request, session).add_task(_ctx(request, principal), matter_id, data)
    return {**{c: getattr(task, c) for c in s.TaskRead.model_fields if c not in ("spending", "progress")}}


@router.get("/{matter_id}/tasks", response_model=list[s.TaskRead])
async def list_tasks(matter_id: MatterID, request: Request, session: SessionDep, principal: Caller):
    """Lists a matter's tasks with their spending lines and progress updates."""
    return await _service(request, session).tasks(principal, matter_id)


@router.post("/{matter_id}/ratings", status_code=201, response_model=s.EvaluationRead)
async def rate(matter_id: MatterID, data: s.RatingIn, request: Request, session: SessionDep, principal: Caller):
    """A resident rates the result (民事民评); enough ratings close the matter, a bad share reopens it (重办)."""
    return await _service(request, session).rate(_ctx(request, principal), matter_id, data.score)


class DispatchIn(s.Model):
    department_code: str | None = None


@router.post("/{matter_id}/covenant-filing", response_model=s.MatterDetail)
async def file_covenant(matter_id: MatterID, data: s.CovenantFilingIn, request: Request, session: SessionDep,
                        principal: Caller) -> dict:
    """Records that a covenant the meeting passed was filed with the street office (居民公约报街道备案)."""
    service = _service(request, session)
    return await _detail(service, principal, await service.file_covenant(_ctx(request, principal), matter_id, data))


@router.post("/{matter_id}/workorders", status_code=201, response_model=s.WorkOrderRead)
async def dispatch(matter_id: MatterID, request: Request, session: SessionDep, principal: Caller,
                   data: DispatchIn | None = None):
    """Sends the matter as a work order to the department assigned to its community."""
    return await _service(request, session).dispatch(_ctx(request, principal), matter_id, data.department_code if data else None)

