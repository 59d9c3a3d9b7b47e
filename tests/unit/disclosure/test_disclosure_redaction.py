"""Redaction of disclosure content: dropped keys, masked names, redacted free text."""

import copy

import pytest

from services.disclosure.rules.redaction import (
    DEFAULT_ADDRESS_KEYS,
    DEFAULT_SENSITIVE_KEYS,
    RedactionConfig,
    normalise_key,
    redact_content,
)
from youmin.kit.pii import InvalidConfigError, MaskingRules

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def make_id(born: str = "19900101") -> str:
    """Builds a synthetic 18-character ID number with a correct check character."""
    body = "370705" + born + "123"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]


@pytest.mark.parametrize(
    "key",
    ["phone", "mobile", "id_number", "address", "health", "medical", "minor", "minors", "birth_date"],
)
def test_default_sensitive_key_is_dropped(key):
    assert redact_content({key: "任意内容", "title": "公示"}) == {"title": "公示"}


@pytest.mark.parametrize(
    "key",
    [
        "contact_phone", "applicant_mobile", "home_address", "holder_id_number",
        "contactPhone", "Phone-Number", "ID_NUMBER",
    ],
)
def test_keys_like_sensitive_ones_are_dropped(key):
    assert key not in redact_content({key: "x"})


def test_sensitive_key_is_dropped_with_a_nested_value():
    content = {"minors": [{"name": "王小明", "school": "某小学"}], "title": "助学"}
    assert redact_content(content) == {"title": "助学"}


@pytest.mark.parametrize("key", ["name", "person_name", "applicant_name", "payeeName", "full_name"])
def test_name_key_keeps_the_surname_only(key):
    assert redact_content({key: "张三丰"}) == {key: "张某"}


def test_list_of_names_is_masked():
    assert redact_content({"participant_names": ["张三", "欧阳修"]}) == {"participant_names": ["张某", "欧阳某"]}


@pytest.mark.parametrize("key", ["community_name", "street_name", "project_name", "department_name"])
def test_org_and_thing_names_are_not_masked(key):
    assert redact_content({key: "苇湾社区"}) == {key: "苇湾社区"}


def test_name_seen_under_a_name_key_is_masked_in_free_text():
    content = {"applicant_name": "李四", "summary": "李四反映楼道灯不亮"}
    assert redact_content(content)["summary"] == "李某反映楼道灯不亮"


def test_name_from_a_deeper_level_is_masked_in_text_elsewhere():
    content = {"summary": "感谢赵六捐款", "donors": [{"name": "赵六", "amount": 500}]}
    assert redact_content(content)["summary"] == "感谢赵某捐款"


def test_names_under_dropped_keys_are_not_needed_but_still_known_names_apply():
    out = redact_content({"note": "孙七来电"}, known_names=["孙七"])
    assert out == {"note": "孙某来电"}


def test_free_text_phone_and_id_numbers_are_masked():
    id_number = make_id("19850505")
    out = redact_content({"note": f"联系13812345678，证件{id_number}，座机0536-1234567"})
    assert "13812345678" not in out["note"]
    assert "19850505" not in out["note"]
    assert "0536-1234567" not in out["note"]


def test_nested_lists_and_dicts_are_redacted():
    content = {"items": [{"rows": [["13812345678", 1]], "ok": True}]}
    assert redact_content(content) == {"items": [{"rows": [["138****5678", 1]], "ok": True}]}


def test_phone_stored_as_a_number_is_masked():
    assert redact_content({"contact": 13812345678}) == {"contact": "138****5678"}


def test_ordinary_numbers_and_scalars_pass_through():
    content = {"amount": 200000, "rate": 0.5, "closed": False, "note": None}
    assert redact_content(content) == content


def test_bool_is_not_treated_as_a_number():
    assert redact_content([True, False]) == [True, False]


def test_top_level_string_is_redacted():
    assert redact_content("电话13812345678") == "电话138****5678"


def test_tuples_become_lists():
    assert redact_content(("a", "b")) == ["a", "b"]


