"""Voluntariness (自愿原则): the parties' consent to mediation and their say over the mediator.

People's Mediation Law arts. 3, 17, 23 and 26: mediation happens only with every party's consent, any
party may refuse or end it, and when it ends the parties are told the other routes open to them. The
parties may choose a mediator or refuse one (arts. 19-20).
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, Protocol, TypeVar


class ConsentDecision(StrEnum):
    """One party's answer to the offer of mediation."""

    PENDING = "pending"
    GIVEN = "given"
    REFUSED = "refused"


class ConsentState(StrEnum):
    """The consent of all parties taken together."""

    PENDING = "pending"
    GIVEN = "given"
    REFUSED = "refused"


@dataclass(frozen=True)
class PartyConsent:
    """A party's consent decision, with when it was made."""

    party_id: str
    decision: ConsentDecision = ConsentDecision.PENDING
    decided_at: datetime | None = None


def consent_state(parties: Sequence[PartyConsent]) -> ConsentState:
    """Returns refused if any party refused, given if all consented, pending otherwise."""
    if not parties:
        raise ValueError("parties: a case has at least one party")
    seen: set[str] = set()
    for party in parties:
        if party.party_id in seen:
            raise ValueError(f"parties: party {party.party_id} appears twice")
        seen.add(party.party_id)
    decisions = {ConsentDecision(p.decision) for p in parties}
    if ConsentDecision.REFUSED in decisions:
        return ConsentState.REFUSED
    if decisions == {ConsentDecision.GIVEN}:
        return ConsentState.GIVEN
    return ConsentState.PENDING


OTHER_ROUTES_NOTICE = (
    "人民调解遵循当事人自愿原则。当事人不同意调解或者要求终止调解的，调解即行终止。"
    "当事人可以依法通过以下途径维护自己的权益：向人民法院提起诉讼；依法申请仲裁；"
    "对行政机关的行政行为不服的，依法申请行政复议；依照《信访工作条例》通过信访渠道反映诉求；"
    "也可以请求有关行政机关依法处理。"
)


# After a breach, by the route the case takes: a lawsuit (People's Mediation Law art. 32), enforcement of a
# court-confirmed agreement (art. 33 ¶2), labour arbitration (Labour Dispute Mediation and Arbitration Law art. 15).
BREACH_NOTICES = {
    "litigation": "经人民调解委员会调解达成调解协议后，当事人之间就调解协议的履行或者调解协议的内容发生争议的，"
                  "一方当事人可以向人民法院提起诉讼。",
    "enforcement": "经人民法院依法确认有效的调解协议，一方当事人拒绝履行或者未全部履行的，"
                   "对方当事人可以向人民法院申请强制执行。",
    "arbitration": "达成调解协议后，一方当事人在协议约定期限内不履行调解协议的，另一方当事人可以依法申请仲裁。",
}


def breach_notice(route: str) -> str:
    """Returns the notice, recorded on a breach, that tells the parties where the case goes now (for another route,
    the notice of the routes open to them)."""
    return BREACH_NOTICES.get(route, OTHER_ROUTES_NOTICE)


def other_routes_notice() -> str:
    """Returns the notice, recorded on refusal, that tells the parties the other routes open to them."""
    return OTHER_ROUTES_NOTICE


class HasMediatorId(Protocol):
    """Anything that names a mediator."""

    @property
    def mediator_id(self) -> str: ...


M = TypeVar("M", bound=HasMediatorId)


@dataclass(frozen=True)
class MediatorPreferences(Generic[M]):
    """Candidates split by the parties' wishes; each keeps its order in the candidate list."""

    chosen: tuple[M, ...]
    others: tuple[M, ...]
    refused: tuple[M, ...]
    unavailable_chosen_ids: frozenset[str]


def apply_mediator_preferences(
    candidates: Sequence[M],
    chosen_ids: Collection[str],
    refused_ids: Collection[str],
) -> MediatorPreferences[M]:
    """Splits candidates into those the parties chose, the rest, and those a party refused."""
    chosen_set = frozenset(chosen_ids)
    refused_set = frozenset(refused_ids)
    chosen: list[M] = []
    others: list[M] = []
    refused: list[M] = []
    for candidate in candidates:
        # A mediator one party refused cannot be imposed on it, even if another party chose them.
        if candidate.mediator_id in refused_set:
            refused.append(candidate)
        elif candidate.mediator_id in chosen_set:
            chosen.append(candidate)
        else:
            others.append(candidate)
    present = {c.mediator_id for c in candidates}
    return MediatorPreferences(
        chosen=tuple(chosen),
        others=tuple(others),
        refused=tuple(refused),
        unavailable_chosen_ids=chosen_set - present,
    )
