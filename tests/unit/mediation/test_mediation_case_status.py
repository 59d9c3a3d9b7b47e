"""The mediation case state machine: every status against every action."""

import itertools

import pytest

from services.mediation.rules.confirmation import AgreementKind
from services.mediation.rules.ladder import (
    TERMINAL_STATUSES,
    Action,
    CaseStatus,
    InvalidTransition,
    Level,
    agreement_action,
    allowed_actions,
    transition,
)

S = CaseStatus
A = Action

# The whole table, written out by hand; every pair not listed must be refused.
EXPECTED: dict[tuple[CaseStatus, Action], CaseStatus] = {
    (S.INTAKE, A.REQUEST_CONSENT): S.CONSENT_PENDING,
    (S.INTAKE, A.GIVE_CONSENT): S.MEDIATING,
    (S.INTAKE, A.REFUSE_CONSENT): S.TERMINATED,
    (S.INTAKE, A.ESCALATE): S.INTAKE,
    (S.INTAKE, A.REFER): S.REFERRED,
    (S.CONSENT_PENDING, A.GIVE_CONSENT): S.MEDIATING,
    (S.CONSENT_PENDING, A.REFUSE_CONSENT): S.TERMINATED,
    (S.CONSENT_PENDING, A.ESCALATE): S.CONSENT_PENDING,
    (S.CONSENT_PENDING, A.REFER): S.REFERRED,
    (S.MEDIATING, A.RECORD_SESSION): S.MEDIATING,
    (S.MEDIATING, A.REACH_ORAL_AGREEMENT): S.AGREEMENT_REACHED,
    (S.MEDIATING, A.REACH_WRITTEN_AGREEMENT): S.CONFIRMATION_PENDING,
    (S.MEDIATING, A.REFUSE_CONSENT): S.TERMINATED,
    (S.MEDIATING, A.ESCALATE): S.MEDIATING,
    (S.MEDIATING, A.REFER): S.REFERRED,
    (S.AGREEMENT_REACHED, A.CLOSE): S.CLOSED,
    (S.AGREEMENT_REACHED, A.REPORT_BREACH): S.REOPENED_TO_LEGAL,
    (S.CONFIRMATION_PENDING, A.CONFIRM): S.CONFIRMED,
    (S.CONFIRMATION_PENDING, A.REFUSE_CONFIRMATION): S.CONFIRMATION_REFUSED,
    (S.CONFIRMATION_PENDING, A.CLOSE): S.CLOSED,
    (S.CONFIRMATION_PENDING, A.REPORT_BREACH): S.REOPENED_TO_LEGAL,
    (S.CONFIRMED, A.CLOSE): S.CLOSED,
    (S.CONFIRMED, A.REPORT_BREACH): S.REOPENED_TO_LEGAL,
    (S.CONFIRMATION_REFUSED, A.RECORD_SESSION): S.MEDIATING,
    (S.CONFIRMATION_REFUSED, A.REFUSE_CONSENT): S.TERMINATED,
    (S.CONFIRMATION_REFUSED, A.CLOSE): S.CLOSED,
    (S.CONFIRMATION_REFUSED, A.REFER): S.REFERRED,
    (S.CLOSED, A.REPORT_BREACH): S.REOPENED_TO_LEGAL,
}

ALLOWED_PAIRS = sorted(EXPECTED)
REFUSED_PAIRS = [pair for pair in itertools.product(CaseStatus, Action) if pair not in EXPECTED]


@pytest.mark.parametrize(("status", "action"), ALLOWED_PAIRS)
def test_allowed_transition_reaches_its_status(status: CaseStatus, action: Action) -> None:
    assert transition(status, action, level=Level.GRID) is EXPECTED[(status, action)]


