"""Org-unit code rules: the district → street → community → grid → building → unit → household tree.

A code is the parent's code plus one fixed-width numeric segment, so "is within" is a prefix test.
County codes follow GB/T 2260, street and community segments follow the statistics division codes
(GB/T 10114: township segment 001–099 for streets, village segment 001–199 for residents'
committees). Codes are validated, never derived from names, never reused once retired.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "configure",
    "configured_scheme",
    "DEFAULT_SCHEME",
    "KUIWEN_DISTRICT_CODE",
    "KUIWEN_STREETS",
    "LEVEL_ORDER",
    "PROVINCE_PREFIXES",
    "CodeRuleError",
    "CodeScheme",
    "Level",
    "ancestors",
    "child_level",
    "is_within",
    "level_of",
    "parent_code",
    "parent_level",
    "validate_child_code",
    "validate_code",
]


class Level(StrEnum):
    """The level of an org unit in the tree."""

    DISTRICT = "district"  # 区县 (county-level)
    STREET = "street"  # 街道
    COMMUNITY = "community"  # 社区 (residents' committee)
    GRID = "grid"  # 网格
    BUILDING = "building"  # 楼栋
    UNIT = "unit"  # 单元
    HOUSEHOLD = "household"  # 户


LEVEL_ORDER: tuple[Level, ...] = tuple(Level)

# Two-digit province prefixes of GB/T 2260 (mainland provinces, regions and municipalities).
PROVINCE_PREFIXES: frozenset[str] = frozenset(
    f"{n:02d}"
    for lo, hi in ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65))
    for n in range(lo, hi + 1)
)

KUIWEN_DISTRICT_CODE = "370705"  # 奎文区, Weifang, Shandong

# Kuiwen's streets with their statistics codes (2023). All ten are listed because all ten are
# valid codes; which streets a deployment actually seeds is the caller's choice (the seed of
# today's deployment creates 8 of them), and code validation never consults this table.
KUIWEN_STREETS: dict[str, str] = {
    "370705001": "东关街道",
    "370705002": "大虞街道",
    "370705003": "梨园街道",
    "370705004": "廿里堡街道",
    "370705005": "潍州路街道",
    "370705006": "北苑街道",
    "370705007": "广文街道",
    "370705009": "新城街道",
    "370705010": "清池街道",
    "370705012": "北海路街道",
}


class CodeRuleError(ValueError):
    """Raised when an org-unit code breaks a rule; `.rule` is a stable machine name."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


@dataclass(frozen=True)
class CodeScheme:
    """Segment widths and ranges of the code tree; the grid serial width is configurable."""

    street_width: int = 3
    community_width: int = 3
    grid_width: int = 3
    building_width: int = 3
    unit_width: int = 2
    household_width: int = 4
    street_segment_min: int = 1
    street_segment_max: int = 99
    community_segment_min: int = 1
    community_segment_max: int = 199

    def __post_init__(self) -> None:
        for level in LEVEL_ORDER[1:]:
            width = self.width(level)
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise ValueError(f"{level.value}_width must be a positive integer")
        if not 1 <= self.street_segment_min <= self.street_segment_max < 10**self.street_width:
            raise ValueError("street segment range does not fit street_width")
        if not 1 <= self.community_segment_min <= self.community_segment_max < 10**self.community_width:
            raise ValueError("community segment range does not fit community_width")
        # Code lengths are asked for on every validation: computed once (not a field: no effect on ==).
        lengths, total = {}, 0
        for level in LEVEL_ORDER:
            total += self.width(level)
            lengths[level] = total
        object.__setattr__(self, "_lengths", lengths)

    def width(self, level: Level) -> int:
        """Returns the width of the segment a level adds to its parent's code."""
        if level is Level.DISTRICT:
            return 6
        return getattr(self, f"{level.value}_width")

    def length(self, level: Level) -> int:
        """Returns the total length of a code at a level."""
        return self._lengths[Level(level)]

    def segment_range(self, level: Level) -> tuple[int, int]:
        """Returns the inclusive range of the segment a level adds (serials start at 1)."""
        if level is Level.STREET:
            return self.street_segment_min, self.street_segment_max
        if level is Level.COMMUNITY:
            return self.community_segment_min, self.community_segment_max
        return 1, 10 ** self.width(level) - 1


DEFAULT_SCHEME = CodeScheme()
_configured: list[CodeScheme] = [DEFAULT_SCHEME]


def configure(scheme: CodeScheme) -> None:
    """Sets the scheme this process's codes follow (the registry's settings give the grid serial width)."""
    _configured[0] = scheme


def configured_scheme() -> CodeScheme:
    """The scheme this process's codes follow: the default one unless configure() set another."""
    return _configured[0]


def parent_level(level: Level) -> Level | None:
    """Returns the level directly above, or None for a district."""
    index = LEVEL_ORDER.index(level)
    return LEVEL_ORDER[index - 1] if index else None


