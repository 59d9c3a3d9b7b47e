import itertools

import pytest

from services.matters.rules.lifecycle import (
    TERMINAL_STATES,
    TRANSITIONS,
    Action,
    ActionRefused,
    InvalidTransition,
    State,
    allowed_actions,
    transition,
)

# The specification, written out independently of the module's table.
EXPECTED = {
    ("raised", "accept"): "accepted",
    ("raised", "reject"): "rejected",
    ("raised", "merge"): "merged",
    ("raised", "withdraw"): "withdrawn",
    ("raised", "place"): "raised",
    ("accepted", "route"): "routed",
    ("accepted", "merge"): "merged",
    ("accepted", "withdraw"): "withdrawn",
    ("accepted", "place"): "accepted",
    ("routed", "route"): "routed",
    ("routed", "start_deliberation"): "deliberating",
    ("routed", "start_decision"): "deciding",
    ("routed", "withdraw"): "withdrawn",
    ("deliberating", "start_decision"): "deciding",
    ("deliberating", "withdraw"): "withdrawn",
    ("deciding", "decide"): "decided",
    ("deciding", "fail_decision"): "not_passed",
    ("deciding", "cancel_decision"): "routed",
    ("deciding", "withdraw"): "withdrawn",
    ("decided", "start_implementation"): "implementing",
    ("not_passed", "route"): "routed",
    ("not_passed", "close"): "closed",
    ("implementing", "start_evaluation"): "evaluating",
    ("evaluating", "close"): "closed",
    ("evaluating", "reopen"): "reopened",
    ("reopened", "start_implementation"): "implementing",
}

# What each action needs to be carried out at all.
CONTEXT = {"reason": "重复提交", "merge_target_id": "m-42", "by_proposer": True}

PRODUCT = list(itertools.product([s.value for s in State], [a.value for a in Action]))
ALLOWED = [pair for pair in PRODUCT if pair in EXPECTED]
REFUSED = [pair for pair in PRODUCT if pair not in EXPECTED]


def test_state_and_action_names_are_the_agreed_vocabulary():
    assert {s.value for s in State} == {
        "raised", "accepted", "rejected", "merged", "routed", "deliberating", "deciding", "decided",
        "implementing", "evaluating", "closed", "reopened", "withdrawn", "not_passed",
    }  # fmt: skip
    assert {a.value for a in Action} == {
        "accept", "reject", "merge", "route", "start_deliberation", "start_decision", "decide",
        "fail_decision", "cancel_decision", "start_implementation", "start_evaluation", "close", "reopen", "withdraw", "place",
    }  # fmt: skip


@pytest.mark.parametrize(("state", "action"), ALLOWED, ids=[f"{s}-{a}" for s, a in ALLOWED])
def test_allowed_transition_leads_to_the_specified_state(state, action):
    assert transition(state, action, **CONTEXT) == EXPECTED[(state, action)]


@pytest.mark.parametrize(("state", "action"), REFUSED, ids=[f"{s}-{a}" for s, a in REFUSED])
def test_refused_transition_raises_with_the_allowed_actions(state, action):
    with pytest.raises(InvalidTransition) as caught:
        transition(state, action, **CONTEXT)
    assert caught.value.state == state
    assert caught.value.action == action
    assert sorted(caught.value.allowed) == sorted(a for (s, a) in EXPECTED if s == state)


def test_module_table_has_exactly_the_specified_moves():
    table = {(s.value, a.value): t.value for s, moves in TRANSITIONS.items() for a, t in moves.items()}
    assert table == EXPECTED
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize("state", list(State), ids=str)
def test_allowed_actions_lists_the_specified_actions(state):
    assert sorted(allowed_actions(state)) == sorted(a for (s, a) in EXPECTED if s == state)


def test_terminal_states_are_closed_rejected_merged_withdrawn():
    assert TERMINAL_STATES == {"closed", "rejected", "merged", "withdrawn"}
    for state in TERMINAL_STATES:
        assert allowed_actions(state) == []


def test_every_state_is_reachable_from_raised():
    seen, frontier = {State.RAISED}, [State.RAISED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(State)


def test_every_state_can_still_reach_an_end():
    for state in State:
        seen, frontier = {state}, [state]
        while frontier:
            for target in TRANSITIONS[frontier.pop()].values():
                if target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert seen & TERMINAL_STATES, state


def test_a_matter_walks_from_raised_through_reopening_to_closed():
    state = State.RAISED
    for action in [
        "accept", "route", "start_deliberation", "start_decision", "decide", "start_implementation",
        "start_evaluation", "reopen", "start_implementation", "start_evaluation", "close",
    ]:  # fmt: skip
        state = transition(state, action)
    assert state is State.CLOSED


def test_failed_decision_can_be_routed_again_and_decided():
    state = transition("deciding", "fail_decision")
    assert state is State.NOT_PASSED
    state = transition(state, "route")
    assert transition(transition(state, "start_decision"), "decide") is State.DECIDED


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reject_without_a_reason_is_refused(reason):
    with pytest.raises(ActionRefused) as caught:
        transition("raised", "reject", reason=reason)
    assert caught.value.rule == "matter.reject_reason_required"


@pytest.mark.parametrize("target", [None, "", " "])
def test_merge_without_a_target_is_refused(target):
    with pytest.raises(ActionRefused) as caught:
        transition("accepted", "merge", merge_target_id=target)
    assert caught.value.rule == "matter.merge_target_required"


@pytest.mark.parametrize("state", ["raised", "accepted", "routed", "deliberating", "deciding"])
def test_withdraw_by_someone_other_than_the_proposer_is_refused(state):
    with pytest.raises(ActionRefused) as caught:
        transition(state, "withdraw", by_proposer=False)
    assert caught.value.rule == "matter.withdraw_by_proposer_only"


@pytest.mark.parametrize("state", ["decided", "implementing", "evaluating", "not_passed", "closed"])
def test_proposer_cannot_withdraw_once_the_decision_is_reached(state):
    with pytest.raises(InvalidTransition):
        transition(state, "withdraw", by_proposer=True)


def test_state_check_comes_before_the_action_requirements():
    # A reject in the wrong state is a conflict even without a reason.
    with pytest.raises(InvalidTransition):
        transition("closed", "reject")


def test_invalid_transition_message_names_the_allowed_actions():
    with pytest.raises(InvalidTransition, match="allowed: start_implementation"):
        transition("decided", "close")


def test_unknown_state_or_action_is_a_value_error():
    with pytest.raises(ValueError, match="state"):
        transition("pending", "accept")
    with pytest.raises(ValueError, match="action"):
        transition("raised", "approve")
    with pytest.raises(ValueError, match="state"):
        allowed_actions("pending")


def test_transition_returns_a_state_member():
    assert transition("raised", "accept") is State.ACCEPTED
