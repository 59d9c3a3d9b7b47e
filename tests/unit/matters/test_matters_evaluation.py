from fractions import Fraction

import pytest

from services.matters.rules.evaluation import (
    DEFAULT_EVALUATION_POLICY,
    EvaluationPolicy,
    Satisfaction,
    evaluate,
)


@pytest.mark.parametrize(
    ("score", "code", "label", "bad"),
    [
        (1, "very_satisfied", "非常满意", False),
        (2, "satisfied", "满意", False),
        (3, "basically_satisfied", "基本满意", False),
        (4, "dissatisfied", "不满意", True),
        (5, "very_dissatisfied", "非常不满意", True),
    ],
)
def test_five_satisfaction_levels(score, code, label, bad):
    level = Satisfaction(score)
    assert (level.code, level.label, level.is_bad) == (code, label, bad)


def test_default_policy_needs_five_ratings_and_reopens_above_one_third_bad():
    assert DEFAULT_EVALUATION_POLICY == EvaluationPolicy(min_ratings=5, reopen_bad_share=Fraction(1, 3))


def test_fewer_ratings_than_needed_waits_even_if_all_bad():
    outcome = evaluate([5, 5, 5, 5])
    assert not outcome.enough
    assert outcome.action == "wait"
    assert outcome.bad_share == 1


def test_no_ratings_wait_with_a_zero_bad_share():
    outcome = evaluate([])
    assert (outcome.action, outcome.bad_share, outcome.ratings) == ("wait", 0, 0)


def test_enough_good_ratings_close_the_matter():
    outcome = evaluate([1, 2, 3, 3, 1])
    assert outcome.enough
    assert outcome.action == "close"
    assert outcome.bad == 0


def test_bad_share_of_exactly_one_third_closes():
    outcome = evaluate([1, 1, 2, 3, 4, 5])
    assert outcome.bad_share == Fraction(1, 3)
    assert outcome.action == "close"


def test_bad_share_just_above_one_third_reopens():
    outcome = evaluate([1, 2, 3, 4, 5])
    assert outcome.bad_share == Fraction(2, 5)
    assert outcome.action == "reopen"


def test_basically_satisfied_is_not_bad():
    assert evaluate([3, 3, 3, 3, 3]).action == "close"
    assert evaluate([4, 4, 3, 3, 3]).action == "reopen"


def test_ratings_may_be_levels_or_a_generator():
    levels = (Satisfaction.VERY_DISSATISFIED for _ in range(5))
    outcome = evaluate(levels)
    assert (outcome.ratings, outcome.bad, outcome.action) == (5, 5, "reopen")


def test_custom_policy_reopens_on_any_bad_rating():
    strict = EvaluationPolicy(min_ratings=1, reopen_bad_share=Fraction(0))
    assert strict.evaluate([1]).action == "close"
    assert strict.evaluate([1, 1, 1, 4]).action == "reopen"
    assert evaluate([1, 1, 1, 4], strict).action == "reopen"


@pytest.mark.parametrize("value", [0, 6, "3", 3.0, True, None])
def test_an_invalid_rating_is_named_by_position(value):
    with pytest.raises(ValueError, match=r"ratings\[2\]"):
        evaluate([1, 2, value, 3, 4])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_ratings": 0}, "min_ratings"),
        ({"min_ratings": True}, "min_ratings"),
        ({"reopen_bad_share": 0.33}, "reopen_bad_share"),
        ({"reopen_bad_share": Fraction(1)}, "reopen_bad_share"),
        ({"reopen_bad_share": Fraction(-1, 3)}, "reopen_bad_share"),
    ],
)
def test_policy_refuses_impossible_settings(kwargs, field):
    with pytest.raises(ValueError, match=field):
        EvaluationPolicy(**kwargs)


@pytest.mark.parametrize(("field", "value"), [("evaluation_min_ratings", 0), ("evaluation_reopen_bad_share", "1/0"),
                                              ("evaluation_reopen_bad_share", "3/2"), ("evaluation_reopen_bad_share", "a")])
def test_evaluation_settings_are_checked_at_start_up(field, value):
    from pydantic import ValidationError

    from services.matters.settings import Settings

    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})
