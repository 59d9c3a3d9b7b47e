"""Free-text redaction of home addresses, health data and minors' data, and its configuration."""

import random
import uuid

import pytest

from youmin.kit.pii import (
    DEFAULT_HEALTH_TERMS,
    DEFAULT_MINOR_TERMS,
    HOME_ADDRESS_PATTERN,
    MINOR_AGE_PATTERN,
    PHONE_PATTERN,
    InvalidConfigError,
    MaskingRules,
    redact_text,
)

MARK = "[已隐去]"

# --- home addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("奎文区胜利东街123号5号楼2单元301室", f"奎文区胜利东街{MARK}"),
        ("幸福小区3号楼2单元502", f"幸福小区{MARK}"),
        ("东风东街88号", f"东风东街{MARK}"),
        ("东风东街88号院3号楼2单元502漏水", f"东风东街{MARK}漏水"),
        ("胜利路12号之3", f"胜利路{MARK}"),
        ("幸福里5号3单元201", f"幸福里{MARK}"),
        ("5号楼301室漏水", f"{MARK}漏水"),
        ("2单元502反映", f"{MARK}反映"),
        ("住户301室反映", f"住户{MARK}反映"),
        ("幸福小区3-2-301", f"幸福小区{MARK}"),
        ("家住幸福小区3号楼", f"家住{MARK}"),
        ("住址：幸福小区5号楼", f"住址：{MARK}"),
        ("家住东一路三号，常年独居", f"家住{MARK}，常年独居"),
        ("胜利东街１２３号", f"胜利东街{MARK}"),
        ("王某住李家村3组15号", f"王某住李家村3组{MARK}"),
        ("家住李家村三组十五号", f"家住{MARK}"),
        ("住光明花园A座1203", f"住光明花园{MARK}"),
        ("光明花园B2栋12层1203漏水", f"光明花园{MARK}漏水"),
        ("家住光明花园A座", f"家住{MARK}"),
        ("家住幸福小区三号楼二单元五零二", f"家住{MARK}"),
        ("幸福小区三号楼二单元五〇二室漏水", f"幸福小区{MARK}漏水"),
        ("胜利路12号3单元五零二", f"胜利路{MARK}"),
        # Forms of the district's own: a side of a floor, a stairwell door, building-room, lettered house numbers.
        ("3号楼2单元5楼东户门口堆放杂物", f"3号楼{MARK}门口堆放杂物"),
        ("幸福小区3号楼东户", f"幸福小区{MARK}"),
        ("3号楼2门502", MARK),
        ("3号楼2门洞502漏水", f"{MARK}漏水"),
        ("幸福小区3号楼2-502", f"幸福小区{MARK}"),
        ("幸福小区3#2-502", f"幸福小区{MARK}"),
        ("5号楼西单元301", MARK),
        ("胜利东街123-5号", f"胜利东街{MARK}"),
        ("胜利东街甲123号", f"胜利东街{MARK}"),
        ("3号楼2单元501、502两户", f"{MARK}两户"),
        ("3号楼2单元501户反映漏水", f"{MARK}户反映漏水"),
        ("3号楼1-502户", f"{MARK}户"),
        ("幸福路12号2门502", f"幸福路{MARK}"),
        ("住在阳光花园2门502", f"住在{MARK}"),
        ("幸福路12号院3号楼2门502", f"幸福路{MARK}"),
    ],
)
def test_home_address_in_text_is_removed(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "3号楼的路灯不亮",
        "3号楼2单元楼道灯不亮",
        "1号楼至5号楼外墙保温改造",
        "3月12号召开会议，12户居民参加",
        "奎政发〔2024〕12号",
        "胜利街道5号文件",
        "3号楼维修基金1200元",
        "3号楼2023年完成改造",
        "住在本小区的居民均可报名",
        "家住幸福小区",
        "两室一厅，3室1厅",
        "幸福路社区议事厅",
        "李家村3组召开村民会议",
        "第3组5号楼外墙改造",
        "A座大厅地面湿滑",
        "3号楼2单元一楼大厅",
        "二单元一二三四五户已签字",
        "3号楼2门",
        "3号楼西侧绿地",
        "小区东门502路公交站",
        "小区北2门502路公交站",
        "东门口停车",
        "北海路100-200号段雨污分流改造",
        "胜利东街10-20号路面修补完成",
        "3号楼东边户外活动区地面破损",
        "5号楼南户型为三室两厅",
        "该楼共6层2门120户",
        "3号楼1-1000元",
        "3号楼2单元共24户",
    ],
)
def test_shared_places_counts_and_document_numbers_stay(text):
    assert redact_text(text) == text


