"""The department-liaison integration under /liaison/v1: API keys, the work-order feed, actions, the tasks a department
pushes to communities (准入) and the implementation tasks it carries out, webhooks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from sqlalchemy import select, text, update

from gateway import apikeys, webhooks
from gateway.models import ApiKey, WebhookDelivery, WebhookSubscription
from gateway.proxy import relay, upstream
from gateway.schemas import (
    AnswerBody,
    ApiKeyIssued,
    ApiKeyRead,
    DeliveryPage,
    DeliveryRead,
    DepartmentKeyCreate,
    ExtendBody,
    ImplementationTaskPage,
    ReturnBody,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionHold,
    SubscriptionRead,
    TaskCreate,
    TaskProgressBody,
    TaskSpendingBody,
)
from youmin.kit.auth import CurrentPrincipal, Principal, mint_token
from youmin.kit.db import transaction
from youmin.kit.errors import Conflict, Forbidden, NotFound, RuleViolation, Unauthorized
from youmin.kit.service import SessionDep

router = APIRouter(prefix="/liaison/v1", tags=["liaison"])

api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="A department's API key")
ADMIN_ROLES = frozenset({"district_staff", "admin"})
DISTRICT_CODE_LENGTH = 6

PROBLEMS = {
    401: {"description": "Missing, invalid or revoked API key", "content": {"application/problem+json": {}}},
}
# What the matters service may answer besides, relayed as it answers.
_PROBLEM = {"content": {"application/problem+json": {}}}
UPSTREAM = {
    502: {"description": "The matters service is unavailable", **_PROBLEM},
    504: {"description": "The matters service did not answer in time", **_PROBLEM},
}
WORK_ORDER_PROBLEMS = PROBLEMS | UPSTREAM | {
    403: {"description": "The department may not do this", **_PROBLEM},
    404: {"description": "No such work order of the department's", **_PROBLEM},
    409: {"description": "The work order is not in a state that allows this (already signed, answered, extended...)",
          **_PROBLEM},
}
TASK_PROBLEMS = PROBLEMS | UPSTREAM | {
    403: {"description": "The department may not do this", **_PROBLEM},
    404: {"description": "No implementation task the department carries out", **_PROBLEM},
    409: {"description": "The task's matter has ended: its tasks take no more progress or spending", **_PROBLEM},
    422: {"description": "A field is invalid or a rule refuses it (the field and the rule are named)", **_PROBLEM},
}
# A department's webhook subscriptions: a few URLs of its own systems.
MAX_SUBSCRIPTIONS = 10


async def current_department(request: Request, key: Annotated[str | None, Depends(api_key_header)]) -> str:
    """Dependency: the department whose API key signs this request. The key is checked on a connection of its own,
    given back at once: most routes then wait on the matters service, and a burst of them holding the gateway's
    connections meanwhile would keep log-ins and every other department waiting."""
    if not key:
        raise Unauthorized("an X-Api-Key header with the department's API key is required")
    async with transaction(request.app.state.sessions) as session:
        row = await apikeys.live_key(session, key)
    if row is None:
        raise Unauthorized("the API key is invalid or revoked")
    request.state.department, request.state.key_id = row.department_code, row.key_id
    return row.department_code


Department = Annotated[str, Depends(current_department)]
WorkOrderID = Annotated[uuid.UUID, Path(description="The work order's id")]
TaskID = Annotated[uuid.UUID, Path(description="The id of a matter's implementation task the department carries out")]
DepartmentCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
KeyID = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]


def require_district_admin(principal: Principal) -> None:
    """Refuses anyone but district staff (or an admin) holding a grant at district level or above."""
    if principal.kind != "user" or not any(
        g.role in ADMIN_ROLES and len(g.scope) <= DISTRICT_CODE_LENGTH for g in principal.grants
    ):
        raise Forbidden("only district staff manage department API keys")


def department_headers(request: Request, department: str) -> dict[str, str]:
    """Mints the short-lived department token the matters service checks."""
    token = mint_token(request.app.state.settings, f"department:{department}", [], kind="department",
                       department=department, minutes=5)
    return {"authorization": f"Bearer {token}", "content-type": "application/json", "accept": "application/json"}


async def to_matters(request: Request, department: str, method: str, path: str, body: BaseModel | None = None,
                     params: list[tuple[str, str]] | None = None) -> Response:
    """Calls the matters service as the department and relays its answer."""
    content = body.model_dump_json().encode() if body is not None else None
    return relay(await upstream(request, "matters", method, path, headers=department_headers(request, department),
                                content=content, params=params))


class FeedPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class WorkOrderAction(BaseModel):
    model_config = {"extra": "allow"}


# ---- the feed and the actions ---------------------------------------------------------------

@router.get("/workorders", response_model=FeedPage, responses=PROBLEMS | UPSTREAM)
async def feed(request: Request, department: Department,
               after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="next_cursor of the previous page")] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
    """Lists the department's work orders and their changes after a cursor, in a stable order."""
    params = [("limit", str(limit))] + ([("after", str(after))] if after is not None else [])
    return await to_matters(request, department, "GET", "/api/v1/matters/workorders/feed", params=params)


