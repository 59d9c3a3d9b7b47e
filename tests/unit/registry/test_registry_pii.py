"""Personal-data rules: ID numbers, mobiles, age, masking and free-text redaction."""

from datetime import date

import pytest

from youmin.kit.pii import (
    COMPOUND_SURNAMES,
    ID_NUMBER_PATTERN,
    LANDLINE_PATTERN,
    MOBILE_PATTERN,
    PHONE_PATTERN,
    InvalidConfigError,
    MaskingRules,
    PiiValidationError,
    age_on,
    birth_date_from_id_number,
    id_check_char,
    is_adult,
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
    redact_text,
    validate_id_number,
    validate_mobile,
)

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def make_id(region: str = "370705", born: str = "19900101", sequence: str = "123") -> str:
    """Builds a synthetic 18-character ID number with a correct check character."""
    body = region + born + sequence
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]


def make_id_with_x() -> str:
    """Returns a synthetic ID number whose check character is X."""
    for n in range(1000):
        candidate = make_id(sequence=f"{n:03d}")
        if candidate.endswith("X"):
            return candidate
    raise AssertionError("no X check character found")


def with_wrong_check(id_number: str) -> str:
    wrong = "0" if id_number[-1] != "0" else "1"
    return id_number[:-1] + wrong


def _reason(callable_, value):
    with pytest.raises(PiiValidationError) as caught:
        callable_(value)
    return caught.value


# --- ID numbers -------------------------------------------------------------------------------


def test_standard_example_id_number_is_valid():
    # The example number printed in GB 11643-1999.
    assert validate_id_number("11010519491231002X") == "11010519491231002X"


def test_check_char_matches_the_standard_example():
    assert id_check_char("11010519491231002") == "X"
    assert id_check_char("44052418800101001") == "4"


def test_generated_id_number_is_valid():
    id_number = make_id()
    assert validate_id_number(id_number) == id_number


def test_lowercase_x_is_normalised_to_uppercase():
    id_number = make_id_with_x()
    assert validate_id_number(id_number.lower()) == id_number


def test_surrounding_whitespace_is_stripped():
    id_number = make_id()
    assert validate_id_number(f"  {id_number}\n") == id_number


def test_wrong_check_char_is_refused():
    error = _reason(validate_id_number, with_wrong_check(make_id()))
    assert error.field == "id_number"
    assert "check" in error.reason


@pytest.mark.parametrize("value", ["", make_id()[:17], make_id() + "0", "1" * 15])
def test_id_number_of_the_wrong_length_is_refused(value):
    assert "18" in _reason(validate_id_number, value).reason


@pytest.mark.parametrize(
    "value", ["37070519900101X234", "3707051990O1011234", "37070519900101123Y", "３７０７０５１９９００１０１１２３"]
)
def test_id_number_with_a_bad_character_is_refused(value):
    assert _reason(validate_id_number, value).field == "id_number"


@pytest.mark.parametrize("born", ["19900230", "19901301", "19900001", "19900100", "19000229", "17991231", "18500101"])
def test_id_number_with_an_impossible_birth_date_is_refused(born):
    assert "birth date" in _reason(validate_id_number, make_id(born=born)).reason


@pytest.mark.parametrize("region", ["000000", "990101", "100101", "390101"])
def test_id_number_whose_address_code_names_no_province_is_refused(region):
    assert "province" in _reason(validate_id_number, make_id(region=region)).reason


@pytest.mark.parametrize("region", ["110105", "370705", "650102", "810000", "830000"])
def test_id_numbers_of_every_province_and_of_hong_kong_macao_and_taiwan_residents_are_valid(region):
    assert validate_id_number(make_id(region=region)) == make_id(region=region)


def test_id_number_born_on_a_leap_day_is_valid():
    assert birth_date_from_id_number(make_id(born="20000229")) == date(2000, 2, 29)


def test_non_string_id_number_is_refused():
    assert _reason(validate_id_number, 370705199001011234).field == "id_number"


def test_birth_date_is_read_from_the_id_number():
    assert birth_date_from_id_number(make_id(born="19851123")) == date(1985, 11, 23)