def test_home_address_pattern_finds_the_dwelling_only():
    assert [m.group(0) for m in HOME_ADDRESS_PATTERN.finditer("胜利东街123号和3号楼的路灯")] == ["123号"]


# --- health data ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("居民王某反映，其子患有抑郁症，希望社区关注。", f"居民王某反映，{MARK}，希望社区关注。"),
        ("王某肢体残疾，申请补助", f"{MARK}，申请补助"),
        ("议事决定：为患癌居民募捐（通过）", f"议事决定：{MARK}（通过）"),
        ("李某确诊糖尿病后住院治疗", MARK),
        ("其母精神疾病多年；申请救助", f"{MARK}；申请救助"),
        ("赵某怀孕五个月", MARK),
        ("HIV检测阳性", MARK),
        ("病情稳定。", f"{MARK}。"),
    ],
)
def test_clause_with_health_data_is_removed(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("term", DEFAULT_HEALTH_TERMS)
def test_every_default_health_term_is_removed(term):
    assert term not in redact_text(f"据了解，居民孙某{term}，已登记").replace(MARK, "")


@pytest.mark.parametrize(
    "text",
    [
        "发放残疾人两项补贴3200元",
        "区残疾人联合会走访慰问",
        "开展两癌筛查活动",
        "排查消防安全隐患12处",
        "组织居民免费测量血压",
    ],
)
def test_public_services_naming_a_condition_stay(text):
    assert redact_text(text) == text


# --- minors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("小明今年12岁，在读小学", f"{MARK}，在读小学"),
        ("其子未成年，由祖母照看", f"{MARK}，由祖母照看"),
        ("孙女3周岁", MARK),
        ("孩子十二岁了", MARK),
        ("女儿两岁", MARK),
        ("孩子12.5岁", MARK),
        ("孩子１２岁", MARK),
        ("帮扶留守儿童王某", MARK),
    ],
)
def test_clause_about_a_minor_is_removed(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("term", DEFAULT_MINOR_TERMS)
def test_every_default_minor_term_is_removed(term):
    assert term not in redact_text(f"走访中发现，{term}一名，已登记").replace(MARK, "")


@pytest.mark.parametrize(
    "text",
    [
        "6岁以下儿童免费，6至12岁半价",
        "3-6岁的儿童可报名",
        "18周岁以上居民过半数出席",
        "年满十八岁",
        "二十岁",
        "88岁老人",
        "开展未成年人保护法宣传",
    ],
)
def test_adult_ages_ranges_and_public_programmes_stay(text):
    assert redact_text(text) == text


@pytest.mark.parametrize("age", ["0岁", "9岁", "17岁", "17周岁", "十七岁", "十岁", "一岁"])
def test_ages_under_eighteen_are_found(age):
    assert MINOR_AGE_PATTERN.search(f"孩子{age}")


@pytest.mark.parametrize("age", ["18岁", "19岁", "118岁", "十八岁", "二十岁", "三十岁"])
def test_ages_of_eighteen_and_over_are_not_found(age):
    assert not MINOR_AGE_PATTERN.search(f"老人{age}")


# --- together with numbers and names ----------------------------------------------------------


def test_everything_personal_in_one_text_is_removed():
    text = "经办人王建国，家住幸福小区3号楼2单元502，电话13812345678。其女今年9岁，患有白血病。"
    out = redact_text(text, known_names=["王建国"])
    assert out == f"经办人王某，家住{MARK}，电话138****5678。{MARK}。"


def test_removed_clauses_in_a_row_become_one_marker():
    assert redact_text("慰问王某（残疾，长期住院）") == f"慰问王某（{MARK}）"
    assert redact_text("其子患病；其女3岁、未入学。其母住院。") == f"{MARK}。{MARK}。"


def test_full_width_phone_and_id_numbers_are_masked():
    text = "王建国（电话１３８００１３８０００，＋８６ １３９－１２３４－５６７８），身份证３７０７０５１９９００１０１１２３Ｘ"
    out = redact_text(text, known_names=["王建国"])
    assert out == "王某（电话138****8000，139****5678），身份证370705********123X"


def test_full_width_number_inside_an_identifier_stays():
    assert redact_text("编号ＡＢ１３８００１３８０００") == "编号ＡＢ１３８００１３８０００"


def test_long_text_of_exempt_phrases_and_conditions_keeps_only_the_exempt_phrases():
    # 110,000 characters with 10,000 exempt phrases and 20,000 term matches.
    text = "残疾人之家，王某残疾。" * 10_000
    assert redact_text(text) == f"残疾人之家，{MARK}。" * 10_000


def test_redaction_is_stable_when_applied_twice():
    once = redact_text("家住胜利东街123号，其子患有抑郁症，孩子12岁")
    assert redact_text(once) == once


# --- configuration ----------------------------------------------------------------------------


def test_each_free_text_category_can_be_switched_off():
    text = "家住胜利东街123号，其子患有抑郁症，孩子12岁"
    rules = MaskingRules(text_addresses=False, text_health=False, text_minors=False)
    assert redact_text(text, rules) == text
    assert redact_text(text, MaskingRules(text_health=False)) == f"家住{MARK}，其子患有抑郁症，{MARK}"


def test_the_marker_is_configured():
    assert redact_text("其子患有抑郁症", MaskingRules(removed_marker="××")) == "××"


def test_extra_terms_add_to_the_defaults():
    rules = MaskingRules.from_mapping({"extra_health_terms": ["痛风"], "extra_minor_terms": ["初中生"]})
    assert redact_text("王某痛风。李某是初中生。张某抑郁症", rules) == f"{MARK}。{MARK}。{MARK}"


def test_terms_replace_the_defaults():
    rules = MaskingRules.from_mapping({"health_terms": ["痛风"]})
    assert redact_text("王某痛风。张某抑郁症", rules) == f"{MARK}。张某抑郁症"


def test_extra_exempt_phrases_keep_a_public_programme():
    rules = MaskingRules.from_mapping({"extra_exempt_phrases": ["高血压义诊"]})
    assert redact_text("开展高血压义诊", rules) == "开展高血压义诊"
    assert redact_text("开展高血压义诊") == MARK


def test_terms_from_configuration_are_normalised_and_hashable():
    rules = MaskingRules.from_mapping({"health_terms": [" 痛风 ", "痛风"]})
    assert rules.health_terms == ("痛风",)
    assert hash(rules) == hash(MaskingRules.from_mapping({"health_terms": ["痛风"]}))


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"text_health": "yes"}, "text_health"),
        ({"text_addresses": 1}, "text_addresses"),
        ({"health_terms": "癌"}, "health_terms"),
        ({"minor_terms": [""]}, "minor_terms"),
        ({"extra_exempt_phrases": [3]}, "extra_exempt_phrases"),
        ({"extra_colours": ["red"]}, "extra_colours"),
        ({"removed_marker": "x" * 21}, "removed_marker"),
        ({"removed_marker": 0}, "removed_marker"),
    ],
)
def test_bad_free_text_config_names_the_key(data, key):
    with pytest.raises(InvalidConfigError) as caught:
        MaskingRules.from_mapping(data)
    assert caught.value.key == key


