"""Request and response models of the matters API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.matters.rules.routing import Category, Channel, Nature
from youmin.kit.errors import Instant, RequestBody, TrimmedBody

# Org codes: community 12 digits; below it a grid's serial (3 digits by default, MATTERS_GRID_SERIAL_WIDTH: 1 to 6),
# then building 3, unit 2, household 4. The service checks the exact lengths of its configured width.
UNIT_CODE = r"^[0-9]{12}([0-9]{1,15})?$"
PLACE_CODE = r"^[0-9]{9}([0-9]{3}([0-9]{1,15})?)?$"  # a street or anything below it
COMMUNITY_CODE = r"^[0-9]{12}$"

RaisedVia = Literal["app", "face_to_face", "department", "open311"]
Choice = Literal["for", "against", "abstain"]
Warning = Literal["none", "yellow", "red"]


# PostgreSQL refuses NUL in text: a request carrying one is bad input (422 naming the field), never a 500.
# Bounds of the database's integer columns and of cursors (bigint).
MAX_BIGINT = 2**63 - 1
MAX_CENTS = 10**15  # ¥10 trillion: far above any budget, far below bigint overflow when lines are summed


class Model(RequestBody):
    """Base of every request body (see RequestBody)."""


class MatterCreate(Model):
    """Raises a matter (民事民提)."""

    # A title or description of spaces alone is no text (422 naming it), not an empty one stored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    category: Category
    unit_code: str | None = Field(None, pattern=UNIT_CODE)
    nature: Nature = Nature.GENERAL
    key_project: bool = False
    major: bool = False
    raised_via: RaisedVia | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    address_string: str | None = Field(None, max_length=500)
    external_token: str | None = Field(None, min_length=1, max_length=100)


class StageRead(BaseModel):
    code: str
    title: str


class DuplicateRead(BaseModel):
    matter_id: UUID
    title: str
    score: float


class MatterRead(BaseModel):
    """A matter as its readers see it (no personal data of the proposer)."""

    matter_id: UUID
    community_code: str
    unit_code: str
    scope_level: str
    title: str
    description: str
    category: str
    category_label: str
    nature: str
    key_project: bool
    major: bool
    state: str
    status: Literal["open", "closed"]
    stage: StageRead | None
    template_code: str
    channel: str | None
    proposed_channel: str | None
    raised_via: str
    external_token: str | None
    merged_into_id: UUID | None
    mine: bool
    allowed_actions: list[str]
    created_at: datetime
    state_entered_at: datetime


class MatterCreated(MatterRead):
    duplicates: list[DuplicateRead]


class TransitionRead(BaseModel):
    from_state: str | None
    to_state: str
    action: str
    actor: str | None = Field(description="who acted (a person id, or system:...); shown to the staff covering the "
                              "matter, to the actor themself, and for system steps; null for other readers")
    reason: str | None
    reason_code: str | None
    details: dict
    at: datetime


class MatterDetail(MatterRead):
    timeline: list[TransitionRead]
    vote_ids: list[UUID]
    work_order_ids: list[UUID]


class MatterPage(BaseModel):
    items: list[MatterRead]
    total: int
    search_limited: bool = Field(False, description="true when a resident's search (q) looked through only the newest "
                                 "2,000 matching matters: narrow it (category, dates) to reach older ones")


# The codes a caller may give with a move, for the statistics of why matters end as they do.
ReasonCode = Literal[
    "duplicate",  # the same matter is raised already (merge, reject)
    "out_of_scope",  # not a matter for the community to decide (another authority's, or a private dispute)
    "insufficient_information",  # too little to act on; raise it again with more
    "unlawful",  # against the law or public order
    "already_resolved",  # settled before it was taken up
    "no_longer_needed",  # the proposer's reason to withdraw: the need has passed
    "resident_request",  # done at the residents' request (a withdrawal on their behalf, a re-routing they asked for)
    "rework",  # reopened for the work to be done again
    "other",
]


class TransitionRequest(Model):
    """Moves a matter: accept, reject (reason), merge (merge_into), route (channel; a different channel than
    proposed needs a reason), start_deliberation, start_decision, decide, fail_decision, cancel_decision (with no vote
    open: a vote is cancelled by POST /votes/{vote_id}/cancel), start_implementation, start_evaluation, close, reopen,
    withdraw (the proposer), place (unit_code: in triage, another unit, down to a building unit, which the caller
    covers as well as the matter's current unit)."""

    action: str = Field(min_length=1, max_length=50)
    reason: str | None = Field(None, max_length=2000)
    # One of a fixed list of codes, not words: it goes on the bus and every reader's timeline as it is, where anything
    # free (even lowercase letters and digits: a phone number, a name in pinyin) could carry personal data; the words go
    # in `reason`, which is masked.
    reason_code: ReasonCode | None = None
    merge_into: UUID | None = None
    channel: Channel | None = None
    unit_code: str | None = Field(None, pattern=PLACE_CODE)


class FlagsChange(Model):
    """Flags staff set on a matter after it is raised: a key project (重点项目), shown on the public board and counted
    in the key-project statistics; a major matter, decided by a vote under the template's stricter rule (until a vote
    on it opens). A flag left out is left as it is."""

    key_project: bool | None = None
    major: bool | None = None
    reason: str | None = Field(None, max_length=2000)


class MeetingRequestsRead(BaseModel):
    """The residents' requests for a residents' meeting on a matter: a fifth of the community's adults, or of its
    households, asking makes the meeting one that must be called (Urban Residents Committee Organization Law art. 14;
    residents' groups are not in the registry, and are not counted)."""

    matter_id: UUID
    adults_asking: int
    adults_total: int
    households_asking: int = Field(description="households of which an adult asked")
    households_total: int
    must_be_called: bool
    asked_by_you: bool
    rule_version: str


class RouteProposalRead(BaseModel):
    channel: str
    channel_label: str
    reason: str


class TokenStatus(BaseModel):
    matter_id: UUID
    external_token: str
    status: Literal["open", "closed"]


# --- votes -----------------------------------------------------------------------------------------


class VoteOpen(Model):
    """Opens a voting window; the electorate is frozen from the registry replica now."""

    secret: bool = False
    rule_version: str | None = Field(None, max_length=100)
    closes_at: Instant | None = None


class YourVote(BaseModel):
    """A vote the caller may cast: their own (household_code null) or a household's, as its representative or proxy."""

    household_code: str | None
    cast: bool


class VoteRead(BaseModel):
    yours: list[YourVote] = Field([], description="what the caller may cast in this vote, and whether it is cast")
    vote_id: UUID
    matter_id: UUID
    scope_code: str
    rule_version: str
    rule: dict
    secret: bool
    status: Literal["open", "closed", "cancelled"]
    base_size: int
    participated: int
    opens_at: datetime
    closes_at: datetime | None
    closed_at: datetime | None
    quorum_met: bool | None
    passed: bool | None
    present: int | None
    votes_for: int | None
    votes_against: int | None
    abstain: int | None


class BallotCast(Model):
    choice: Choice
    household_code: str | None = Field(None, pattern=r"^[1-9][0-9]{5,29}$")


class Receipt(BaseModel):
    vote_id: UUID
    receipt: str
    voter_key: str
    cast_at: datetime


class ReceiptCheck(BaseModel):
    """Whether the ballot of a receipt was counted; its choice only for an open ballot (a secret ballot's receipt
    proves that it counted, not how)."""

    vote_id: UUID
    vote_status: Literal["open", "closed", "cancelled"] = Field(
        description="open: counted when it closes; cancelled: the vote was called off and counted nothing")
    counted: bool
    choice: Choice | None


class OfflineTallyIn(Model):
    """Paper ballots of a meeting: the counts and the sign-in record (who attended) as evidence."""

    votes_for: int = Field(ge=0, le=100_000)
    votes_against: int = Field(ge=0, le=100_000)
    abstain: int = Field(ge=0, le=100_000)
    sign_in_ref: str = Field(min_length=1, max_length=200)
    # Each a person's id or a household's code.
    attendee_keys: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=100_000)
    # When the meeting was held (inside the vote's window); now if not given.
    held_at: Instant | None = None