@pytest.mark.parametrize(("status", "action"), REFUSED_PAIRS)
def test_action_outside_the_table_is_refused_with_the_allowed_actions(status: CaseStatus, action: Action) -> None:
    with pytest.raises(InvalidTransition) as raised:
        transition(status, action, level=Level.GRID)
    error = raised.value
    assert error.status is status
    assert error.action is action
    assert error.allowed == {a for (s, a) in EXPECTED if s is status}
    assert error.status_code == 409


@pytest.mark.parametrize("status", list(CaseStatus))
def test_allowed_actions_lists_exactly_the_table_row(status: CaseStatus) -> None:
    assert allowed_actions(status) == {a for (s, a) in EXPECTED if s is status}


def test_terminal_statuses_are_terminated_referred_and_reopened_to_legal() -> None:
    assert TERMINAL_STATUSES == {S.TERMINATED, S.REFERRED, S.REOPENED_TO_LEGAL}


@pytest.mark.parametrize("status", [S.INTAKE, S.CONSENT_PENDING, S.MEDIATING])
@pytest.mark.parametrize("level", [Level.GRID, Level.COMMUNITY, Level.STREET])
def test_escalate_keeps_the_status_below_the_district(status: CaseStatus, level: Level) -> None:
    assert transition(status, A.ESCALATE, level=level) is status


@pytest.mark.parametrize("status", [S.INTAKE, S.CONSENT_PENDING, S.MEDIATING])
def test_escalate_at_the_district_is_refused_and_refer_is_offered(status: CaseStatus) -> None:
    assert A.ESCALATE not in allowed_actions(status, Level.DISTRICT)
    with pytest.raises(InvalidTransition) as raised:
        transition(status, A.ESCALATE, level=Level.DISTRICT)
    assert A.REFER in raised.value.allowed
    assert A.ESCALATE not in raised.value.allowed
    assert transition(status, A.REFER, level=Level.DISTRICT) is S.REFERRED


def test_escalate_needs_the_case_level() -> None:
    with pytest.raises(ValueError, match="level"):
        transition(S.MEDIATING, A.ESCALATE)


def test_other_actions_need_no_level() -> None:
    assert transition(S.MEDIATING, A.RECORD_SESSION) is S.MEDIATING


def test_transition_accepts_plain_string_values() -> None:
    assert transition("consent_pending", "give_consent") is S.MEDIATING  # type: ignore[arg-type]


def test_unknown_action_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        transition(S.MEDIATING, "shout")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "action"),
    [(AgreementKind.WRITTEN, A.REACH_WRITTEN_AGREEMENT), (AgreementKind.ORAL, A.REACH_ORAL_AGREEMENT)],
)
def test_agreement_action_follows_the_agreement_kind(kind: AgreementKind, action: Action) -> None:
    assert agreement_action(kind) is action


def test_a_written_agreement_waits_for_confirmation_and_an_oral_one_does_not() -> None:
    written = transition(S.MEDIATING, agreement_action(AgreementKind.WRITTEN))
    oral = transition(S.MEDIATING, agreement_action(AgreementKind.ORAL))
    assert written is S.CONFIRMATION_PENDING
    assert oral is S.AGREEMENT_REACHED
    assert A.CONFIRM not in allowed_actions(oral)


def test_a_whole_case_runs_from_intake_to_a_broken_agreement() -> None:
    status = S.INTAKE
    for action in (
        A.REQUEST_CONSENT,
        A.GIVE_CONSENT,
        A.RECORD_SESSION,
        A.REACH_WRITTEN_AGREEMENT,
        A.CONFIRM,
        A.CLOSE,
        A.REPORT_BREACH,
    ):
        status = transition(status, action, level=Level.COMMUNITY)
    assert status is S.REOPENED_TO_LEGAL


def test_invalid_transition_message_names_status_action_and_allowed() -> None:
    with pytest.raises(InvalidTransition) as raised:
        transition(S.CLOSED, A.RECORD_SESSION)
    assert str(raised.value) == "cannot record_session a case that is closed; allowed: report_breach"