@pytest.mark.parametrize("written", ["370705 19900101 123X", "370705-19900101-123X"])
def test_an_id_number_written_in_groups_is_masked(written):
    assert redact_text(f"身份证 {written} 已核实") == "身份证 370705********123X 已核实"


# --- e-mail addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("邮箱 lijianguo@163.com，楼道灯坏了", "邮箱 l***@163.com，楼道灯坏了"),
        ("联系13812341234@qq.com", "联系1***@qq.com"),  # the whole address, not the phone inside it
        ("a.b-c+d@mail.sdu.edu.cn。", "a***@mail.sdu.edu.cn。"),
        ("门票@5元，x@y 不是地址", "门票@5元，x@y 不是地址"),
    ],
)
def test_an_email_address_keeps_its_first_character_and_domain(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(("text", "kept"), [
    ("联系电话-13812345678", "联系电话-"), ("Tel.13812345678", "Tel."), ("第1.13812345678", "第1."),
    ("电话138\u00a01234\u00a05678", "电话"), ("电话138\t1234  5678", "电话"), ("手机1381 2345 678", "手机"),
    ("电话：138‐1234‐5678", "电话："),
])
def test_a_mobile_number_after_a_sign_or_split_by_any_spaces_or_dashes_is_masked(text: str, kept: str) -> None:
    out = redact_text(text)
    assert out == kept + "138****5678", out
    assert not PHONE_PATTERN.search(out.replace("****", ""))


@pytest.mark.parametrize("text", ["ID370705199001011234", "身份证号sfz370705199001011234", "370705 1990 0101 123x",
                                  "370705-19900101-1234"])
def test_an_id_number_after_letters_or_grouped_in_fours_is_masked(text: str) -> None:
    out = redact_text(text)
    assert "19900101" not in out.replace(" ", "").replace("-", "") and "********" in out, out


@pytest.mark.parametrize("text", ["7d50abdd-2a93-4c24-a305-139381234567", "370705001001001", "13,812,345,678元",
                                  "3707050010010010010101"])
def test_identifiers_codes_and_amounts_are_not_taken_for_numbers(text: str) -> None:
    assert redact_text(text) == text


# --- bank cards, messenger accounts, numbers written with wide gaps -------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("支付劳务费500元，工行卡号6222 0212 3456 7890 123", "支付劳务费500元，工行卡号***************0123"),
        ("卡号：6217000010001234567 已付", "卡号：***************4567 已付"),
        ("退至账号 12345678901234", "退至账号 **********1234"),
        ("转入6222021234567890", "转入************7890"),
        ("联系人微信zhangwei1990，QQ 12345678", "联系人微信z***，QQ 1***"),
        ("微信号：wx_li-88", "微信号：w***"),
        ("微信：1391234567", "微信：1***"),
        ("QQ：123456789012", "QQ：1***"),
        ("电话0536—8888888", "电话053****8888"),
        ("电话0536 888 8888", "电话053****8888"),
        ("手机138 - 1234 - 5678", "手机138****5678"),
    ],
)
def test_cards_accounts_and_gapped_numbers_are_masked(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", ["微信群里已通知", "QQ群123", "订单号20231234", "微信公众号推送", "维修基金1200元",
                                  "群众可通过微信12345小程序反映诉求"])
def test_words_about_messengers_and_short_numbers_stay(text):
    assert redact_text(text) == text


@pytest.mark.parametrize("identifier", [
    "04808077-3191-4a5b-8c9d-0123456789ab",  # a landline's shape at its start (0480 8077-3191)
    "62450103-4991-5900-4a11-a8dfa6e73d48",  # a UnionPay card's (62 and 16 digits in groups)
    "08ddde05-218b-e643-6275-325050473472",  # a card's in its last two groups
])
def test_a_uuid_shaped_like_a_number_is_left_alone(identifier):
    for text in (identifier, f"编号{identifier}。", f"id {identifier} ok"):
        assert redact_text(text) == text


def test_uuids_pass_through_redaction_unchanged():
    rng = random.Random(20261129)
    changed = [u for u in (str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(20_000)) if redact_text(u) != u]
    assert changed == []
