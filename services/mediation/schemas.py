"""Request and response models of the mediation API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from services.mediation.rules.confirmation import AgreementKind
from services.mediation.rules.ladder import CaseStatus, Level, LegalRoute, WarningLevel
from services.mediation.rules.risk import RiskIndicator, RiskLevel
from services.mediation.rules.statistics import DisputeType
from youmin.kit.errors import RequestBody
from youmin.kit.pii import validate_id_number, validate_mobile

Code = Field(pattern=r"^[0-9]{6,27}$", description="an org unit code")


class _In(RequestBody):
    """Base of request bodies (see RequestBody)."""


class OutsidePersonIn(_In):
    """A party who is not in the registry; their personal data stays in this service."""

    full_name: str = Field(min_length=1, max_length=100)
    phone: str | None = None
    id_number: str | None = None
    address: str | None = Field(default=None, max_length=300)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return validate_mobile(value) if value is not None else None

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str | None) -> str | None:
        return validate_id_number(value) if value is not None else None


class PartyIn(_In):
    """A party: a registry person by id, or an outside person."""

    person_id: uuid.UUID | None = None
    outside: OutsidePersonIn | None = None
    role: Literal["applicant", "respondent", "other"] = "applicant"

    @model_validator(mode="after")
    def _one_identity(self) -> PartyIn:
        if (self.person_id is None) == (self.outside is None):
            raise ValueError("give exactly one of person_id or outside")
        return self


class CaseCreate(_In):
    """Takes a dispute in for mediation."""

    place_code: str = Code
    level: Level | None = None
    dispute_type: DisputeType
    description: str = Field(min_length=1, max_length=10_000)
    parties: list[PartyIn] = Field(min_length=2, max_length=50)
    risk_level: RiskLevel | None = None
    risk_indicators: list[RiskIndicator] = []
    chosen_mediator_ids: list[uuid.UUID] = []
    refused_mediator_ids: list[uuid.UUID] = []

    @field_validator("parties")
    @classmethod
    def _distinct(cls, parties: list[PartyIn]) -> list[PartyIn]:
        ids = [p.person_id for p in parties if p.person_id is not None]
        if len(ids) != len(set(ids)):
            raise ValueError("a person appears twice among the parties")
        return parties


class ConsentIn(_In):
    """One party's answer to the offer of mediation."""

    party_id: uuid.UUID
    decision: Literal["given", "refused"]


class MediatorChoiceIn(_In):
    """A party chooses or refuses a mediator."""

    party_id: uuid.UUID
    mediator_person_id: uuid.UUID
    choice: Literal["chosen", "refused"]


class SessionIn(_In):
    """A mediation session to record."""

    held_on: date
    attendee_party_ids: list[uuid.UUID] = Field(min_length=1)
    summary: str = Field(min_length=1, max_length=20_000)


class AgreementIn(_In):
    """An agreement reached, with who signed it (written) or assented to it before the mediator (oral): every party
    and the mediator."""

    kind: AgreementKind
    terms: str = Field(min_length=1, max_length=20_000)
    signed_party_ids: list[uuid.UUID] = []
    mediator_signed: bool = False
    # The day a written agreement was signed, when it is entered later (a paper agreement): the 30 days for judicial
    # confirmation run from it. Today when not given.
    signed_on: date | None = None


class EscalateIn(_In):
    """Staff hand a case up before its time runs out."""

    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")
    to_level: Level | None = None
    # The level the caller saw the case at: a case the sweep (or someone else) has handed up meanwhile is not handed up
    # once more by a request meant for its earlier level (409 instead).
    from_level: Level | None = None


class ReferIn(_In):
    """A case goes to a legal route."""

    route: LegalRoute
    reason: str | None = Field(default=None, max_length=2000)


class BreachIn(_In):
    """A party broke the agreement; the case goes to a legal route."""

    party_id: uuid.UUID
    # Unnamed: enforcement for an agreement the court confirmed, arbitration for a labour dispute, else litigation.
    route: LegalRoute | None = None
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class ConfirmationApplicationIn(_In):
    """The parties jointly applied to the court for judicial confirmation (People's Mediation Law art. 33): every party
    of the case is named as an applicant."""

    applied_on: date
    applicant_party_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)


