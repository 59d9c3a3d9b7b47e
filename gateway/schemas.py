"""Request and response models of the gateway's own endpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from youmin.kit.errors import TrimmedBody
from youmin.kit.pii import PiiValidationError, validate_mobile


def _mobile(value: str) -> str:
    try:
        return validate_mobile(value)
    except PiiValidationError as exc:
        raise ValueError(str(exc)) from None


Mobile = Annotated[str, Field(min_length=11, max_length=20, examples=["13800138000"]), AfterValidator(_mobile)]


class Strict(BaseModel):
    """A request body: unknown fields and NUL characters (which PostgreSQL cannot store) are refused."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _no_nul(self) -> Strict:
        for name, value in self:
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{name}: must not contain NUL characters")
        return self


class LoginRequest(Strict):
    phone: Mobile
    password: str = Field(min_length=1, max_length=200)


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=20, max_length=200)


class OtpRequest(Strict):
    phone: Mobile


class OtpVerify(Strict):
    phone: Mobile
    code: str = Field(pattern=r"^[0-9]{4,8}$")


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    person_id: str


class OtpSent(BaseModel):
    sent: bool = True
    expires_in: int
    resend_after: int


class DepartmentKeyCreate(Strict):
    label: str | None = Field(default=None, max_length=100)


class ApiKeyRead(BaseModel):
    key_id: str
    department_code: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    replaced_by: str | None


class ApiKeyIssued(ApiKeyRead):
    api_key: str = Field(description="The key in clear; shown once, store it now.")


DepartmentCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


def _reachable_port(url: HttpUrl) -> HttpUrl:
    if url.port == 0:
        raise ValueError("port 0 reaches no server")
    return url


class SubscriptionCreate(Strict):
    url: Annotated[HttpUrl, AfterValidator(_reachable_port)]
    secret: str | None = Field(default=None, min_length=16, max_length=128,
                               description="Signing secret; generated when omitted")


class SubscriptionRead(BaseModel):
    id: UUID
    department_code: str
    url: str
    created_at: datetime
    active: bool
    consecutive_failures: int
    disabled_by: Literal["failures", "key_revoked", "district"] | None = Field(
        description="Why it is disabled: after failures, its key revoked, or held by district staff")
    disabled_reason: str | None
    key_id: str | None = Field(description="The API key that made it (its successor after a rotation)")


class SubscriptionHold(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why district staff hold the subscription")


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="The signing secret; shown once")


class DeliveryRead(BaseModel):
    id: UUID
    subscription_id: UUID
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]


class WorkOrderText(TrimmedBody):
    """A work-order action's body: an answer or reason of spaces alone is no text (422 naming it); an accepted one
    would settle the order for good."""


class AnswerBody(WorkOrderText):
    answer: str = Field(min_length=1, max_length=4000)


class ExtendBody(WorkOrderText):
    workdays: int = Field(ge=1, le=10)
    reason: str = Field(min_length=1, max_length=2000)


class ReturnBody(WorkOrderText):
    reason: str = Field(min_length=1, max_length=2000)


class TaskCreate(TrimmedBody):
    """An administrative task for a community; without a catalogue item admission control refuses it. A title of
    spaces alone is no title (422 naming it)."""

    community_code: str = Field(pattern=r"^[0-9]{12}$")
    catalogue_code: str | None = Field(default=None, min_length=1, max_length=20,
                                       description="The admission-catalogue item the task cites")
    title: str = Field(min_length=1, max_length=200)
    due_on: date | None = None


MAX_CENTS = 10**15  # as the matters service: far above any budget, far below bigint overflow when lines are summed


class TaskReportText(TrimmedBody):
    """A department's report on an implementation task it carries out: a note or item of spaces alone is no text (422
    naming it), trimmed otherwise, as a clerk's report is read by the residents."""


class TaskProgressBody(TaskReportText):
    percent: int = Field(ge=0, le=100, description="How far the task is done; 100 finishes it")
    note: str = Field(min_length=1, max_length=2000, description="What was done")


class TaskSpendingBody(TaskReportText):
    item: str = Field(min_length=1, max_length=200, description="What the money paid for")
    amount_cents: int = Field(gt=0, le=MAX_CENTS, description="The amount in fen (cents of a yuan)")
    spent_on: date = Field(description="The day it was spent: on or before today, not before the matter was raised")


class ImplementationTaskListed(BaseModel):
    """An implementation task the department carries out, as the matters service lists it."""

    task_id: UUID = Field(description="The id to report progress and spending on, under "
                                      "/liaison/v1/implementation-tasks/{task_id}/")
    matter_id: UUID
    community_code: str = Field(description="The community of the task's matter")
    title: str = Field(description="What the work is, as staff wrote it")
    percent: int = Field(ge=0, le=100, description="How far it is done, as last reported")
    budget_cents: int = Field(description="The budget in fen (cents of a yuan)")
    spent_cents: int = Field(description="The spending recorded so far, in fen")
    due_at: datetime
    warning: Literal["none", "yellow", "red"] = Field(description="The deadline warning: yellow one working day "
                                                                  "before it, red once it has passed; none when done")
    completed_at: datetime | None = Field(description="When it first reached 100%; null while unfinished")
    created_at: datetime


class ImplementationTaskPage(BaseModel):
    items: list[ImplementationTaskListed]
    total: int = Field(description="How many tasks match, on every page")