class CovenantFilingIn(Model):
    """A covenant the meeting passed, filed with the street office (报街道备案)."""

    filed_on: date
    reference: str = Field(min_length=1, max_length=100, description="the street office's filing number")


class VoteClose(Model):
    """Closing a vote; the title the public sees for the decision (a generic one from its category if not given:
    a matter's own title is the resident's free text and may name people)."""

    public_title: str | None = Field(None, min_length=1, max_length=100)


class VoteCancel(Model):
    """Calling an open vote off, undecided (on the matter's timeline, masked for the residents who read it)."""

    reason: str = Field(min_length=1, max_length=2000, description="Why: a wrong window, rule or secrecy, ...")


class OfflineTallyRead(BaseModel):
    tally_id: UUID
    vote_id: UUID
    votes_for: int
    votes_against: int
    abstain: int
    attendee_count: int
    sign_in_ref: str
    entered_at: datetime


# --- templates ------------------------------------------------------------------------------------


class TemplateRead(BaseModel):
    code: str
    community: str
    name: str
    description: str
    default_rule: dict
    major_rule: dict | None
    stages: list[dict]


class TemplateChoice(Model):
    template_code: str = Field(min_length=1, max_length=100)


class CommunityTemplateRead(BaseModel):
    community_code: str
    template: TemplateRead
    chosen: bool


