"""Decision rules as versioned data, and the exact counting of a vote against them.

Legal thresholds read "过半数" (more than half: strictly greater) and "X分之一以上" / "三分之二以上"
(X or more: at least), so every threshold carries its comparison explicitly. A rule is never edited in
place: a changed rule (such as the rewritten law in force from 2026-01-01) gets a new name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any


class BaseKind(StrEnum):
    """Who makes up the meeting's base, the number quorum is counted against."""

    ADULTS = "adults"  # every resident aged 18 or over
    HOUSEHOLD_REPRESENTATIVES = "household_representatives"  # one per household
    GROUP_REPRESENTATIVES = "group_representatives"  # two or three per residents' group (居民小组)


class Comparison(StrEnum):
    """How a share is compared with its threshold."""

    GT = "gt"  # strictly more than (过半数)
    GE = "ge"  # at least (以上)


class PassOf(StrEnum):
    """What the votes in favour are a share of."""

    PRESENT = "present"
    BASE = "base"


@dataclass(frozen=True)
class DecisionRule:
    """A named, versioned decision rule; abstentions count as present."""

    name: str  # the version is part of the name, e.g. "urcol-2018" (城市居民委员会组织法, 2018 text)
    base: BaseKind
    quorum: Fraction
    pass_fraction: Fraction
    quorum_op: Comparison = Comparison.GT
    pass_op: Comparison = Comparison.GT
    pass_of: PassOf = PassOf.PRESENT
    description: str = ""

    @property
    def one_vote_per_household(self) -> bool:
        """Tells whether each household casts exactly one vote (户决制)."""
        return self.base is BaseKind.HOUSEHOLD_REPRESENTATIVES

    def as_mapping(self) -> dict[str, Any]:
        """Returns the rule as plain data that rule_from_mapping reads back."""
        return {
            "name": self.name,
            "base": self.base.value,
            "quorum": str(self.quorum),
            "quorum_op": self.quorum_op.value,
            "pass_fraction": str(self.pass_fraction),
            "pass_op": self.pass_op.value,
            "pass_of": self.pass_of.value,
            "description": self.description,
        }


@dataclass(frozen=True)
class TallyResult:
    """The outcome of counting one vote under one rule."""

    quorum_met: bool
    passed: bool
    present: int
    votes_for: int
    votes_against: int
    abstain: int
    rule_version: str
    required_quorum: int  # the fewest present that make a quorum
    required_pass: int  # the fewest votes in favour that pass, given this attendance


_REQUIRED_FIELDS = ("name", "base", "quorum", "pass_fraction")
_OPTIONAL_FIELDS = ("quorum_op", "pass_op", "pass_of", "description")


def _fraction(data: Mapping[str, Any], field: str) -> Fraction:
    value = data[field]
    if isinstance(value, bool) or isinstance(value, float):
        # A float such as 0.6666 is not 2/3; thresholds must be exact.
        raise ValueError(f"decision rule field {field!r}: give an exact fraction such as \"2/3\", got {value!r}")
    if isinstance(value, (list, tuple)) and len(value) == 2:
        value = f"{value[0]}/{value[1]}"
    if not isinstance(value, (str, int, Fraction)):
        raise ValueError(f"decision rule field {field!r}: expected a fraction like \"1/2\", got {value!r}")
    try:
        return Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"decision rule field {field!r}: {value!r} is not a fraction") from None


def _choice(data: Mapping[str, Any], field: str, kind: type[StrEnum], default: StrEnum | None = None) -> Any:
    if field not in data:
        return default
    try:
        return kind(data[field])
    except ValueError:
        options = ", ".join(member.value for member in kind)
        raise ValueError(f"decision rule field {field!r}: must be one of {options}, got {data[field]!r}") from None


def _check_threshold(field: str, value: Fraction, op: Comparison) -> None:
    # "more than 1" and "at least 0" can never fail or never pass, so neither is a rule.
    if op is Comparison.GT and not 0 <= value < 1:
        raise ValueError(f"decision rule field {field!r}: with 'gt' it must be in [0, 1), got {value}")
    if op is Comparison.GE and not 0 < value <= 1:
        raise ValueError(f"decision rule field {field!r}: with 'ge' it must be in (0, 1], got {value}")


