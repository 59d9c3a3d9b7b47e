"""Org-unit code rules: shapes, ranges, parents, reuse and scope containment."""

import pytest

from services.registry.rules.codes import (
    DEFAULT_SCHEME,
    KUIWEN_DISTRICT_CODE,
    KUIWEN_STREETS,
    LEVEL_ORDER,
    CodeRuleError,
    CodeScheme,
    Level,
    ancestors,
    child_level,
    is_within,
    level_of,
    parent_code,
    parent_level,
    validate_child_code,
    validate_code,
)

STREET = "370705001"
COMMUNITY = "370705001001"
GRID = "370705001001001"
BUILDING = "370705001001001001"
UNIT = "37070500100100100101"
HOUSEHOLD = "370705001001001001010001"

VALID_CODES = [
    ("370705", Level.DISTRICT),
    ("110101", Level.DISTRICT),
    ("150102", Level.DISTRICT),
    ("210102", Level.DISTRICT),
    ("230102", Level.DISTRICT),
    ("310101", Level.DISTRICT),
    ("410102", Level.DISTRICT),
    ("460105", Level.DISTRICT),
    ("500101", Level.DISTRICT),
    ("540102", Level.DISTRICT),
    ("610102", Level.DISTRICT),
    ("650102", Level.DISTRICT),
    ("370705001", Level.STREET),
    ("370705099", Level.STREET),
    ("370705001001", Level.COMMUNITY),
    ("370705001199", Level.COMMUNITY),
    ("370705001001001", Level.GRID),
    ("370705001001999", Level.GRID),
    ("370705001001001001", Level.BUILDING),
    ("37070500100100100101", Level.UNIT),
    ("37070500100100100199", Level.UNIT),
    ("370705001001001001010001", Level.HOUSEHOLD),
    ("370705001001001001019999", Level.HOUSEHOLD),
]

INVALID_CODES = [
    ("", "code.malformed"),
    ("37070", "code.malformed"),
    ("3707050", "code.malformed"),
    ("37070500", "code.malformed"),
    ("3707050010", "code.malformed"),
    ("37070a", "code.malformed"),
    (" 370705", "code.malformed"),
    ("370705 ", "code.malformed"),
    ("-37070", "code.malformed"),
    ("３７０７０５", "code.malformed"),
    ("3707050010010010010100011", "code.malformed"),
    ("100705", "code.invalid_county"),
    ("160705", "code.invalid_county"),
    ("200705", "code.invalid_county"),
    ("240705", "code.invalid_county"),
    ("300705", "code.invalid_county"),
    ("380705", "code.invalid_county"),
    ("400705", "code.invalid_county"),
    ("470705", "code.invalid_county"),
    ("490705", "code.invalid_county"),
    ("550705", "code.invalid_county"),
    ("600705", "code.invalid_county"),
    ("660705", "code.invalid_county"),
    ("710101", "code.invalid_county"),
    ("810000", "code.invalid_county"),
    ("370700", "code.invalid_county"),
    ("370000", "code.invalid_county"),
    ("370005", "code.invalid_county"),
    ("370700001", "code.invalid_county"),
    ("370705000", "code.segment_out_of_range"),
    ("370705100", "code.segment_out_of_range"),
    ("370705201", "code.segment_out_of_range"),
    ("370705001000", "code.segment_out_of_range"),
    ("370705001200", "code.segment_out_of_range"),
    ("370705001999", "code.segment_out_of_range"),
    ("370705100001", "code.segment_out_of_range"),
    ("370705001001000", "code.segment_out_of_range"),
    ("370705001001001000", "code.segment_out_of_range"),
    ("37070500100100100100", "code.segment_out_of_range"),
    ("370705001001001001010000", "code.segment_out_of_range"),
]


@pytest.mark.parametrize(("code", "level"), VALID_CODES)
def test_valid_code_is_accepted_at_its_level(code, level):
    assert validate_code(code) is level


@pytest.mark.parametrize(("code", "rule"), INVALID_CODES)
def test_invalid_code_is_refused_with_its_rule(code, rule):
    with pytest.raises(CodeRuleError) as caught:
        validate_code(code)
    assert caught.value.rule == rule


def test_non_string_code_is_malformed():
    with pytest.raises(CodeRuleError) as caught:
        level_of(370705)  # type: ignore[arg-type]
    assert caught.value.rule == "code.malformed"


def test_code_rule_error_is_a_value_error_carrying_rule_and_detail():
    error = CodeRuleError("code.duplicate", "370705001 is already in use")
    assert isinstance(error, ValueError)
    assert (error.rule, error.detail) == ("code.duplicate", "370705001 is already in use")
    assert "code.duplicate" in str(error)


def test_out_of_range_detail_names_the_segment():
    with pytest.raises(CodeRuleError) as caught:
        validate_code("370705001200")
    assert "community" in caught.value.detail and "200" in caught.value.detail