@router.post("/workorders/{work_order_id}/sign", response_model=WorkOrderAction, responses=WORK_ORDER_PROBLEMS)
async def sign_for(work_order_id: WorkOrderID, request: Request, department: Department) -> Response:
    """Signs for a work order (签收)."""
    return await to_matters(request, department, "POST", f"/api/v1/matters/workorders/{work_order_id}/sign")


@router.post("/workorders/{work_order_id}/answer", response_model=WorkOrderAction, responses=WORK_ORDER_PROBLEMS)
async def answer(work_order_id: WorkOrderID, body: AnswerBody, request: Request, department: Department) -> Response:
    """Answers a work order (答复)."""
    return await to_matters(request, department, "POST", f"/api/v1/matters/workorders/{work_order_id}/answer", body)


@router.post("/workorders/{work_order_id}/extend", response_model=WorkOrderAction, responses=WORK_ORDER_PROBLEMS)
async def extend(work_order_id: WorkOrderID, body: ExtendBody, request: Request, department: Department) -> Response:
    """Asks for the one extension a work order may have (延期)."""
    return await to_matters(request, department, "POST", f"/api/v1/matters/workorders/{work_order_id}/extend", body)


@router.post("/workorders/{work_order_id}/return", response_model=WorkOrderAction, responses=WORK_ORDER_PROBLEMS)
async def send_back(work_order_id: WorkOrderID, body: ReturnBody, request: Request, department: Department) -> Response:
    """Sends a misrouted work order back (退回)."""
    return await to_matters(request, department, "POST", f"/api/v1/matters/workorders/{work_order_id}/return", body)


@router.post("/tasks", status_code=201, response_model=WorkOrderAction, responses=PROBLEMS | UPSTREAM)
async def submit_task(body: TaskCreate, request: Request, department: Department) -> Response:
    """Submits an administrative task to a community (准入); admission control may refuse it (422 with the reason).
    Not an implementation task: those the department carries out are under /liaison/v1/implementation-tasks."""
    return await to_matters(request, department, "POST", "/api/v1/matters/department-tasks", body)


# ---- the implementation tasks the department carries out (民事民办) ---------------------------------

class TaskReported(BaseModel):
    """The task as the matters service answers it, with all its progress updates and spending lines."""

    model_config = {"extra": "allow"}


