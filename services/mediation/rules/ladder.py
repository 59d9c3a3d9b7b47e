"""The four-level people's mediation ladder (人民调解) and the case state machine.

A dispute is mediated first in its grid, then, if that fails or runs out of time, by the community, the
street and the district; after the district it is referred to the legal route. A case never goes back
down the ladder. Per-level time limits are configuration; the defaults add up to the month that practice
allows for the whole ladder.

Warnings for one level, with `deadline = entered_at + time limit of the level` (calendar days, exact
instants, not end of day):

    none     now <  deadline - yellow_lead_days
    yellow   deadline - yellow_lead_days  <= now < deadline - red_lead_hours
    red      deadline - red_lead_hours    <= now < deadline      (default: the final 24 hours)
    overdue  deadline <= now
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

from services.mediation.rules.confirmation import AgreementKind


class Level(StrEnum):
    """A rung of the mediation ladder, from the grid up to the district."""

    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"

    @property
    def rank(self) -> int:
        """Returns the position on the ladder, 0 for the grid."""
        return LADDER.index(self)


LADDER: tuple[Level, ...] = (Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT)

LEVEL_NAMES: Mapping[Level, str] = MappingProxyType(
    {Level.GRID: "网格", Level.COMMUNITY: "社区", Level.STREET: "街道", Level.DISTRICT: "区"}
)


class LegalRoute(StrEnum):
    """A legal route a dispute is referred to once mediation ends without agreement."""

    LITIGATION = "litigation"
    ARBITRATION = "arbitration"
    ADMINISTRATIVE_RECONSIDERATION = "administrative_reconsideration"
    PETITION = "petition"
    # A court-confirmed agreement that a party does not carry out is enforced by the court on the other party's
    # application (People's Mediation Law art. 33 ¶2): no new lawsuit.
    ENFORCEMENT = "enforcement"


LEGAL_ROUTE_NAMES: Mapping[LegalRoute, str] = MappingProxyType(
    {
        LegalRoute.LITIGATION: "诉讼",
        LegalRoute.ARBITRATION: "仲裁",
        LegalRoute.ADMINISTRATIVE_RECONSIDERATION: "行政复议",
        LegalRoute.PETITION: "信访",
        LegalRoute.ENFORCEMENT: "申请强制执行",
    }
)

# The route a dispute of a type takes first: a labour dispute goes to labour arbitration before any court (Labour
# Dispute Mediation and Arbitration Law arts. 5 and 50).
FIRST_ROUTE: Mapping[str, LegalRoute] = MappingProxyType({"labour": LegalRoute.ARBITRATION})


def route_refusal(dispute_type: str, route: LegalRoute, *, confirmed: bool) -> str | None:
    """Why a case cannot go to a route (None when it can): a broken court-confirmed agreement is enforced, nothing
    else is; a labour dispute is arbitrated before it goes to court."""
    if confirmed and route is not LegalRoute.ENFORCEMENT:
        return ("route: the court confirmed this agreement; a party that does not carry it out is made to by the court "
                "on the other party's application for enforcement (People's Mediation Law art. 33): enforcement")
    if not confirmed and route is LegalRoute.ENFORCEMENT:
        return "route: only an agreement the court confirmed is enforced by it; this one is not"
    if route is LegalRoute.LITIGATION and FIRST_ROUTE.get(dispute_type) is LegalRoute.ARBITRATION:
        return ("route: a labour dispute goes to labour arbitration before a court (Labour Dispute Mediation and "
                "Arbitration Law art. 5): arbitration")
    return None


def route_for(dispute_type: str, *, confirmed: bool, default: LegalRoute) -> LegalRoute:
    """The route a case takes when none is named: enforcement for a broken confirmed agreement, else the first route
    of its dispute type, else `default`."""
    if confirmed:
        return LegalRoute.ENFORCEMENT
    return FIRST_ROUTE.get(dispute_type, default)


class WarningLevel(StrEnum):
    """How close a case is to its level's time limit."""

    NONE = "none"
    YELLOW = "yellow"
    RED = "red"
    OVERDUE = "overdue"