def test_birth_date_of_an_invalid_id_number_is_refused():
    with pytest.raises(PiiValidationError):
        birth_date_from_id_number(with_wrong_check(make_id()))


def test_validation_error_is_a_value_error_with_field_and_reason():
    error = PiiValidationError("mobile", "too short")
    assert isinstance(error, ValueError)
    assert (error.field, error.reason) == ("mobile", "too short")


@pytest.mark.parametrize("body", ["1234", "1101051949123100X", "1101051949123100２"])
def test_check_char_needs_seventeen_ascii_digits(body):
    with pytest.raises(PiiValidationError):
        id_check_char(body)


# --- mobile numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13812345678",
        "+8613812345678",
        "8613812345678",
        "008613812345678",
        "+86 138 1234 5678",
        "138-1234-5678",
        " 138 1234-5678 ",
    ],
)
def test_mobile_is_normalised_to_eleven_digits(value):
    assert validate_mobile(value) == "13812345678"


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_every_mobile_prefix_from_13_to_19_is_accepted(prefix):
    assert validate_mobile(prefix + "912345678") == prefix + "912345678"


@pytest.mark.parametrize(
    "value",
    [
        "12812345678", "10812345678", "1381234567", "138123456789", "1381234567a",
        "05361234567", "+8513812345678", "", "８613812345678",
    ],
)
def test_invalid_mobile_is_refused(value):
    assert _reason(validate_mobile, value).field == "mobile"


def test_non_string_mobile_is_refused():
    assert _reason(validate_mobile, 13812345678).field == "mobile"


# --- age ----------------------------------------------------------------------------------------


def test_age_is_one_less_the_day_before_the_birthday():
    assert age_on(date(2000, 6, 15), date(2018, 6, 14)) == 17


def test_age_counts_on_the_birthday_itself():
    assert age_on(date(2000, 6, 15), date(2018, 6, 15)) == 18


def test_age_on_the_day_of_birth_is_zero():
    assert age_on(date(2000, 6, 15), date(2000, 6, 15)) == 0


def test_leap_day_birthday_falls_on_28_february_in_a_common_year():
    assert age_on(date(2004, 2, 29), date(2022, 2, 28)) == 18
    assert age_on(date(2004, 2, 29), date(2022, 2, 27)) == 17


def test_leap_day_birthday_falls_on_29_february_in_a_leap_year():
    assert age_on(date(2000, 2, 29), date(2024, 2, 28)) == 23
    assert age_on(date(2000, 2, 29), date(2024, 2, 29)) == 24


def test_age_before_birth_is_refused():
    with pytest.raises(ValueError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


def test_person_is_adult_on_the_eighteenth_birthday():
    assert is_adult(date(2006, 3, 1), date(2024, 3, 1))


def test_person_is_not_adult_the_day_before_the_eighteenth_birthday():
    assert not is_adult(date(2006, 3, 1), date(2024, 2, 29))


def test_leap_day_born_person_is_adult_on_28_february():
    assert is_adult(date(2004, 2, 29), date(2022, 2, 28))
    assert not is_adult(date(2004, 2, 29), date(2022, 2, 27))


def test_adult_age_is_configurable():
    assert is_adult(date(2008, 1, 1), date(2024, 1, 1), age=16)
    assert not is_adult(date(2008, 1, 1), date(2024, 1, 1))


def test_person_not_yet_born_is_not_adult():
    assert not is_adult(date(2030, 1, 1), date(2024, 1, 1))


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "masked"), [("张三丰", "张某"), ("张三", "张某"), ("张", "张某"), ("  李四 ", "李某")])
def test_name_keeps_the_surname_only(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    "surname",
    ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
     "宇文", "司徒", "夏侯", "令狐", "端木", "独孤", "南宫", "西门"],
)
def test_compound_surname_is_kept_whole(surname):
    assert surname in COMPOUND_SURNAMES
    assert mask_name(surname + "明") == surname + "某"


def test_compound_surname_with_a_two_character_given_name_is_kept_whole():
    assert mask_name("诸葛孔明") == "诸葛某"


def test_two_character_name_starting_like_a_compound_surname_keeps_one_character():
    assert mask_name("欧阳") == "欧某"


def test_empty_name_masks_to_empty():
    assert mask_name("  ") == ""