@router.get("/implementation-tasks", response_model=ImplementationTaskPage, responses=PROBLEMS | UPSTREAM)
async def implementation_tasks(
    request: Request,
    department: Department,
    status: Annotated[Literal["open", "finished"] | None,
                      Query(description="open: not yet reported at 100%; finished: reported at 100%")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1, description="How many tasks to skip")] = 0,
) -> Response:
    """Lists the implementation tasks (民事民办) that staff gave the department to carry out, newest first, with their
    ids (to report progress and spending on), progress, budget, spending and deadline warning."""
    params = [("limit", str(limit)), ("offset", str(offset))] + ([("status", status)] if status else [])
    return await to_matters(request, department, "GET", "/api/v1/matters/tasks/assigned", params=params)


@router.post("/implementation-tasks/{task_id}/progress", response_model=TaskReported, responses=TASK_PROBLEMS)
async def report_task_progress(task_id: TaskID, body: TaskProgressBody, request: Request,
                               department: Department) -> Response:
    """Reports how far an implementation task the department carries out is done (民事民办), with a note; the task's
    deadline warning ends at 100%. Its id is listed by GET /liaison/v1/implementation-tasks."""
    return await to_matters(request, department, "POST", f"/api/v1/matters/tasks/{task_id}/progress", body)


@router.post("/implementation-tasks/{task_id}/spending", response_model=TaskReported, responses=TASK_PROBLEMS)
async def report_task_spending(task_id: TaskID, body: TaskSpendingBody, request: Request,
                               department: Department) -> Response:
    """Records a spending line against the budget of an implementation task the department carries out. Its id is
    listed by GET /liaison/v1/implementation-tasks."""
    return await to_matters(request, department, "POST", f"/api/v1/matters/tasks/{task_id}/spending", body)


# ---- the department's own key ---------------------------------------------------------------

@router.post("/keys/rotate", response_model=ApiKeyIssued, responses=PROBLEMS)
async def rotate_own_key(request: Request, session: SessionDep, department: Department,
                         key: Annotated[str | None, Depends(api_key_header)]) -> ApiKeyIssued:
    """Replaces the calling key with a new one; the old key stops working at once."""
    rotated = await apikeys.rotate_key(session, apikeys.key_id_of(key or "") or "")
    if rotated is None:
        raise Unauthorized("the API key is invalid or revoked")
    clear, row = rotated
    return ApiKeyIssued(api_key=clear, **_key(row).model_dump())