class LadderRuleError(Exception):
    """A ladder rule refuses a move; `rule` names the rule for the problem response."""

    status_code: ClassVar[int] = 422

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


DEFAULT_TIME_LIMIT_DAYS: Mapping[Level, int] = MappingProxyType(
    {Level.GRID: 5, Level.COMMUNITY: 7, Level.STREET: 10, Level.DISTRICT: 8}
)
# Practice allows about a month for the whole ladder; a total past a quarter is a typo, not a policy.
MAX_TOTAL_DAYS = 90


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}: must be a whole number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{key}: must be positive, got {value}")
    return value


@dataclass(frozen=True)
class LadderConfig:
    """Time limits per level and how early the yellow and red warnings come."""

    time_limit_days: Mapping[Level, int] = field(default_factory=lambda: dict(DEFAULT_TIME_LIMIT_DAYS))
    yellow_lead_days: int = 2
    red_lead_hours: int = 24

    def __post_init__(self) -> None:
        limits: dict[Level, int] = {}
        for key, days in self.time_limit_days.items():
            try:
                level = Level(key)
            except ValueError:
                raise ValueError(f"time_limit_days.{key}: unknown level") from None
            limits[level] = _positive_int(f"time_limit_days.{level}", days)
        for level in LADDER:
            if level not in limits:
                raise ValueError(f"time_limit_days.{level}: missing")
        total = sum(limits.values())
        if total > MAX_TOTAL_DAYS:
            raise ValueError(f"time_limit_days: total {total} days exceeds {MAX_TOTAL_DAYS}")
        _positive_int("yellow_lead_days", self.yellow_lead_days)
        _positive_int("red_lead_hours", self.red_lead_hours)
        if self.red_lead_hours >= self.yellow_lead_days * 24:
            raise ValueError("red_lead_hours: must be shorter than yellow_lead_days, or yellow never shows")
        object.__setattr__(self, "time_limit_days", MappingProxyType(limits))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "LadderConfig":
        """Builds a config from plain settings data; absent keys keep their defaults."""
        if not isinstance(data, Mapping):
            raise ValueError(f"ladder config: must be a mapping, got {type(data).__name__}")
        known = {"time_limit_days", "yellow_lead_days", "red_lead_hours"}
        for key in data:
            if key not in known:
                raise ValueError(f"{key}: unknown setting")
        limits_in = data.get("time_limit_days", {})
        if not isinstance(limits_in, Mapping):
            raise ValueError("time_limit_days: must be a mapping of level to days")
        limits: dict[Any, Any] = dict(DEFAULT_TIME_LIMIT_DAYS)
        limits.update(limits_in)
        kwargs: dict[str, Any] = {"time_limit_days": limits}
        for key in ("yellow_lead_days", "red_lead_hours"):
            if key in data:
                kwargs[key] = data[key]
        return cls(**kwargs)

    def days_for(self, level: Level) -> int:
        """Returns the time limit of a level in calendar days."""
        return self.time_limit_days[Level(level)]

    @property
    def total_days(self) -> int:
        """Returns the time the whole ladder allows, in calendar days."""
        return sum(self.time_limit_days.values())


DEFAULT_CONFIG = LadderConfig()


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def next_level(level: Level) -> Level | None:
    """Returns the level above, or None at the district, where only referral remains."""
    rank = Level(level).rank
    return LADDER[rank + 1] if rank + 1 < len(LADDER) else None


def level_deadline(entered_at: datetime, level: Level, config: LadderConfig = DEFAULT_CONFIG) -> datetime:
    """Returns the instant the case's time at this level runs out."""
    _require_aware("entered_at", entered_at)
    return entered_at + timedelta(days=config.days_for(level))


