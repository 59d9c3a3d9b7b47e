import pytest

from services.matters.rules.routing import (
    Category,
    Channel,
    Nature,
    ScopeLevel,
    bigram_codes,
    propose_channel,
    similarity,
    suggest_duplicates,
    title_bigrams,
)


def test_there_are_exactly_the_six_channels():
    assert {c.value for c in Channel} == {
        "residents_meeting",
        "deliberation",
        "neighbourhood",
        "supervision",
        "covenant",
        "social_organisation",
    }
    assert Channel.RESIDENTS_MEETING.label == "居民(代表)会议"
    assert Channel.COVENANT.label == "居民公约"


@pytest.mark.parametrize(
    ("scope", "channel"),
    [
        ("community", "residents_meeting"),
        ("grid", "neighbourhood"),
        ("building", "neighbourhood"),
        ("unit", "neighbourhood"),
    ],
)
def test_general_matter_is_routed_by_its_scope(scope, channel):
    assert propose_channel(scope, "general").channel == channel


def test_nature_defaults_to_general():
    assert propose_channel(ScopeLevel.COMMUNITY).channel is Channel.RESIDENTS_MEETING


@pytest.mark.parametrize(
    ("nature", "channel"),
    [
        ("covenant", "covenant"),
        ("supervision", "supervision"),
        ("service", "social_organisation"),
        ("social_organisation", "social_organisation"),
        ("dispute_of_interest", "deliberation"),
        ("deliberation", "deliberation"),
    ],
)
@pytest.mark.parametrize("scope", ["community", "unit"])
def test_a_matters_nature_overrides_its_scope(nature, channel, scope):
    assert propose_channel(scope, nature).channel == channel


def test_every_proposal_explains_itself():
    for scope in ScopeLevel:
        for nature in Nature:
            assert propose_channel(scope, nature).reason.strip()


def test_covenant_reason_mentions_the_meeting_and_the_filing():
    reason = propose_channel("community", "covenant").reason
    assert "居民会议" in reason
    assert "备案" in reason


def test_building_reason_names_the_building_forum():
    assert "楼院共建会" in propose_channel("building").reason
    assert "单元互助会" in propose_channel("unit").reason


def test_unknown_scope_or_nature_is_named():
    with pytest.raises(ValueError, match="scope_level"):
        propose_channel("street", "general")
    with pytest.raises(ValueError, match="nature"):
        propose_channel("community", "complaint")


CATEGORY_CODES = {
    "城市管理": "city_management",
    "社会治理": "social_governance",
    "土地征收": "land_expropriation",
    "社会治安": "public_order",
    "城市创建": "city_campaigns",
    "物业管理": "property_management",
    "老旧小区改造": "old_estate_renovation",
    "环境卫生": "environmental_sanitation",
    "公共安全": "public_safety",
    "社区发展规划": "community_planning",
}


def test_categories_keep_their_stable_codes():
    assert {c.label: c.value for c in Category} == CATEGORY_CODES


@pytest.mark.parametrize(("label", "code"), list(CATEGORY_CODES.items()))
def test_category_is_found_by_its_chinese_name(label, code):
    assert Category.from_label(label) == code


def test_unknown_category_name_is_refused():
    with pytest.raises(ValueError, match="category"):
        Category.from_label("教育")


def test_identical_titles_are_fully_similar():
    assert similarity("小区路灯不亮", "小区路灯不亮") == 1.0


def test_titles_without_common_bigrams_are_not_similar():
    assert similarity("小区路灯不亮", "垃圾清运不及时") == 0.0


def test_similarity_is_bigram_jaccard():
    # {小区, 区路, 路灯, 灯不, 不亮} vs {小区, 区路, 路灯, 灯坏, 坏了}: 3 shared of 7.
    assert similarity("小区路灯不亮", "小区路灯坏了") == pytest.approx(3 / 7)


def test_similarity_is_symmetric():
    a, b = "3号楼楼道灯坏了", "三号楼楼道灯不亮"
    assert similarity(a, b) == similarity(b, a)


def test_similarity_ignores_punctuation_spaces_width_and_case():
    assert similarity("３号楼 漏水！", "3号楼漏水") == 1.0
    assert similarity("WiFi 覆盖", "wifi覆盖") == 1.0


