"""Voluntariness: consent of all parties, the other-routes notice, and the parties' say over the mediator."""

from dataclasses import dataclass

import pytest

from services.mediation.rules.consent import (
    ConsentDecision,
    ConsentState,
    PartyConsent,
    apply_mediator_preferences,
    consent_state,
    other_routes_notice,
)
from services.mediation.rules.ladder import LEGAL_ROUTE_NAMES, LegalRoute

GIVEN = ConsentDecision.GIVEN
REFUSED = ConsentDecision.REFUSED
PENDING = ConsentDecision.PENDING


def parties(*decisions: ConsentDecision) -> list[PartyConsent]:
    return [PartyConsent(party_id=f"p{i}", decision=d) for i, d in enumerate(decisions)]


@pytest.mark.parametrize(
    ("decisions", "expected"),
    [
        ((GIVEN,), ConsentState.GIVEN),
        ((GIVEN, GIVEN), ConsentState.GIVEN),
        ((GIVEN, GIVEN, GIVEN), ConsentState.GIVEN),
        ((PENDING,), ConsentState.PENDING),
        ((GIVEN, PENDING), ConsentState.PENDING),
        ((PENDING, PENDING), ConsentState.PENDING),
        ((REFUSED,), ConsentState.REFUSED),
        ((GIVEN, REFUSED), ConsentState.REFUSED),
        ((PENDING, REFUSED), ConsentState.REFUSED),
        ((GIVEN, GIVEN, REFUSED), ConsentState.REFUSED),
    ],
)
def test_consent_state_combines_the_parties(decisions: tuple[ConsentDecision, ...], expected: ConsentState) -> None:
    assert consent_state(parties(*decisions)) is expected


def test_a_single_refusal_ends_consent_whatever_the_others_said() -> None:
    assert consent_state(parties(*([GIVEN] * 9), REFUSED)) == "refused"


def test_a_party_defaults_to_pending() -> None:
    assert consent_state([PartyConsent("a"), PartyConsent("b", GIVEN)]) is ConsentState.PENDING


def test_consent_state_needs_at_least_one_party() -> None:
    with pytest.raises(ValueError, match="parties"):
        consent_state([])


def test_consent_state_refuses_a_party_listed_twice() -> None:
    with pytest.raises(ValueError, match="p1"):
        consent_state([PartyConsent("p1", GIVEN), PartyConsent("p1", REFUSED)])


def test_other_routes_notice_names_every_legal_route() -> None:
    notice = other_routes_notice()
    for route, name in LEGAL_ROUTE_NAMES.items():
        if route is not LegalRoute.ENFORCEMENT:  # for a broken agreement the court confirmed only
            assert name in notice
    assert "人民法院" in notice
    assert "自愿" in notice


@dataclass(frozen=True)
class Candidate:
    mediator_id: str


CANDIDATES = [Candidate("m1"), Candidate("m2"), Candidate("m3"), Candidate("m4")]


def test_preferences_split_candidates_keeping_their_order() -> None:
    result = apply_mediator_preferences(CANDIDATES, chosen_ids=["m4", "m2"], refused_ids={"m3"})
    assert result.chosen == (Candidate("m2"), Candidate("m4"))
    assert result.others == (Candidate("m1"),)
    assert result.refused == (Candidate("m3"),)
    assert result.unavailable_chosen_ids == frozenset()


def test_a_refusal_outweighs_another_party_choosing_the_same_mediator() -> None:
    result = apply_mediator_preferences(CANDIDATES, chosen_ids={"m1"}, refused_ids={"m1"})
    assert result.chosen == ()
    assert result.refused == (Candidate("m1"),)


def test_chosen_mediators_not_among_the_candidates_are_reported() -> None:
    result = apply_mediator_preferences(CANDIDATES, chosen_ids={"m9", "m1"}, refused_ids=())
    assert result.chosen == (Candidate("m1"),)
    assert result.unavailable_chosen_ids == {"m9"}


def test_no_preferences_leave_every_candidate_among_the_others() -> None:
    result = apply_mediator_preferences(CANDIDATES, chosen_ids=(), refused_ids=())
    assert result.others == tuple(CANDIDATES)
    assert result.chosen == result.refused == ()