@pytest.mark.parametrize(("code", "level"), [(c, lv) for c, lv in VALID_CODES if c.startswith("370705")])
def test_level_of_reads_the_level_from_the_length(code, level):
    assert level_of(code) is level


def test_level_of_does_not_check_ranges():
    assert level_of("370705000") is Level.STREET


def test_level_order_runs_from_district_to_household():
    assert LEVEL_ORDER == (
        Level.DISTRICT, Level.STREET, Level.COMMUNITY, Level.GRID,
        Level.BUILDING, Level.UNIT, Level.HOUSEHOLD,
    )


def test_parent_and_child_levels_are_neighbours():
    assert parent_level(Level.DISTRICT) is None
    assert child_level(Level.HOUSEHOLD) is None
    assert parent_level(Level.GRID) is Level.COMMUNITY
    assert child_level(Level.GRID) is Level.BUILDING


def test_default_code_lengths():
    lengths = [DEFAULT_SCHEME.length(level) for level in LEVEL_ORDER]
    assert lengths == [6, 9, 12, 15, 18, 20, 24]


@pytest.mark.parametrize(
    ("code", "parent"),
    [
        ("370705", None),
        (STREET, "370705"),
        (COMMUNITY, STREET),
        (GRID, COMMUNITY),
        (BUILDING, GRID),
        (UNIT, BUILDING),
        (HOUSEHOLD, UNIT),
    ],
)
def test_parent_code_drops_the_last_segment(code, parent):
    assert parent_code(code) == parent


def test_ancestors_run_from_district_to_parent():
    assert ancestors(HOUSEHOLD) == ["370705", STREET, COMMUNITY, GRID, BUILDING, UNIT]
    assert ancestors("370705") == []


# --- configurable grid width ---------------------------------------------------------------


def test_grid_width_is_configurable():
    scheme = CodeScheme(grid_width=4)
    assert level_of("3707050010010001", scheme) is Level.GRID
    assert validate_code("3707050010010001001", scheme) is Level.BUILDING
    assert parent_code("3707050010010001001", scheme) == "3707050010010001"


def test_wide_grid_code_is_malformed_under_the_default_scheme():
    with pytest.raises(CodeRuleError) as caught:
        level_of("3707050010010001")
    assert caught.value.rule == "code.malformed"


def test_wide_grid_serial_zero_is_out_of_range():
    with pytest.raises(CodeRuleError) as caught:
        validate_code("3707050010010000", CodeScheme(grid_width=4))
    assert caught.value.rule == "code.segment_out_of_range"


@pytest.mark.parametrize("width", [0, -1, True, 2.5])
def test_scheme_refuses_a_non_positive_width(width):
    with pytest.raises(ValueError, match="grid_width"):
        CodeScheme(grid_width=width)


def test_scheme_refuses_a_street_range_wider_than_its_segment():
    with pytest.raises(ValueError, match="street segment"):
        CodeScheme(street_segment_max=1000)


# --- creating a child code -------------------------------------------------------------------


def _create(code, level, parent, *, existing=(), retired=(), scheme=DEFAULT_SCHEME):
    return validate_child_code(
        code, level, parent, scheme, existing_codes=set(existing), retired_codes=set(retired)
    )


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("370705", Level.DISTRICT, None),
        (STREET, Level.STREET, "370705"),
        (COMMUNITY, Level.COMMUNITY, STREET),
        (GRID, Level.GRID, COMMUNITY),
        (BUILDING, Level.BUILDING, GRID),
        (UNIT, Level.UNIT, BUILDING),
        (HOUSEHOLD, Level.HOUSEHOLD, UNIT),
    ],
)
def test_valid_child_code_is_accepted(code, level, parent):
    assert _create(code, level, parent, existing={parent} if parent else ()) == code


def test_level_may_be_given_by_name():
    assert _create(GRID, "grid", COMMUNITY) == GRID


def test_grid_code_given_as_community_is_a_level_mismatch():
    with pytest.raises(CodeRuleError) as caught:
        _create(GRID, Level.COMMUNITY, STREET)
    assert caught.value.rule == "code.level_mismatch"


def test_building_code_given_as_grid_is_a_level_mismatch():
    with pytest.raises(CodeRuleError) as caught:
        _create(BUILDING, Level.GRID, COMMUNITY)
    assert caught.value.rule == "code.level_mismatch"


def test_malformed_child_code_is_refused_before_anything_else():
    with pytest.raises(CodeRuleError) as caught:
        _create("37070500100x", Level.COMMUNITY, STREET, existing={"37070500100x"})
    assert caught.value.rule == "code.malformed"


def test_child_segment_out_of_range_is_refused():
    with pytest.raises(CodeRuleError) as caught:
        _create("370705001200", Level.COMMUNITY, STREET)
    assert caught.value.rule == "code.segment_out_of_range"