class ConfirmationOutcomeIn(_In):
    """The court's decision on a confirmation application."""

    outcome: Literal["confirmed", "refused"]


class RiskIn(_In):
    """A new risk assessment of a case."""

    risk_level: RiskLevel | None = None
    risk_indicators: list[RiskIndicator] = []


class OutsidePersonRead(BaseModel):
    full_name: str
    phone: str | None
    id_number: str | None
    address: str | None


class PartyRead(BaseModel):
    party_id: uuid.UUID
    person_id: uuid.UUID | None
    household_code: str | None
    outside: OutsidePersonRead | None
    role: str
    consent: str
    consent_at: datetime | None


class SessionRead(BaseModel):
    id: uuid.UUID
    level: Level
    held_on: date
    attendee_party_ids: list[str]
    mediator_person_ids: list[str]
    summary: str
    recorded_at: datetime


class AgreementRead(BaseModel):
    id: uuid.UUID
    kind: AgreementKind
    terms: str
    level: Level
    mediator_person_id: uuid.UUID
    reached_at: datetime
    signer_ids: list[str]


class HistoryRead(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    from_level: str | None
    to_level: str
    automatic: bool
    reason: str | None
    actor: str | None
    at: datetime


class NoticeRead(BaseModel):
    kind: str
    body: str
    due_on: date | None
    at: datetime


class WarningRead(BaseModel):
    level: Level
    warning: WarningLevel
    deadline_at: datetime
    at: datetime


class ConfirmationRead(BaseModel):
    last_day: date | None
    reminded_at: datetime | None
    applied_on: date | None
    outcome: str | None


class CaseSummary(BaseModel):
    """A case as listed to those who may see it: no parties, no description."""

    id: uuid.UUID
    place_code: str
    level: Level
    status: CaseStatus
    dispute_type: DisputeType
    opened_at: datetime
    deadline_at: datetime | None
    warning: WarningLevel
    police_flagged: bool | None = Field(description="null for a party: the risk assessment stays with the staff")
    mediator_person_id: uuid.UUID | None


class PartyLine(BaseModel):
    """A party as the other parties see it: their part and their answer, no personal data."""

    party_id: uuid.UUID
    role: str
    consent: str
    consent_at: datetime | None
    you: bool


class PartyHistoryRead(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    from_level: str | None
    to_level: str
    at: datetime


class CaseProgress(CaseSummary):
    """Where a case stands, as both its file and its parties' view tell it."""

    description: str
    level_entered_at: datetime
    escalations: int
    resolved_at: datetime | None
    resolved_level: Level | None
    referred_route: LegalRoute | None
    termination_reason: str | None
    confirmation: ConfirmationRead
    allowed_actions: list[str]
    agreements: list[AgreementRead]
    notices: list[NoticeRead]


class CaseForParty(CaseProgress):
    """A case as one of its parties follows it: where it stands and its deadline, each party's answer, the agreement
    they sign and the notices given to them; nobody's personal data, no record of the sessions."""

    parties: list[PartyLine]
    history: list[PartyHistoryRead]


class CaseRead(CaseProgress):
    """The whole file of a case, for its mediator and supervisors only."""

    risk_level: RiskLevel | None
    risk_indicators: list[str]
    police_flag_reasons: list[str]
    chosen_mediator_ids: list[str]
    refused_mediator_ids: list[str]
    parties: list[PartyRead]
    sessions: list[SessionRead]
    history: list[HistoryRead]
    warnings: list[WarningRead]


class AssignmentRead(BaseModel):
    case_id: uuid.UUID
    mediator_person_id: uuid.UUID
    level: Level
    by_party_choice: bool
    excluded: dict[str, str]


class FiguresRead(BaseModel):
    opened: int
    resolved: int
    resolved_by_level: dict[str, int]
    resolution_rate: float | None
    median_days_to_resolve: float | None
    escalations: int
    referrals: int
    terminated: int


class StatisticsRead(BaseModel):
    """Aggregates only: no case, no party, no place below the scope."""

    scope: str
    period_start: datetime
    period_end: datetime
    current: FiguresRead
    by_type: dict[str, FiguresRead]
    previous: FiguresRead
    previous_by_type: dict[str, FiguresRead]
    change: FiguresRead
    change_by_type: dict[str, FiguresRead]