# --- implementation --------------------------------------------------------------------------------


class TaskCreate(Model):
    title: str = Field(min_length=1, max_length=200)
    responsible_kind: Literal["community", "department", "social_organisation"]
    responsible_code: str | None = Field(None, min_length=1, max_length=100)
    budget_cents: int = Field(ge=0, le=MAX_CENTS)
    due_on: date


class SpendingIn(Model):
    item: str = Field(min_length=1, max_length=200)
    amount_cents: int = Field(gt=0, le=MAX_CENTS)
    spent_on: date


class ProgressIn(Model):
    percent: int = Field(ge=0, le=100)
    note: str = Field(min_length=1, max_length=2000)


class SpendingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    item: str
    amount_cents: int
    spent_on: date
    recorded_at: datetime


class ProgressRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    percent: int
    note: str
    at: datetime


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    task_id: UUID
    matter_id: UUID
    title: str
    responsible_kind: str
    responsible_code: str
    budget_cents: int
    spent_cents: int
    percent: int
    due_at: datetime
    warning: Warning
    completed_at: datetime | None
    spending: list[SpendingRead] = []
    progress: list[ProgressRead] = []


class AssignedTaskRead(BaseModel):
    """An implementation task a department carries out, as listed for that department."""

    task_id: UUID = Field(description="The id its progress and spending are reported on")
    matter_id: UUID
    community_code: str = Field(description="The community of the task's matter")
    title: str
    percent: int = Field(ge=0, le=100)
    budget_cents: int
    spent_cents: int
    due_at: datetime
    warning: Warning
    completed_at: datetime | None = Field(description="When it first reached 100%; null while unfinished")
    created_at: datetime


class AssignedTaskPage(BaseModel):
    items: list[AssignedTaskRead]
    total: int = Field(description="How many tasks match, on every page")


# --- evaluation ------------------------------------------------------------------------------------


class RatingIn(Model):
    """1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意."""

    score: int = Field(ge=1, le=5)


class EvaluationRead(BaseModel):
    matter_id: UUID
    evaluation_round: int
    ratings: int
    bad: int
    bad_share: float
    outcome: Literal["wait", "close", "reopen"]
    state: str


# --- work orders -----------------------------------------------------------------------------------


class WorkOrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    work_order_id: UUID
    matter_id: UUID
    department_code: str
    community_code: str
    status: str
    dispatched_at: datetime
    due_at: datetime
    extensions_used: int
    extended_workdays: int
    warning: Warning
    signed_at: datetime | None
    answered_at: datetime | None
    answer: str | None
    returned_at: datetime | None
    return_reason: str | None


class WorkOrderChangeRead(BaseModel):
    cursor: str
    work_order_id: UUID
    matter_id: UUID
    department_code: str
    community_code: str
    action: str
    status: str
    due_at: datetime
    warning: Warning
    at: datetime
    title: str
    category: str


class WorkOrderFeed(BaseModel):
    items: list[WorkOrderChangeRead]
    next_cursor: str


class WorkOrderTextIn(TrimmedBody, Model):
    """A department's work-order action: an answer or reason of spaces alone is no text (422 naming it), not one
    that settles the order for good."""


class AnswerIn(WorkOrderTextIn):
    answer: str = Field(min_length=1, max_length=4000)


class ExtendIn(WorkOrderTextIn):
    workdays: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=2000)


class ReturnIn(WorkOrderTextIn):
    reason: str = Field(min_length=1, max_length=2000)


class DepartmentTaskIn(TrimmedBody, Model):
    """A department's task for a community: a title of spaces alone is no title (422 naming it)."""

    community_code: str = Field(pattern=COMMUNITY_CODE)
    catalogue_code: str | None = Field(None, max_length=20)
    title: str = Field(min_length=1, max_length=200)
    due_on: date | None = None


class DepartmentTaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    task_id: UUID
    department_code: str
    community_code: str
    catalogue_code: str | None
    title: str
    due_on: date | None
    admitted: bool
    reason: str
    submitted_at: datetime