def test_child_that_does_not_extend_its_parent_is_refused():
    with pytest.raises(CodeRuleError) as caught:
        _create("370705002001", Level.COMMUNITY, STREET)
    assert caught.value.rule == "code.not_under_parent"


def test_child_without_a_parent_is_refused():
    with pytest.raises(CodeRuleError) as caught:
        _create(COMMUNITY, Level.COMMUNITY, None)
    assert caught.value.rule == "code.not_under_parent"


def test_parent_at_the_wrong_level_is_refused():
    with pytest.raises(CodeRuleError) as caught:
        _create(BUILDING, Level.BUILDING, COMMUNITY)
    assert caught.value.rule == "code.not_under_parent"


def test_malformed_parent_is_refused():
    with pytest.raises(CodeRuleError) as caught:
        _create(COMMUNITY, Level.COMMUNITY, "37070500x")
    assert caught.value.rule == "code.not_under_parent"


def test_district_with_a_parent_is_refused():
    with pytest.raises(CodeRuleError) as caught:
        _create("370705", Level.DISTRICT, "370700")
    assert caught.value.rule == "code.not_under_parent"


def test_district_with_an_invalid_county_code_is_refused():
    with pytest.raises(CodeRuleError) as caught:
        _create("370700", Level.DISTRICT, None)
    assert caught.value.rule == "code.invalid_county"


def test_duplicate_code_is_refused():
    with pytest.raises(CodeRuleError) as caught:
        _create(GRID, Level.GRID, COMMUNITY, existing={COMMUNITY, GRID})
    assert caught.value.rule == "code.duplicate"


def test_retired_code_cannot_be_reused():
    with pytest.raises(CodeRuleError) as caught:
        _create(GRID, Level.GRID, COMMUNITY, retired={GRID})
    assert caught.value.rule == "code.retired_reuse"


def test_retired_reuse_is_reported_even_when_the_code_is_also_listed_as_existing():
    with pytest.raises(CodeRuleError) as caught:
        _create(GRID, Level.GRID, COMMUNITY, existing={GRID}, retired={GRID})
    assert caught.value.rule == "code.retired_reuse"


def test_child_of_a_retired_parent_is_refused():
    with pytest.raises(CodeRuleError) as caught:
        _create(BUILDING, Level.BUILDING, GRID, retired={GRID})
    assert caught.value.rule == "code.parent_retired"


def test_sibling_of_a_retired_code_is_accepted():
    assert _create("370705001001002", Level.GRID, COMMUNITY, retired={GRID}) == "370705001001002"


def test_child_under_a_wide_grid_uses_the_scheme():
    scheme = CodeScheme(grid_width=4)
    building = "3707050010010001001"
    assert _create(building, Level.BUILDING, "3707050010010001", scheme=scheme) == building


# --- scope containment ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "scope"),
    [
        (GRID, GRID),
        (GRID, COMMUNITY),
        (GRID, STREET),
        (GRID, "370705"),
        (HOUSEHOLD, BUILDING),
        (HOUSEHOLD, UNIT),
        ("370705001", "370705"),
    ],
)
def test_code_is_within_itself_and_its_ancestors(code, scope):
    assert is_within(code, scope)


@pytest.mark.parametrize(
    ("code", "scope"),
    [
        (COMMUNITY, GRID),
        ("370705002001", STREET),
        ("370705001001002", GRID),
        ("370706001", "370705"),
        (GRID, ""),
        (GRID, "3707"),
        (GRID, "3707050010"),
        ("", "370705"),
        ("37070500100x", "370705"),
    ],
)
def test_code_is_not_within_a_sibling_descendant_or_malformed_scope(code, scope):
    assert not is_within(code, scope)


def test_is_within_uses_the_scheme_for_wide_grids():
    scheme = CodeScheme(grid_width=4)
    assert is_within("3707050010010001001", "3707050010010001", scheme)
    assert not is_within("3707050010010001001", "3707050010010001")


# --- Kuiwen streets ---------------------------------------------------------------------------


def test_kuiwen_has_ten_street_codes():
    assert len(KUIWEN_STREETS) == 10


@pytest.mark.parametrize("code", sorted(KUIWEN_STREETS))
def test_every_kuiwen_street_is_a_valid_street_of_the_district(code):
    parent = KUIWEN_DISTRICT_CODE
    assert validate_child_code(code, Level.STREET, parent, existing_codes=(), retired_codes=()) == code
    assert KUIWEN_STREETS[code].endswith("街道")


def test_kuiwen_street_codes_skip_008_and_011():
    assert "370705008" not in KUIWEN_STREETS
    assert "370705011" not in KUIWEN_STREETS
    assert KUIWEN_STREETS["370705012"] == "北海路街道"