def _key(row: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(key_id=row.key_id, department_code=row.department_code, label=row.label,
                      created_at=row.created_at, revoked_at=row.revoked_at, replaced_by=row.replaced_by)


# ---- webhooks -------------------------------------------------------------------------------

def _subscription(row: WebhookSubscription) -> SubscriptionRead:
    return SubscriptionRead(id=row.id, department_code=row.department_code, url=row.url, created_at=row.created_at,
                            active=row.disabled_at is None, consecutive_failures=row.consecutive_failures,
                            disabled_by=row.disabled_by, disabled_reason=row.disabled_reason, key_id=row.key_id)


async def _own_subscription(session: SessionDep, department: str, subscription_id: uuid.UUID, *,
                            lock: bool = False) -> WebhookSubscription:
    row = await session.get(WebhookSubscription, subscription_id, with_for_update=lock)
    if row is None or row.department_code != department:
        raise NotFound(f"no webhook subscription {subscription_id}")
    return row


SubscriptionID = Annotated[uuid.UUID, Path()]


@router.post("/webhooks", status_code=201, response_model=SubscriptionCreated, responses=PROBLEMS)
async def subscribe(body: SubscriptionCreate, request: Request, session: SessionDep,
                    department: Department) -> SubscriptionCreated:
    """Subscribes a URL to the department's work-order changes; deliveries are signed with the secret."""
    settings = request.app.state.settings
    url = str(body.url)
    allow_private = settings.webhook_allow_private_urls or settings.environment != "production"
    if not await webhooks.url_allowed(url, allow_private):
        raise RuleViolation("webhook_public_url", "webhook URLs must point to a public address", field="url")
    # Two subscriptions of one department made at once count each other.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"webhooks:{department}"})
    await _calling_key_live(request, session, department)
    held = list(await session.scalars(select(WebhookSubscription.url).where(
        WebhookSubscription.department_code == department)))
    if url in held:
        raise Conflict("this URL is subscribed already", field="url")
    if len(held) >= MAX_SUBSCRIPTIONS:
        raise RuleViolation("webhook.too_many", f"url: a department has at most {MAX_SUBSCRIPTIONS} subscriptions; "
                            "delete one first", field="url")
    secret = body.secret or webhooks.new_secret()
    row = WebhookSubscription(id=uuid.uuid4(), department_code=department, url=url, secret=secret,
                              created_at=datetime.now(UTC), consecutive_failures=0, key_id=request.state.key_id)
    session.add(row)
    await session.flush()
    return SubscriptionCreated(secret=secret, **_subscription(row).model_dump())


class SubscriptionList(BaseModel):
    items: list[SubscriptionRead]


@router.get("/webhooks", response_model=SubscriptionList, responses=PROBLEMS)
async def subscriptions(session: SessionDep, department: Department) -> SubscriptionList:
    """Lists the department's webhook subscriptions."""
    rows = await session.scalars(select(WebhookSubscription).where(WebhookSubscription.department_code == department)
                                 .order_by(WebhookSubscription.created_at))
    return SubscriptionList(items=[_subscription(r) for r in rows])


@router.delete("/webhooks/{subscription_id}", status_code=204,
               responses=PROBLEMS | {404: {"description": "Not found"},
                                     409: {"description": "Held by district staff", **_PROBLEM}})
async def unsubscribe(subscription_id: SubscriptionID, session: SessionDep, department: Department) -> Response:
    """Deletes a subscription and its pending deliveries. One held by district staff stays until they enable it."""
    # Locked, so a hold placed meanwhile is seen (or waits for the delete). A held row is kept: it goes on blocking
    # its URL, or the department would delete it and subscribe the same URL afresh, out of the hold.
    row = await _own_subscription(session, department, subscription_id, lock=True)
    if row.disabled_by == "district":
        raise Conflict("district staff hold this subscription; it cannot be deleted until they enable it again "
                       f"({row.disabled_reason})")
    await session.delete(row)
    await session.flush()
    return Response(status_code=204)


@router.post("/webhooks/{subscription_id}/enable", response_model=SubscriptionRead,
             responses=PROBLEMS | {404: {"description": "Not found"},
                                   409: {"description": "Held by district staff", **_PROBLEM}})
async def enable(subscription_id: SubscriptionID, request: Request, session: SessionDep,
                 department: Department) -> SubscriptionRead:
    """Re-enables a subscription disabled after repeated failures, or because the key that made it was revoked (the
    calling key becomes its key); its pending deliveries resume at once (not after the backoff their last failures
    earned: the receiver is said to be fixed). One held by district staff stays disabled until they enable it."""
    key = await _calling_key_live(request, session, department)
    row = await _own_subscription(session, department, subscription_id, lock=True)
    if row.disabled_by == "district":
        raise Conflict("district staff disabled this subscription; ask them to enable it again")
    if row.key_id != key.key_id and not await _key_live(session, row.key_id):
        row.key_id = key.key_id  # the revoked key's subscription is the enabling key's from now on
    await _resume(request, session, row)
    return _subscription(row)


async def _calling_key_live(request: Request, session: SessionDep, department: str) -> ApiKey:
    """The calling key, read again once the department's keys are locked (as a revocation locks them, first of
    all): a revocation committed since the key was checked is seen here, and one that comes later waits for this
    transaction and then finds what it made or re-enabled."""
    await apikeys.lock_department_keys(session, department)
    key = await session.get(ApiKey, request.state.key_id, populate_existing=True)
    if key is None or key.revoked_at is not None:
        raise Unauthorized("the API key is invalid or revoked")
    return key


async def _key_live(session: SessionDep, key_id: str | None) -> bool:
    """Whether a key is live (its department's keys locked already)."""
    if key_id is None:
        return False
    key = await session.get(ApiKey, key_id, populate_existing=True)
    return key is not None and key.revoked_at is None


async def _resume(request: Request, session: SessionDep, row: WebhookSubscription) -> None:
    """Marks a subscription active again, its failures forgotten; its pending deliveries are due at once (not after
    the backoff their last failures earned: the receiver is said to be fixed), and the worker is woken."""
    row.disabled_at, row.disabled_by, row.disabled_reason, row.consecutive_failures = None, None, None, 0
    await session.execute(update(WebhookDelivery).where(
        WebhookDelivery.subscription_id == row.id, WebhookDelivery.status == "pending").values(
        next_attempt_at=request.app.state.clock.now()))
    await session.flush()
    request.app.state.webhook_wakeup.set()


@router.post("/webhooks/{subscription_id}/ping", status_code=202, response_model=DeliveryRead,
             responses=PROBLEMS | {404: {"description": "Not found"}})
async def ping(subscription_id: SubscriptionID, request: Request, session: SessionDep, department: Department) -> DeliveryRead:
    """Queues a signed test delivery to the subscription."""
    row = await _own_subscription(session, department, subscription_id)
    now = request.app.state.clock.now()
    event_id = uuid.uuid4().hex
    delivery = WebhookDelivery(id=uuid.uuid4(), subscription_id=row.id, event_id=event_id, event_type="gov.youmin.gateway.ping.v1",
                               payload={"id": event_id, "type": "gov.youmin.gateway.ping.v1", "time": now.isoformat(),
                                        "data": {"department_code": department}},
                               status="pending", attempts=0, next_attempt_at=now, created_at=now)
    session.add(delivery)
    await session.flush()
    request.app.state.webhook_wakeup.set()
    return DeliveryRead.model_validate(delivery, from_attributes=True)


@router.get("/webhooks/{subscription_id}/deliveries", response_model=DeliveryPage,
            responses=PROBLEMS | {404: {"description": "Not found"}})
async def deliveries(subscription_id: SubscriptionID, session: SessionDep, department: Department,
                     status: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> DeliveryPage:
    """The delivery log of a subscription, newest first."""
    await _own_subscription(session, department, subscription_id)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    rows = await session.scalars(query.order_by(WebhookDelivery.created_at.desc()).limit(limit))
    return DeliveryPage(items=[DeliveryRead.model_validate(r, from_attributes=True) for r in rows])


# ---- administration by district staff ------------------------------------------------------

class KeyList(BaseModel):
    items: list[ApiKeyRead]


ADMIN_PROBLEMS = {401: {"description": "No valid bearer token"}, 403: {"description": "Not district staff"}}


@router.post("/admin/departments/{department_code}/keys", status_code=201, response_model=ApiKeyIssued,
             responses=ADMIN_PROBLEMS)
async def issue_department_key(department_code: DepartmentCode, body: DepartmentKeyCreate, session: SessionDep,
                               principal: CurrentPrincipal) -> ApiKeyIssued:
    """Issues a new API key for a department (district staff only); the key is shown once."""
    require_district_admin(principal)
    clear, row = await apikeys.issue_key(session, department_code, body.label)
    return ApiKeyIssued(api_key=clear, **_key(row).model_dump())


@router.get("/admin/departments/{department_code}/keys", response_model=KeyList, responses=ADMIN_PROBLEMS)
async def department_keys(department_code: DepartmentCode, session: SessionDep, principal: CurrentPrincipal) -> KeyList:
    """Lists a department's keys without their secrets (district staff only)."""
    require_district_admin(principal)
    return KeyList(items=[_key(r) for r in await apikeys.list_keys(session, department_code)])


@router.post("/admin/keys/{key_id}/rotate", response_model=ApiKeyIssued, responses=ADMIN_PROBLEMS | {404: {"description": "Not found"}})
async def rotate_department_key(key_id: KeyID, session: SessionDep, principal: CurrentPrincipal) -> ApiKeyIssued:
    """Replaces a key with a new one for the same department (district staff only)."""
    require_district_admin(principal)
    rotated = await apikeys.rotate_key(session, key_id)
    if rotated is None:
        raise NotFound(f"no live API key {key_id}")
    clear, row = rotated
    return ApiKeyIssued(api_key=clear, **_key(row).model_dump())


@router.get("/admin/departments/{department_code}/webhooks", response_model=SubscriptionList,
            responses=ADMIN_PROBLEMS)
async def department_subscriptions(department_code: DepartmentCode, session: SessionDep,
                                   principal: CurrentPrincipal) -> SubscriptionList:
    """Lists a department's webhook subscriptions without their secrets (district staff only)."""
    require_district_admin(principal)
    rows = await session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.department_code == department_code).order_by(WebhookSubscription.created_at))
    return SubscriptionList(items=[_subscription(r) for r in rows])