def test_non_string_keys_are_kept():
    assert redact_content({1: "13812345678"}) == {1: "138****5678"}


def test_input_is_not_modified():
    content = {"applicant_name": "李四", "phone": "13812345678", "rows": [{"note": "13812345678"}]}
    before = copy.deepcopy(content)
    redact_content(content)
    assert content == before


def test_sensitive_key_wins_over_a_name_key():
    config = RedactionConfig(sensitive_keys={"name"})
    assert redact_content({"name": "张三"}, config) == {}


def test_key_normalisation():
    assert normalise_key("contactPhone") == "contact_phone"
    assert normalise_key("ID-Number") == "id_number"
    assert normalise_key("birth date") == "birth_date"


# --- configuration ----------------------------------------------------------------------------


def test_default_config_from_an_empty_mapping():
    assert RedactionConfig.from_mapping({}) == RedactionConfig()


def test_extra_sensitive_keys_add_to_the_defaults():
    config = RedactionConfig.from_mapping({"extra_sensitive_keys": ["plate_number"]})
    assert config.is_sensitive("plate_number")
    assert config.is_sensitive("phone")


def test_sensitive_keys_replace_the_defaults():
    config = RedactionConfig.from_mapping({"sensitive_keys": ["salary"]})
    assert config.is_sensitive("salary")
    assert not config.is_sensitive("phone")


def test_extra_non_name_keys_stop_masking():
    config = RedactionConfig.from_mapping({"extra_non_name_keys": ["shop_name"]})
    assert redact_content({"shop_name": "幸福超市"}, config) == {"shop_name": "幸福超市"}


def test_masking_rules_come_from_the_mapping():
    config = RedactionConfig.from_mapping({"masking": {"name": "remove", "phone_keep_first": 0}})
    out = redact_content({"name": "张三", "note": "13812345678"}, config)
    assert out == {"name": "", "note": "*******5678"}


def test_configured_patterns_are_normalised():
    config = RedactionConfig.from_mapping({"sensitive_keys": ["PlateNumber"]})
    assert config.is_sensitive("plate_number")


def test_default_sensitive_keys_include_the_required_ones():
    required = {"phone", "mobile", "id_number", "health", "medical", "minor", "minors"}
    required.add("birth_date")
    assert required <= DEFAULT_SENSITIVE_KEYS
    assert {"address", "*_address", "addresses"} <= DEFAULT_ADDRESS_KEYS


# --- address fields (masking.address) -----------------------------------------------------------

ADDRESS = "山东省潍坊市奎文区东关街道苇湾社区3号楼2单元301室"


@pytest.mark.parametrize("key", ["address", "home_address", "homeAddress", "addresses", "residence"])
def test_address_field_is_dropped_by_default(key):
    assert redact_content({key: ADDRESS, "title": "公示"}) == {"title": "公示"}


def test_address_field_is_cut_to_the_community_when_configured():
    config = RedactionConfig.from_mapping({"masking": {"address": "community"}})
    assert redact_content({"home_address": ADDRESS}, config) == {"home_address": "山东省潍坊市奎文区东关街道苇湾社区"}


def test_address_field_is_cut_to_the_street_when_configured():
    config = RedactionConfig.from_mapping({"masking": {"address": "street"}})
    assert redact_content({"address": ADDRESS}, config) == {"address": "山东省潍坊市奎文区东关街道"}


def test_address_without_a_level_is_dropped_even_when_levels_are_kept():
    config = RedactionConfig.from_mapping({"masking": {"address": "community"}})
    assert redact_content({"address": "胜利东街100号", "title": "公示"}, config) == {"title": "公示"}


def test_a_list_of_addresses_keeps_only_those_with_a_level():
    config = RedactionConfig.from_mapping({"masking": {"address": "community"}})
    content = {"addresses": [ADDRESS, "胜利东街100号", "东关街道苇湾居委会5号楼"]}
    assert redact_content(content, config) == {"addresses": ["山东省潍坊市奎文区东关街道苇湾社区", "东关街道苇湾居委会"]}