def test_name_can_be_masked_with_stars():
    rules = MaskingRules(name="surname_stars")
    assert mask_name("张三丰", rules) == "张**"
    assert mask_name("欧阳修", rules) == "欧阳*"


def test_name_can_be_removed():
    assert mask_name("张三", MaskingRules(name="remove")) == ""


def test_name_placeholder_is_configurable():
    assert mask_name("张三", MaskingRules(placeholder="*")) == "张*"


# --- phone, ID and address masking ------------------------------------------------------------


def test_mobile_keeps_the_first_three_and_last_four_digits():
    assert mask_phone("13812341234") == "138****1234"


def test_mobile_with_prefix_and_separators_is_masked_as_eleven_digits():
    assert mask_phone("+86 138-1234-1234") == "138****1234"


def test_phone_mask_is_configurable():
    assert mask_phone("13812341234", MaskingRules(phone_keep_first=0, phone_keep_last=4)) == "*******1234"
    assert mask_phone("13812341234", MaskingRules(phone_keep_first=0, phone_keep_last=0)) == "***********"


def test_landline_is_masked_over_its_digits():
    assert mask_phone("0536-1234567") == "053****4567"


def test_short_phone_is_masked_entirely():
    assert mask_phone("12345") == "*****"


def test_id_number_keeps_the_first_six_and_last_four():
    id_number = make_id(born="19900101", sequence="123")
    assert mask_id_number(id_number) == "370705********" + id_number[-4:]


def test_id_number_mask_uppercases_x():
    id_number = make_id_with_x()
    assert mask_id_number(id_number.lower()).endswith("X")


def test_id_number_mask_hides_the_birth_date():
    id_number = make_id(born="19851123")
    assert "19851123" not in mask_id_number(id_number)


def test_id_number_mask_is_configurable():
    masked = mask_id_number(make_id(), MaskingRules(id_number_keep_first=0, id_number_keep_last=0))
    assert masked == "*" * 18


ADDRESS = "山东省潍坊市奎文区东关街道苇湾社区12号楼3单元401室"


def test_address_is_removed_by_default():
    assert mask_address(ADDRESS) == ""


def test_address_can_keep_up_to_the_community():
    assert mask_address(ADDRESS, MaskingRules(address="community")) == "山东省潍坊市奎文区东关街道苇湾社区"


def test_address_can_keep_up_to_the_street():
    assert mask_address(ADDRESS, MaskingRules(address="street")) == "山东省潍坊市奎文区东关街道"


def test_community_level_address_without_a_community_falls_back_to_the_street():
    rules = MaskingRules(address="community")
    assert mask_address("奎文区东关街道胜利东街100号", rules) == "奎文区东关街道"


def test_address_without_any_level_marker_is_removed():
    assert mask_address("胜利东街100号", MaskingRules(address="community")) == ""


def test_residents_committee_address_is_cut_after_the_committee():
    rules = MaskingRules(address="community")
    assert mask_address("东关街道苇湾居委会3号楼", rules) == "东关街道苇湾居委会"


# --- masking configuration --------------------------------------------------------------------


def test_masking_rules_are_built_from_a_mapping():
    rules = MaskingRules.from_mapping({"name": "remove", "phone_keep_first": 0, "address": "community"})
    assert (rules.name, rules.phone_keep_first, rules.address) == ("remove", 0, "community")
    assert rules.phone_keep_last == 4


def test_empty_mapping_gives_the_defaults():
    assert MaskingRules.from_mapping({}) == MaskingRules()


def _bad_key(data):
    with pytest.raises(InvalidConfigError) as caught:
        MaskingRules.from_mapping(data)
    assert isinstance(caught.value, ValueError)
    return caught.value.key


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"phone_mask": 3}, "phone_mask"),
        ({"name": "full"}, "name"),
        ({"name": ["surname"]}, "name"),
        ({"address": "building"}, "address"),
        ({"phone_keep_first": -1}, "phone_keep_first"),
        ({"phone_keep_first": "3"}, "phone_keep_first"),
        ({"phone_keep_last": True}, "phone_keep_last"),
        ({"phone_keep_first": 4, "phone_keep_last": 4}, "phone_keep_last"),
        ({"id_number_keep_first": 7}, "id_number_keep_first"),
        ({"id_number_keep_last": 5}, "id_number_keep_last"),
        ({"mask_char": "**"}, "mask_char"),
        ({"placeholder": ""}, "placeholder"),
    ],
)
def test_bad_masking_config_names_the_key(data, key):
    assert _bad_key(data) == key