@router.post("/admin/webhooks/{subscription_id}/disable", response_model=SubscriptionRead,
             responses=ADMIN_PROBLEMS | {404: {"description": "Not found"}})
async def hold_subscription(subscription_id: SubscriptionID, body: SubscriptionHold, session: SessionDep,
                            principal: CurrentPrincipal) -> SubscriptionRead:
    """Stops a subscription's deliveries until district staff enable it again; the department cannot (district
    staff only). Its changes wait, up to the delivery age limit, as for any disabled subscription."""
    require_district_admin(principal)
    row = await session.get(WebhookSubscription, subscription_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
    row.disabled_at = row.disabled_at or datetime.now(UTC)
    row.disabled_by, row.disabled_reason = "district", f"held by district staff: {body.reason}"
    await session.flush()
    return _subscription(row)


@router.post("/admin/webhooks/{subscription_id}/enable", response_model=SubscriptionRead,
             responses=ADMIN_PROBLEMS | {404: {"description": "Not found"},
                                         409: {"description": "The department has no live API key", **_PROBLEM}})
async def release_subscription(subscription_id: SubscriptionID, request: Request, session: SessionDep,
                               principal: CurrentPrincipal) -> SubscriptionRead:
    """Enables a disabled subscription again, whatever disabled it (district staff only); its pending deliveries
    resume at once. A department without a live API key keeps its subscriptions stopped: issue one first."""
    require_district_admin(principal)
    department = await session.scalar(select(WebhookSubscription.department_code).where(
        WebhookSubscription.id == subscription_id))
    if department is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
    await apikeys.lock_department_keys(session, department)  # first, as a revocation takes them
    row = await session.get(WebhookSubscription, subscription_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
    live = await session.scalar(select(ApiKey.key_id).where(
        ApiKey.department_code == row.department_code, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc()).limit(1))
    if live is None:
        raise Conflict(f"department {row.department_code} has no live API key; issue one first")
    if not await _key_live(session, row.key_id):
        row.key_id = live  # the subscription is the department's newest key's from now on
    await _resume(request, session, row)
    return _subscription(row)


@router.post("/admin/keys/{key_id}/revoke", response_model=ApiKeyRead, responses=ADMIN_PROBLEMS | {404: {"description": "Not found"}})
async def revoke_department_key(key_id: KeyID, session: SessionDep, principal: CurrentPrincipal) -> ApiKeyRead:
    """Revokes a key at once (district staff only)."""
    require_district_admin(principal)
    if not await apikeys.revoke_key(session, key_id):
        row = await session.get(ApiKey, key_id)
        replaced = f"; it was replaced by {row.replaced_by}, which is revoked by its own id" if row and row.replaced_by else ""
        raise NotFound(f"no live API key {key_id}{replaced}")
    row = await session.get(ApiKey, key_id)
    assert row is not None
    return _key(row)