def test_a_structured_address_is_dropped_even_when_levels_are_kept():
    config = RedactionConfig.from_mapping({"masking": {"address": "community"}})
    content = {"address": {"community": "苇湾社区", "room": "301"}, "title": "公示"}
    assert redact_content(content, config) == {"title": "公示"}


def test_a_sensitive_key_wins_over_an_address_key():
    config = RedactionConfig.from_mapping({"masking": {"address": "community"}, "extra_sensitive_keys": ["home_address"]})
    assert redact_content({"home_address": ADDRESS}, config) == {}


def test_extra_address_keys_add_to_the_defaults():
    config = RedactionConfig.from_mapping({"masking": {"address": "street"}, "extra_address_keys": ["location"]})
    assert redact_content({"location": ADDRESS, "address": ADDRESS}, config) == {
        "location": "山东省潍坊市奎文区东关街道", "address": "山东省潍坊市奎文区东关街道"}


# --- free text in content -----------------------------------------------------------------------


def test_free_text_loses_addresses_health_and_minors_data():
    content = {"body": "经办人王某，家住幸福小区3号楼2单元502。其女今年9岁，患有白血病。", "held_on": "2026-03-01"}
    out = redact_content(content)
    assert out == {"body": "经办人王某，家住[已隐去]。[已隐去]。", "held_on": "2026-03-01"}


def test_free_text_rules_come_from_the_masking_mapping():
    config = RedactionConfig.from_mapping({"masking": {"text_health": False, "extra_minor_terms": ["初中生"]}})
    out = redact_content({"note": "王某住院，其子是初中生"}, config)
    assert out == {"note": "王某住院，[已隐去]"}


def _bad_key(data):
    with pytest.raises(InvalidConfigError) as caught:
        RedactionConfig.from_mapping(data)
    return caught.value.key


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"sensitive": ["x"]}, "sensitive"),
        ({"sensitive_keys": "phone"}, "sensitive_keys"),
        ({"sensitive_keys": 5}, "sensitive_keys"),
        ({"extra_name_keys": [""]}, "extra_name_keys"),
        ({"non_name_keys": [3]}, "non_name_keys"),
        ({"masking": {"phone_keep_first": -1}}, "masking.phone_keep_first"),
        ({"masking": {"colour": "red"}}, "masking.colour"),
        ({"masking": "strict"}, "masking"),
        ({"masking": {"address": "building"}}, "masking.address"),
        ({"masking": {"extra_health_terms": "癌"}}, "masking.extra_health_terms"),
        ({"extra_address_keys": [""]}, "extra_address_keys"),
    ],
)
def test_bad_redaction_config_names_the_key(data, key):
    assert _bad_key(data) == key


def test_config_must_be_a_mapping():
    assert _bad_key([]) == "redaction"


def test_config_masking_must_be_masking_rules():
    with pytest.raises(InvalidConfigError):
        RedactionConfig(masking={"name": "remove"})  # type: ignore[arg-type]


def test_config_accepts_masking_rules_directly():
    config = RedactionConfig(masking=MaskingRules(name="surname_stars"))
    assert redact_content({"name": "张三丰"}, config) == {"name": "张**"}


def test_amounts_are_published_as_they_are_whatever_their_digits_look_like():
    # A finance line of ¥138,123,456.78 is 13812345678 cents: masked as a phone number it was a wrong figure.
    line = {"fund_type": "party_service", "income_cents": 13812345678, "expenditure_cents": 0,
            "balance_cents": 13812345678, "note": "联系 13812345678"}
    redacted = redact_content({"lines": [line], "total_income_cents": 13812345678})
    assert redacted["lines"][0]["income_cents"] == 13812345678 and redacted["total_income_cents"] == 13812345678
    assert "13812345678" not in redacted["lines"][0]["note"]  # free text is still redacted
    # A number under any other key that looks like a phone number is still masked.
    assert redact_content({"contact": 13812345678})["contact"] != 13812345678
