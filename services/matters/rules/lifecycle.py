"""The life of a matter (由民做主: 民事民提、民事民定、民事民办、民事民评) as an explicit state machine."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class State(StrEnum):
    """Where a matter stands."""

    RAISED = "raised"  # 民事民提: a resident or grid worker has raised it
    ACCEPTED = "accepted"  # triaged as a genuine community matter
    REJECTED = "rejected"  # triaged out, with a reason
    MERGED = "merged"  # folded into another matter that says the same thing
    ROUTED = "routed"  # given a decision channel (see routing.Channel)
    DELIBERATING = "deliberating"  # discussed in the channel before any decision
    DECIDING = "deciding"  # a vote or other decision is open
    DECIDED = "decided"  # 民事民定: the decision passed
    NOT_PASSED = "not_passed"  # the decision failed; re-route it or close it
    IMPLEMENTING = "implementing"  # 民事民办: the work is being done
    EVALUATING = "evaluating"  # 民事民评: residents rate the result
    REOPENED = "reopened"  # 重办: the rating was bad, the work must be redone
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"  # the proposer took it back before a decision


class Action(StrEnum):
    """What someone does to a matter (imperative)."""

    ACCEPT = "accept"
    REJECT = "reject"
    MERGE = "merge"
    ROUTE = "route"
    START_DELIBERATION = "start_deliberation"
    START_DECISION = "start_decision"  # opens the vote (or other decision) in the chosen channel
    DECIDE = "decide"
    FAIL_DECISION = "fail_decision"
    CANCEL_DECISION = "cancel_decision"  # the decision (its vote) is called off, undecided: back to routed
    START_IMPLEMENTATION = "start_implementation"
    START_EVALUATION = "start_evaluation"
    CLOSE = "close"
    REOPEN = "reopen"
    WITHDRAW = "withdraw"
    PLACE = "place"  # moves the matter down to the unit it is really about, while in triage


S, A = State, Action

# Every legal move, and nothing else. Notes on the less obvious rows:
# - merge is possible while the matter is still in triage (raised, accepted), when a duplicate is spotted;
# - routed -> route -> routed re-routes to another channel before deliberation starts;
# - a decision may open straight from routed (simple matters) or after deliberation;
# - a decision called off (a vote opened with the wrong window, rule or secrecy, cancelled with a reason) goes back
#   to routed, from where a vote is opened again or the matter re-routed;
# - not_passed goes back to routed (amended, or tried in another channel) or is closed;
# - withdraw is open to the proposer only, and only until a decision is reached: from raised up to deciding,
#   not from not_passed (a failed matter is re-routed or closed by staff);
# - reopened (重办) leads back to implementing: the work is redone, then rated again;
# - place keeps the state: in triage (raised, accepted) a matter is moved down to the unit it is really about,
#   e.g. a department's location-only request that landed at the street for triage goes to its community.
TRANSITIONS: Mapping[State, Mapping[Action, State]] = MappingProxyType(
    {
        S.RAISED: MappingProxyType(
            {A.ACCEPT: S.ACCEPTED, A.REJECT: S.REJECTED, A.MERGE: S.MERGED, A.WITHDRAW: S.WITHDRAWN, A.PLACE: S.RAISED}
        ),
        S.ACCEPTED: MappingProxyType(
            {A.ROUTE: S.ROUTED, A.MERGE: S.MERGED, A.WITHDRAW: S.WITHDRAWN, A.PLACE: S.ACCEPTED}
        ),
        S.ROUTED: MappingProxyType(
            {
                A.ROUTE: S.ROUTED,
                A.START_DELIBERATION: S.DELIBERATING,
                A.START_DECISION: S.DECIDING,
                A.WITHDRAW: S.WITHDRAWN,
            }
        ),
        S.DELIBERATING: MappingProxyType({A.START_DECISION: S.DECIDING, A.WITHDRAW: S.WITHDRAWN}),
        S.DECIDING: MappingProxyType(
            {A.DECIDE: S.DECIDED, A.FAIL_DECISION: S.NOT_PASSED, A.CANCEL_DECISION: S.ROUTED, A.WITHDRAW: S.WITHDRAWN}
        ),
        S.DECIDED: MappingProxyType({A.START_IMPLEMENTATION: S.IMPLEMENTING}),
        S.NOT_PASSED: MappingProxyType({A.ROUTE: S.ROUTED, A.CLOSE: S.CLOSED}),
        S.IMPLEMENTING: MappingProxyType({A.START_EVALUATION: S.EVALUATING}),
        S.EVALUATING: MappingProxyType({A.CLOSE: S.CLOSED, A.REOPEN: S.REOPENED}),
        S.REOPENED: MappingProxyType({A.START_IMPLEMENTATION: S.IMPLEMENTING}),
        S.CLOSED: MappingProxyType({}),
        S.REJECTED: MappingProxyType({}),
        S.MERGED: MappingProxyType({}),
        S.WITHDRAWN: MappingProxyType({}),
    }
)

TERMINAL_STATES: frozenset[State] = frozenset(state for state, moves in TRANSITIONS.items() if not moves)

del S, A


class InvalidTransition(Exception):
    """Raised when an action is not allowed in a matter's current state (a business conflict)."""

    def __init__(self, state: State, action: Action, allowed: list[str]) -> None:
        self.state = state
        self.action = action
        self.allowed = allowed
        listed = ", ".join(allowed) if allowed else "none (the matter is finished)"
        super().__init__(f"cannot {action} a matter that is {state}; allowed: {listed}")


class ActionRefused(Exception):
    """Raised when an allowed action lacks what its rule requires (a reason, a target, the proposer)."""

    def __init__(self, rule: str, detail: str) -> None:
        self.rule = rule
        self.detail = detail
        super().__init__(f"{rule}: {detail}")


def _state(value: State | str) -> State:
    try:
        return State(value)
    except ValueError:
        raise ValueError(f"state: unknown matter state {value!r}") from None


def _action(value: Action | str) -> Action:
    try:
        return Action(value)
    except ValueError:
        raise ValueError(f"action: unknown matter action {value!r}") from None


def allowed_actions(state: State | str) -> list[str]:
    """Lists the actions allowed in a state, in table order."""
    return list(TRANSITIONS[_state(state)])


def transition(
    state: State | str,
    action: Action | str,
    *,
    reason: str | None = None,
    merge_target_id: str | None = None,
    by_proposer: bool = False,
) -> State:
    """Returns the state an action leads to, or raises InvalidTransition / ActionRefused."""
    state, action = _state(state), _action(action)
    moves = TRANSITIONS[state]
    if action not in moves:
        raise InvalidTransition(state, action, list(moves))
    if action is Action.REJECT and not (reason and reason.strip()):
        raise ActionRefused("matter.reject_reason_required", "a rejection must give the proposer a reason")
    if action is Action.CANCEL_DECISION and not (reason and reason.strip()):
        raise ActionRefused("matter.cancel_reason_required", "calling a decision off must say why")
    if action is Action.MERGE and not (merge_target_id and str(merge_target_id).strip()):
        raise ActionRefused("matter.merge_target_required", "a merge must name the matter it merges into")
    if action is Action.WITHDRAW and not by_proposer:
        raise ActionRefused("matter.withdraw_by_proposer_only", "only the proposer can withdraw a matter")
    return moves[action]
