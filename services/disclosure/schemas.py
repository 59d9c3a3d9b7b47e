"""Request and response models of the disclosure service."""

from __future__ import annotations

import uuid

import re
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from services.disclosure.rules.cadence import MAX_YEAR, MIN_YEAR
from youmin.kit.errors import RequestBody
from youmin.kit.replica import UNIT_CODE_PATTERN

Kind = Literal["party", "residents", "finance"]
FundType = Literal["party_service", "community_work", "grid_service", "other"]
PostedCategory = Literal["minutes", "covenant", "notice"]
QuestionKind = Literal["question", "objection"]

MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
UNIT_CODE = re.compile(UNIT_CODE_PATTERN)


# The lengths of the district's codes: district 6, street 9, community 12, then a grid's serial
# (DISCLOSURE_GRID_SERIAL_WIDTH, as the registry's; set when the app is built), building 3, unit 2, household 4 more.
_LENGTHS: list[frozenset[int]] = []
_GRID_LENGTH: list[int] = []


def configure_grid_width(width: int) -> None:
    """Sets the grid serial width the codes this process reads follow."""
    _LENGTHS[:] = [frozenset({6, 9, 12, 12 + width, 15 + width, 17 + width, 21 + width})]
    _GRID_LENGTH[:] = [12 + width]


def public_place_code(code: str, grid_length: int | None = None) -> str:
    """Returns a place's code as the public is shown it: a grid's or a coarser one as it is, a building's, building
    unit's or household's cut to its grid's (a finer code locates homes). `grid_length` is the length of a grid's code;
    by default the one of the width this process was configured with."""
    return code[:grid_length or _GRID_LENGTH[0]]


configure_grid_width(3)


def check_unit_code(value: str) -> str:
    """Validates the shape of an org code (district and below), as the public API reads them."""
    if not UNIT_CODE.match(value) or len(value) not in _LENGTHS[0]:
        raise ValueError("must be an org unit code: a district's, street's, community's, grid's, building's, unit's "
                         "or household's (" + ", ".join(map(str, sorted(_LENGTHS[0]))) + " digits), not starting "
                         "with 0")
    return value


# A code as a path or query parameter: the pattern for the API's description, the level lengths checked after it.
UnitCodeShape = AfterValidator(check_unit_code)


class Strict(RequestBody):
    """Base of request bodies (see RequestBody); surrounding spaces are trimmed."""

    model_config = ConfigDict(str_strip_whitespace=True)


class ItemPost(Strict):
    """Staff post a meeting's minutes, a covenant or a notice."""

    unit_code: str
    kind: Kind
    category: PostedCategory
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20000)
    major: bool = False
    # Names of people mentioned (attendees, speakers): masked to the surname wherever the text repeats them.
    people: list[str] = Field(default_factory=list, max_length=500)
    held_on: date | None = None

    @field_validator("unit_code")
    @classmethod
    def _unit(cls, value: str) -> str:
        return check_unit_code(value)


# ¥10 trillion: far above any community fund, far below what sums of many lines could overflow.
MAX_CENTS = 10**15


class FinanceLine(Strict):
    """One line of a finance statement, amounts in cents. With the opening balance given, the line must add up:
    opening + income - expenditure = balance."""

    fund_type: FundType
    opening_balance_cents: int | None = Field(default=None, ge=-MAX_CENTS, le=MAX_CENTS)
    income_cents: int = Field(ge=0, le=MAX_CENTS)
    expenditure_cents: int = Field(ge=0, le=MAX_CENTS)
    balance_cents: int = Field(ge=-MAX_CENTS, le=MAX_CENTS)
    note: str | None = Field(default=None, max_length=500)



class FinanceStatementPost(Strict):
    """Staff post a month's finance statement."""

    unit_code: str
    period: str = Field(description="the month covered, YYYY-MM")
    title: str | None = Field(default=None, max_length=200)
    lines: list[FinanceLine] = Field(min_length=1, max_length=100)
    major: bool = False
    note: str | None = Field(default=None, max_length=5000)
    # Names of people the statement mentions (payees, beneficiaries): masked to the surname wherever a note repeats them.
    people: list[str] = Field(default_factory=list, max_length=500)
    # A correction names the statement of the same unit and month it replaces, which is withdrawn with it.
    supersedes: uuid.UUID | None = None

    @field_validator("unit_code")
    @classmethod
    def _unit(cls, value: str) -> str:
        return check_unit_code(value)

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        if not MONTH.match(value):
            raise ValueError("must be a month as YYYY-MM")
        # A typed year such as 0206 or 0000 would count the statement as disclosed in that year (and year 0 is no year
        # the database can give back): the years the cadence report reads.
        if not MIN_YEAR <= int(value[:4]) <= MAX_YEAR:
            raise ValueError(f"must be a month from {MIN_YEAR}-01 to {MAX_YEAR}-12")
        return value


class Withdrawal(Strict):
    """Staff take an item down."""

    reason: str = Field(min_length=1, max_length=500)
    # The item discloses someone's personal information: it comes down at once, display period or not (PIPL).
    personal_data: bool = False


class QuestionPost(Strict):
    """A resident questions or objects to an item."""

    kind: QuestionKind = "question"
    body: str = Field(min_length=1, max_length=2000)


class AnswerPost(Strict):
    """Staff answer a question."""

    body: str = Field(min_length=1, max_length=5000)


class QuestionRead(BaseModel):
    """A question as staff see it."""

    id: UUID
    item_id: UUID
    unit_code: str
    kind: str
    body: str
    asked_at: datetime
    answer_due_at: datetime
    answer: str | None
    answered_at: datetime | None
    overdue: bool


class ItemRead(BaseModel):
    """An item as staff see it (content already redacted)."""

    id: UUID
    unit_code: str
    community_code: str | None
    kind: str
    category: str
    title: str
    content: dict[str, Any]
    major: bool
    matter_id: UUID | None
    published_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None
    withdrawal_reason: str | None
    earliest_withdrawal_at: datetime
    objection_window_closes_at: datetime


class CadenceRow(BaseModel):
    """One overdue community of the compliance report."""

    community_code: str
    community_name: str | None
    overdue_kinds: list[str]
    last_posted: dict[str, datetime | None]


class CadenceReport(BaseModel):
    """Communities overdue per kind on a date."""

    as_of: date
    scope: str
    overdue: list[CadenceRow]
    compliant: list[str]
    overdue_by_kind: dict[str, list[str]]
    compliance_rate: float
    late_major_items: list[UUID]


class SweepResult(BaseModel):
    """What a supervision sweep flagged."""

    now: datetime
    flagged: list[UUID]

    @model_validator(mode="after")
    def _sorted(self) -> SweepResult:
        self.flagged.sort()
        return self