def warning(
    entered_at: datetime, level: Level, now: datetime, config: LadderConfig = DEFAULT_CONFIG
) -> WarningLevel:
    """Returns the warning a case at this level carries at `now`."""
    _require_aware("now", now)
    deadline = level_deadline(entered_at, level, config)
    if now >= deadline:
        return WarningLevel.OVERDUE
    if now >= deadline - timedelta(hours=config.red_lead_hours):
        return WarningLevel.RED
    if now >= deadline - timedelta(days=config.yellow_lead_days):
        return WarningLevel.YELLOW
    return WarningLevel.NONE


def escalate(
    current_level: Level,
    target_level: Level | None = None,
    *,
    by_staff: bool = False,
    reason: str | None = None,
) -> Level:
    """Returns the level a case moves up to; skipping levels needs a staff member and a reason."""
    current = Level(current_level)
    above = next_level(current)
    if target_level is None:
        if above is None:
            raise LadderRuleError(
                "mediation.ladder_exhausted", "the district is the top of the ladder; refer the case"
            )
        return above
    target = Level(target_level)
    if target.rank <= current.rank:
        raise LadderRuleError(
            "mediation.no_downward", f"a case at {current} cannot move to {target}; it never goes back down"
        )
    # A dispute that is plainly beyond a level (many households, a death threat) may go straight up,
    # but only on a staff decision that is written down.
    if target is not above and not (by_staff and reason and reason.strip()):
        raise LadderRuleError(
            "mediation.skip_requires_staff_reason",
            f"moving from {current} to {target} skips a level; only staff may do so, with a reason",
        )
    return target


class CaseStatus(StrEnum):
    """Where a mediation case stands."""

    INTAKE = "intake"
    CONSENT_PENDING = "consent_pending"
    MEDIATING = "mediating"
    AGREEMENT_REACHED = "agreement_reached"  # oral agreement, in effect, no confirmation
    CONFIRMATION_PENDING = "confirmation_pending"  # written agreement, 30-day confirmation window
    CONFIRMED = "confirmed"
    CONFIRMATION_REFUSED = "confirmation_refused"
    CLOSED = "closed"
    TERMINATED = "terminated"  # a party refused; the parties were told the other routes
    REFERRED = "referred"  # handed to a legal route
    REOPENED_TO_LEGAL = "reopened_to_legal"  # an agreement was broken; the legal route takes over


class Action(StrEnum):
    """Something that happens to a mediation case."""

    REQUEST_CONSENT = "request_consent"  # the parties are asked whether they accept mediation
    GIVE_CONSENT = "give_consent"  # every party has consented
    REFUSE_CONSENT = "refuse_consent"  # a party refuses or withdraws; mediation ends
    RECORD_SESSION = "record_session"
    REACH_ORAL_AGREEMENT = "reach_oral_agreement"
    REACH_WRITTEN_AGREEMENT = "reach_written_agreement"
    CONFIRM = "confirm"  # the court confirmed the agreement
    REFUSE_CONFIRMATION = "refuse_confirmation"  # the court refused to confirm it
    CLOSE = "close"
    ESCALATE = "escalate"
    REFER = "refer"
    REPORT_BREACH = "report_breach"