def test_masking_config_must_be_a_mapping():
    assert _bad_key(["name"]) == "masking"


def test_bad_key_is_named_in_the_message():
    with pytest.raises(ValueError, match="phone_mask"):
        MaskingRules.from_mapping({"phone_mask": 3})


# --- free-text redaction ----------------------------------------------------------------------


def test_id_number_in_text_is_masked():
    id_number = make_id(born="19900101")
    out = redact_text(f"身份证号{id_number}。")
    assert id_number not in out and "19900101" not in out
    assert out == f"身份证号370705********{id_number[-4:]}。"


def test_id_number_with_lowercase_x_in_text_is_masked():
    id_number = make_id_with_x().lower()
    assert id_number[6:14] not in redact_text(f"号码 {id_number} 已登记")


def test_id_number_with_a_wrong_check_char_is_still_masked():
    id_number = with_wrong_check(make_id())
    assert id_number not in redact_text(id_number)


def test_old_fifteen_digit_id_number_is_masked_without_any_digit_of_its_birth_date():
    # 370705 | 850101 (born 1985-01-01) | 123: the last four characters would show the day's last digit.
    assert redact_text("旧证370705850101123号") == "旧证370705******123号"


@pytest.mark.parametrize(
    "phone",
    [
        "13812345678", "+8613812345678", "+86 138 1234 5678", "86-138-1234-5678",
        "138-1234-5678", "138 1234 5678", "008613812345678",
    ],
)
def test_mobile_in_text_is_masked(phone):
    assert redact_text(f"联系电话：{phone}，谢谢") == "联系电话：138****5678，谢谢"


@pytest.mark.parametrize(
    "phone", ["0536-1234567", "0536 1234567", "05361234567", "(0536)1234567", "010-12345678"]
)
def test_landline_in_text_is_masked(phone):
    out = redact_text(f"座机{phone}。")
    assert out.startswith("座机") and out.endswith("。")
    assert phone not in out and "*" in out


def test_known_names_are_masked():
    assert redact_text("张三丰和李四参加了会议", known_names=["张三丰", "李四"]) == "张某和李某参加了会议"


def test_longer_known_name_wins_over_its_prefix():
    assert redact_text("张三丰发言", known_names=["张三", "张三丰"]) == "张某发言"


def test_blank_known_names_are_ignored():
    assert redact_text("会议照常", known_names=["", "  "]) == "会议照常"


def test_known_names_with_regex_characters_are_matched_literally():
    assert redact_text("a.b 和 axb", known_names=["a.b"]) == "a某 和 axb"


def test_names_can_be_removed_from_text():
    assert redact_text("张三发言", MaskingRules(name="remove"), ["张三"]) == "发言"


@pytest.mark.parametrize(
    "text",
    [
        "网格370705001001001完成走访",
        "楼栋370705001001001001",
        "户370705001001001001010001",
        "社区370705001001",
        "党建经费200000元，每千户26000元",
        "2024-03-01 会议纪要",
        "编号138123456789012",
        "订单号A13812345678",
    ],
)
def test_text_without_personal_data_is_unchanged(text):
    assert redact_text(text) == text


def test_redaction_applies_the_configured_phone_mask():
    assert redact_text("13812345678", MaskingRules(phone_keep_first=0, phone_keep_last=0)) == "*" * 11


def test_patterns_are_compiled_and_reusable():
    id_number = make_id()
    assert ID_NUMBER_PATTERN.search(f"证件{id_number}")
    assert MOBILE_PATTERN.search("电话13812345678")
    assert LANDLINE_PATTERN.search("电话0536-1234567")
    assert PHONE_PATTERN.search("电话13812345678") and PHONE_PATTERN.search("电话0536-1234567")
    assert not ID_NUMBER_PATTERN.search("370705001001001")
    assert not PHONE_PATTERN.search("370705001001")