def rule_from_mapping(data: Mapping[str, Any]) -> DecisionRule:
    """Builds a DecisionRule from plain data, raising ValueError that names the bad field."""
    if not isinstance(data, Mapping):
        raise ValueError(f"decision rule must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in _REQUIRED_FIELDS and key not in _OPTIONAL_FIELDS:
            raise ValueError(f"decision rule field {key!r}: unknown field")
    for field in _REQUIRED_FIELDS:
        if field not in data:
            raise ValueError(f"decision rule field {field!r}: required")
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"decision rule field 'name': must be a non-empty string, got {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"decision rule field 'description': must be a string, got {description!r}")
    base = _choice(data, "base", BaseKind)
    quorum_op = _choice(data, "quorum_op", Comparison, Comparison.GT)
    pass_op = _choice(data, "pass_op", Comparison, Comparison.GT)
    pass_of = _choice(data, "pass_of", PassOf, PassOf.PRESENT)
    quorum = _fraction(data, "quorum")
    pass_fraction = _fraction(data, "pass_fraction")
    _check_threshold("quorum", quorum, quorum_op)
    _check_threshold("pass_fraction", pass_fraction, pass_op)
    return DecisionRule(
        name=name.strip(),
        base=base,
        quorum=quorum,
        pass_fraction=pass_fraction,
        quorum_op=quorum_op,
        pass_op=pass_op,
        pass_of=pass_of,
        description=description,
    )


class RuleDataError(ValueError):
    """A decision-rules file that does not validate; names where."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.detail = detail


def parse_rules(data: Mapping[str, Any]) -> dict[str, DecisionRule]:
    """Validates {"rules": [...]} (each rule as rule_from_mapping reads it, names unique) and returns the rules by
    name."""
    if not isinstance(data, Mapping):
        raise RuleDataError("", f"expected an object, got {type(data).__name__}")
    unknown = set(data) - {"rules", "_comment"}
    if unknown:
        raise RuleDataError(sorted(unknown)[0], "unknown field")
    items = data.get("rules")
    if not isinstance(items, list) or not items:
        raise RuleDataError("rules", "required: a non-empty list of decision rules")
    rules: dict[str, DecisionRule] = {}
    for index, item in enumerate(items):
        try:
            rule = rule_from_mapping(item)
        except ValueError as error:
            raise RuleDataError(f"rules[{index}]", str(error)) from None
        if rule.name in rules:
            raise RuleDataError(f"rules[{index}].name", f"duplicate rule {rule.name!r}: a changed rule takes a new name")
        rules[rule.name] = rule
    return rules


def read_data_file(shipped: str, path: str | Path | None, error: Callable[[str, str], Exception]) -> Any:
    """Reads the JSON of a data file: `path`, else the one shipped in this package under the name `shipped`; a file
    that is not JSON raises `error(source, detail)`."""
    if path is None:
        text = resources.files(__package__).joinpath(shipped).read_text(encoding="utf-8")
        source = shipped
    else:
        text = Path(path).read_text(encoding="utf-8")
        source = str(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(source, f"not valid JSON: {exc}") from None


def load_rules(path: str | Path | None = None) -> Mapping[str, DecisionRule]:
    """Loads and validates decision rules from a JSON file (default: the shipped decision_rules.json)."""
    return MappingProxyType(parse_rules(read_data_file("decision_rules.json", path, RuleDataError)))


# The rules in force, by name: data (decision_rules.json), validated when loaded.
RULES: Mapping[str, DecisionRule] = load_rules()


def _meets(count: int, total: int, threshold: Fraction, op: Comparison) -> bool:
    if total == 0:
        return False
    share = Fraction(count, total)
    return share > threshold if op is Comparison.GT else share >= threshold


def _fewest(total: int, threshold: Fraction, op: Comparison) -> int:
    """Returns the smallest count whose share of total meets the threshold."""
    bound = threshold * total
    return math.floor(bound) + 1 if op is Comparison.GT else math.ceil(bound)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: must be a whole number >= 0, got {value!r}")
    return value


def tally(
    rule: DecisionRule, base_size: int, votes_for: int, votes_against: int, abstain: int
) -> TallyResult:
    """Counts a vote under a rule; a vote without quorum never passes."""
    base_size = _count("base_size", base_size)
    votes_for = _count("votes_for", votes_for)
    votes_against = _count("votes_against", votes_against)
    abstain = _count("abstain", abstain)
    if base_size == 0:
        raise ValueError("base_size: a meeting needs a base of at least one voter")
    present = votes_for + votes_against + abstain
    if present > base_size:
        raise ValueError(f"present: {present} voted but the base is only {base_size}")
    pass_total = present if rule.pass_of is PassOf.PRESENT else base_size
    quorum_met = _meets(present, base_size, rule.quorum, rule.quorum_op)
    return TallyResult(
        quorum_met=quorum_met,
        passed=quorum_met and _meets(votes_for, pass_total, rule.pass_fraction, rule.pass_op),
        present=present,
        votes_for=votes_for,
        votes_against=votes_against,
        abstain=abstain,
        rule_version=rule.name,
        required_quorum=_fewest(base_size, rule.quorum, rule.quorum_op),
        required_pass=max(1, _fewest(pass_total, rule.pass_fraction, rule.pass_op)),
    )


@dataclass(frozen=True)
class MeetingCallRule:
    """The shares of residents, households or groups whose request obliges a meeting to be called."""

    name: str
    adults: Fraction
    households: Fraction
    groups: Fraction


# "经五分之一以上的十八周岁以上的居民、五分之一以上的户或者三分之一以上的居民小组提议，应当召集居民会议":
# "以上" includes the threshold itself.
MEETING_CALL_RULES: Mapping[str, MeetingCallRule] = MappingProxyType(
    {
        "urcol-2018": MeetingCallRule(
            name="urcol-2018", adults=Fraction(1, 5), households=Fraction(1, 5), groups=Fraction(1, 3)
        )
    }
)


def meeting_must_be_called(
    adults_asking: int,
    adults_total: int,
    households_asking: int,
    households_total: int,
    groups_asking: int,
    groups_total: int,
    *,
    rule: MeetingCallRule = MEETING_CALL_RULES["urcol-2018"],
) -> bool:
    """Tells whether enough adults, households or groups asked for a residents' meeting."""
    pairs = (
        ("adults", adults_asking, adults_total, rule.adults),
        ("households", households_asking, households_total, rule.households),
        ("groups", groups_asking, groups_total, rule.groups),
    )
    must = False
    for name, asking, total, threshold in pairs:
        asking = _count(f"{name}_asking", asking)
        total = _count(f"{name}_total", total)
        if asking > total:
            raise ValueError(f"{name}_asking: {asking} asking is more than the {total} in total")
        must = must or _meets(asking, total, threshold, Comparison.GE)
    return must