_S = CaseStatus
_A = Action
_TRANSITIONS: Mapping[CaseStatus, Mapping[Action, CaseStatus]] = {
    _S.INTAKE: {
        _A.REQUEST_CONSENT: _S.CONSENT_PENDING,
        _A.GIVE_CONSENT: _S.MEDIATING,  # all parties at the desk and willing
        _A.REFUSE_CONSENT: _S.TERMINATED,
        _A.ESCALATE: _S.INTAKE,
        _A.REFER: _S.REFERRED,  # not a matter for mediation at all
    },
    _S.CONSENT_PENDING: {
        _A.GIVE_CONSENT: _S.MEDIATING,
        _A.REFUSE_CONSENT: _S.TERMINATED,
        _A.ESCALATE: _S.CONSENT_PENDING,
        _A.REFER: _S.REFERRED,
    },
    _S.MEDIATING: {
        _A.RECORD_SESSION: _S.MEDIATING,
        _A.REACH_ORAL_AGREEMENT: _S.AGREEMENT_REACHED,
        _A.REACH_WRITTEN_AGREEMENT: _S.CONFIRMATION_PENDING,
        _A.REFUSE_CONSENT: _S.TERMINATED,
        _A.ESCALATE: _S.MEDIATING,
        _A.REFER: _S.REFERRED,
    },
    _S.AGREEMENT_REACHED: {
        _A.CLOSE: _S.CLOSED,
        _A.REPORT_BREACH: _S.REOPENED_TO_LEGAL,
    },
    _S.CONFIRMATION_PENDING: {
        _A.CONFIRM: _S.CONFIRMED,
        _A.REFUSE_CONFIRMATION: _S.CONFIRMATION_REFUSED,
        _A.CLOSE: _S.CLOSED,  # the window passed without an application; the agreement still binds
        _A.REPORT_BREACH: _S.REOPENED_TO_LEGAL,
    },
    _S.CONFIRMED: {
        _A.CLOSE: _S.CLOSED,
        _A.REPORT_BREACH: _S.REOPENED_TO_LEGAL,
    },
    # After a refusal the parties may change the agreement by mediating again, or go to court; mediating again is
    # voluntary too, and a party who says no ends it.
    _S.CONFIRMATION_REFUSED: {
        _A.RECORD_SESSION: _S.MEDIATING,
        _A.REFUSE_CONSENT: _S.TERMINATED,
        _A.CLOSE: _S.CLOSED,
        _A.REFER: _S.REFERRED,
    },
    # Every closed case holds an agreement, and a broken agreement is a matter for the courts.
    _S.CLOSED: {
        _A.REPORT_BREACH: _S.REOPENED_TO_LEGAL,
    },
    _S.TERMINATED: {},
    _S.REFERRED: {},
    _S.REOPENED_TO_LEGAL: {},
}
del _S, _A

TERMINAL_STATUSES: frozenset[CaseStatus] = frozenset(s for s, moves in _TRANSITIONS.items() if not moves)


class InvalidTransition(Exception):
    """An action is not allowed in the case's current status."""

    status_code: ClassVar[int] = 409

    def __init__(self, status: CaseStatus, action: Action, allowed: frozenset[Action]) -> None:
        listed = ", ".join(sorted(allowed)) or "nothing"
        super().__init__(f"cannot {action} a case that is {status}; allowed: {listed}")
        self.status = status
        self.action = action
        self.allowed = allowed


def agreement_action(kind: AgreementKind) -> Action:
    """Returns the action that records an agreement of this kind."""
    if AgreementKind(kind) is AgreementKind.WRITTEN:
        return Action.REACH_WRITTEN_AGREEMENT
    return Action.REACH_ORAL_AGREEMENT


def allowed_actions(status: CaseStatus, level: Level | None = None) -> frozenset[Action]:
    """Returns the actions allowed in a status; with `level` given, escalate is dropped at the district."""
    allowed = set(_TRANSITIONS[CaseStatus(status)])
    if level is not None and next_level(Level(level)) is None:
        allowed.discard(Action.ESCALATE)
    return frozenset(allowed)


def transition(status: CaseStatus, action: Action, *, level: Level | None = None) -> CaseStatus:
    """Returns the status a case reaches by `action`; escalating needs the case's current level."""
    current = CaseStatus(status)
    act = Action(action)
    if act is Action.ESCALATE and level is None:
        raise ValueError("level: required to escalate, since the district cannot escalate")
    allowed = allowed_actions(current, level)
    if act not in allowed:
        raise InvalidTransition(current, act, allowed)
    return _TRANSITIONS[current][act]
