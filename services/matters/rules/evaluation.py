"""Residents' rating of finished work (民事民评) and when a bad rating reopens it (重办)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from fractions import Fraction


class Satisfaction(IntEnum):
    """The five satisfaction levels; the score is the level as residents see it (1 best, 5 worst)."""

    VERY_SATISFIED = 1  # 非常满意
    SATISFIED = 2  # 满意
    BASICALLY_SATISFIED = 3  # 基本满意
    DISSATISFIED = 4  # 不满意
    VERY_DISSATISFIED = 5  # 非常不满意

    @property
    def code(self) -> str:
        """Returns the stable ascii code, e.g. "very_satisfied"."""
        return self.name.lower()

    @property
    def label(self) -> str:
        """Returns the Chinese name shown to residents."""
        return _LABELS[self]

    @property
    def is_bad(self) -> bool:
        """Tells whether the rating counts against the work (不满意 or 非常不满意)."""
        return self >= Satisfaction.DISSATISFIED


_LABELS = {
    Satisfaction.VERY_SATISFIED: "非常满意",
    Satisfaction.SATISFIED: "满意",
    Satisfaction.BASICALLY_SATISFIED: "基本满意",
    Satisfaction.DISSATISFIED: "不满意",
    Satisfaction.VERY_DISSATISFIED: "非常不满意",
}


class EvaluationAction(StrEnum):
    """What the matter does next after its ratings are read."""

    WAIT = "wait"  # not enough ratings yet
    CLOSE = "close"
    REOPEN = "reopen"


@dataclass(frozen=True)
class Outcome:
    """The verdict of a set of ratings."""

    enough: bool
    bad_share: Fraction
    action: EvaluationAction
    ratings: int
    bad: int


def _satisfaction(index: int, value: object) -> Satisfaction:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"ratings[{index}]: expected a score 1..5, got {value!r}")
    try:
        return Satisfaction(value)
    except ValueError:
        raise ValueError(f"ratings[{index}]: expected a score 1..5, got {value!r}") from None


@dataclass(frozen=True)
class EvaluationPolicy:
    """How many ratings are needed, and what share of bad ones reopens the work."""

    min_ratings: int = 5
    reopen_bad_share: Fraction = Fraction(1, 3)

    def __post_init__(self) -> None:
        if isinstance(self.min_ratings, bool) or not isinstance(self.min_ratings, int) or self.min_ratings < 1:
            raise ValueError(f"min_ratings: must be a whole number >= 1, got {self.min_ratings!r}")
        share = self.reopen_bad_share
        if isinstance(share, bool) or not isinstance(share, (int, Fraction)) or not 0 <= share < 1:
            raise ValueError(f"reopen_bad_share: must be an exact fraction in [0, 1), got {share!r}")
        object.__setattr__(self, "reopen_bad_share", Fraction(share))

    def evaluate(self, ratings: Iterable[int | Satisfaction]) -> Outcome:
        """Waits for enough ratings, then reopens when the bad share strictly exceeds the threshold."""
        levels = [_satisfaction(index, value) for index, value in enumerate(ratings)]
        bad = sum(level.is_bad for level in levels)
        bad_share = Fraction(bad, len(levels)) if levels else Fraction(0)
        enough = len(levels) >= self.min_ratings
        if not enough:
            action = EvaluationAction.WAIT
        elif bad_share > self.reopen_bad_share:
            action = EvaluationAction.REOPEN
        else:
            action = EvaluationAction.CLOSE
        return Outcome(enough=enough, bad_share=bad_share, action=action, ratings=len(levels), bad=bad)


DEFAULT_EVALUATION_POLICY = EvaluationPolicy()


def evaluate(
    ratings: Iterable[int | Satisfaction], policy: EvaluationPolicy = DEFAULT_EVALUATION_POLICY
) -> Outcome:
    """Reads residents' ratings under a policy (by default: 5 ratings, reopen above 1/3 bad)."""
    return policy.evaluate(ratings)