def child_level(level: Level) -> Level | None:
    """Returns the level directly below, or None for a household."""
    index = LEVEL_ORDER.index(level)
    return LEVEL_ORDER[index + 1] if index + 1 < len(LEVEL_ORDER) else None


def _is_digits(code: object) -> bool:
    return isinstance(code, str) and code.isascii() and code.isdigit()


def level_of(code: str, scheme: CodeScheme | None = None) -> Level:
    """Returns the level a code's shape belongs to, or raises code.malformed."""
    scheme = scheme or _configured[0]
    if not _is_digits(code):
        raise CodeRuleError("code.malformed", f"{code!r} is not a string of digits")
    for level in LEVEL_ORDER:
        if len(code) == scheme.length(level):
            return level
    raise CodeRuleError("code.malformed", f"{code!r} has {len(code)} digits, which is no level's length")


def _validate_county(code: str) -> None:
    if code[:2] not in PROVINCE_PREFIXES:
        raise CodeRuleError("code.invalid_county", f"{code[:6]!r}: {code[:2]!r} is not a province prefix")
    if code[2:4] == "00":
        raise CodeRuleError("code.invalid_county", f"{code[:6]!r} is a province, not a county")
    if code[4:6] == "00":
        raise CodeRuleError("code.invalid_county", f"{code[:6]!r} is a prefecture, not a county")


def validate_code(code: str, scheme: CodeScheme | None = None) -> Level:
    """Checks a code's shape, county and every segment's range, and returns its level."""
    scheme = scheme or _configured[0]
    level = level_of(code, scheme)
    _validate_county(code)
    start = 6
    for lv in LEVEL_ORDER[1 : LEVEL_ORDER.index(level) + 1]:
        end = start + scheme.width(lv)
        low, high = scheme.segment_range(lv)
        segment = code[start:end]
        if not low <= int(segment) <= high:
            width = len(segment)
            raise CodeRuleError(
                "code.segment_out_of_range",
                f"{lv.value} segment {segment} of {code} is outside {low:0{width}d}–{high:0{width}d}",
            )
        start = end
    return level


def parent_code(code: str, scheme: CodeScheme | None = None) -> str | None:
    """Returns the code of the unit directly above, or None for a district."""
    scheme = scheme or _configured[0]
    level = level_of(code, scheme)
    above = parent_level(level)
    return None if above is None else code[: scheme.length(above)]


def ancestors(code: str, scheme: CodeScheme | None = None) -> list[str]:
    """Returns the codes above a code, from the district down to its parent."""
    scheme = scheme or _configured[0]
    level = level_of(code, scheme)
    return [code[: scheme.length(lv)] for lv in LEVEL_ORDER[: LEVEL_ORDER.index(level)]]


def validate_child_code(
    code: str,
    level: Level,
    parent_code: str | None,
    scheme: CodeScheme | None = None,
    *,
    existing_codes: Collection[str],
    retired_codes: Collection[str],
) -> str:
    """Checks that a new code may be created at a level under a parent, and returns it."""
    scheme = scheme or _configured[0]
    level = Level(level)
    actual = level_of(code, scheme)
    if actual is not level:
        raise CodeRuleError(
            "code.level_mismatch",
            f"{code} has the length of a {actual.value} code ({scheme.length(actual)} digits), "
            f"not of a {level.value} code ({scheme.length(level)} digits)",
        )
    validate_code(code, scheme)
    expected_parent_level = parent_level(level)
    if expected_parent_level is None:
        if parent_code is not None:
            raise CodeRuleError("code.not_under_parent", f"a district has no parent, got {parent_code!r}")
    elif parent_code is None:
        raise CodeRuleError(
            "code.not_under_parent", f"a {level.value} needs a parent {expected_parent_level.value}"
        )
    elif not _is_digits(parent_code) or len(parent_code) != scheme.length(expected_parent_level):
        raise CodeRuleError(
            "code.not_under_parent", f"{parent_code!r} is not a {expected_parent_level.value} code"
        )
    elif not code.startswith(parent_code):
        raise CodeRuleError("code.not_under_parent", f"{code} does not extend its parent {parent_code}")
    if parent_code is not None and parent_code in retired_codes:
        raise CodeRuleError("code.parent_retired", f"{parent_code} was retired and takes no new children")
    if code in retired_codes:
        raise CodeRuleError("code.retired_reuse", f"{code} was retired and is never issued again")
    if code in existing_codes:
        raise CodeRuleError("code.duplicate", f"{code} is already in use")
    return code


def is_within(code: str, scope_code: str, scheme: CodeScheme | None = None) -> bool:
    """Tells whether a code equals a scope code or lies below it; malformed codes are never within."""
    scheme = scheme or _configured[0]
    # A malformed or empty scope would otherwise be a prefix of far too much ("" of everything).
    try:
        level_of(code, scheme)
        level_of(scope_code, scheme)
    except CodeRuleError:
        return False
    return code.startswith(scope_code)