def test_similarity_of_empty_titles_is_zero():
    assert similarity("", "") == 0.0
    assert similarity("！！", "路灯") == 0.0


def test_one_character_titles_compare_as_themselves():
    assert similarity("灯", "灯") == 1.0
    assert similarity("灯", "水") == 0.0


CANDIDATES = [
    ("m1", "垃圾清运不及时"),
    ("m2", "小区路灯坏了"),
    ("m3", "小区路灯不亮了"),
    ("m4", "小区路灯不亮"),
]


def test_suggest_duplicates_lists_the_most_similar_first():
    found = suggest_duplicates("小区路灯不亮", CANDIDATES)
    assert [s.matter_id for s in found] == ["m4", "m3"]
    assert found[0].score == 1.0
    assert found[1].title == "小区路灯不亮了"


def test_suggest_duplicates_includes_a_score_equal_to_the_threshold():
    found = suggest_duplicates("小区路灯不亮", CANDIDATES, threshold=3 / 7)
    assert [s.matter_id for s in found] == ["m4", "m3", "m2"]


def test_suggest_duplicates_keeps_the_callers_order_on_equal_scores():
    found = suggest_duplicates("路灯", [("b", "路灯"), ("a", "路灯")])
    assert [s.matter_id for s in found] == ["b", "a"]


def test_suggest_duplicates_never_offers_an_unrelated_matter():
    found = suggest_duplicates("小区路灯不亮", CANDIDATES, threshold=0.0)
    assert [s.matter_id for s in found] == ["m4", "m3", "m2"]


@pytest.mark.parametrize("threshold", [-0.1, 1.1])
def test_suggest_duplicates_rejects_a_threshold_outside_zero_to_one(threshold):
    with pytest.raises(ValueError, match="threshold"):
        suggest_duplicates("路灯", [], threshold=threshold)


@pytest.mark.parametrize("threshold", [-0.1, 1.01])
def test_a_duplicate_threshold_outside_0_to_1_is_refused_at_start_up(threshold):
    # The database applies the threshold as it is; out of range it would silently suggest nothing (or everything).
    from pydantic import ValidationError

    from services.matters.settings import Settings

    with pytest.raises(ValidationError, match="duplicate_threshold"):
        Settings(duplicate_threshold=threshold, service_database_url="postgresql+asyncpg://x/y")


TITLES = ["三号楼路灯不亮", "小区路灯不亮了", "Ａ栋电梯故障", "a栋电梯故障", "垃圾", "灯", "𠀋𠀌楼道积水", "楼道积水",
          "一二三四五六七八九十", "12号楼漏水", "21号楼漏水", "路灯𤸀坏", "路灯一坏", "𤸀一一𤸀", "𠀀灯", "𠀀"]


@pytest.mark.parametrize("title", TITLES)
def test_bigram_codes_are_one_distinct_int4_per_bigram_sorted(title):
    codes = bigram_codes(title)
    assert codes == sorted(set(codes))
    assert len(codes) == len(title_bigrams(title))
    assert all(-(2**31) <= c < 2**31 for c in codes)


def test_bigram_codes_score_as_the_bigrams_do():
    # The database's Jaccard over the codes (intarray's intersection) is the rule's over the bigrams.
    for a in TITLES:
        for b in TITLES:
            x, y = set(bigram_codes(a)), set(bigram_codes(b))
            score = len(x & y) / len(x | y) if x and y else 0.0
            assert score == pytest.approx(similarity(a, b)), (a, b)


def test_bigram_codes_keep_the_order_of_the_two_characters():
    assert bigram_codes("甲乙") != bigram_codes("乙甲")
    assert bigram_codes("") == []


def test_a_character_beyond_the_basic_plane_meets_no_character_of_it():
    # U+24E00 and U+4E00 (一) share their low 16 bits; U+20000 would fold onto a control character.
    assert set(bigram_codes("路灯𤸀坏")).isdisjoint(set(bigram_codes("路灯一坏")) - set(bigram_codes("路灯")))
    assert len(bigram_codes("𤸀一一𤸀")) == 3
    assert bigram_codes("𠀀灯") != bigram_codes("灯") and bigram_codes("𠀀") != bigram_codes("灯")
