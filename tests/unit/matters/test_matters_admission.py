import copy
import json
from pathlib import Path

import pytest

import services.matters.rules.admission as admission_module
from services.matters.rules.admission import (
    MISSING_CODE_REASON,
    CatalogueError,
    DutyKind,
    admit,
    load_catalogue,
    parse_catalogue,
)

SHIPPED = json.loads(
    Path(admission_module.__file__).with_name("admission_catalogue.json").read_text(encoding="utf-8")
)
CATALOGUE = load_catalogue()


def shipped() -> dict:
    return copy.deepcopy(SHIPPED)


def test_catalogue_has_18_self_governance_and_123_assisted_duties():
    assert len(CATALOGUE.of_kind(DutyKind.SELF_GOVERNANCE)) == 18
    assert len(CATALOGUE.of_kind("assisted")) == 123
    assert len(CATALOGUE.items) == 141


def test_catalogue_codes_run_without_gaps():
    assert [i.code for i in CATALOGUE.of_kind("self_governance")] == [f"Z{n:02d}" for n in range(1, 19)]
    assert [i.code for i in CATALOGUE.of_kind("assisted")] == [f"X{n:03d}" for n in range(1, 124)]


def test_catalogue_titles_are_distinct_and_assisted_duties_name_a_department():
    titles = [item.title for item in CATALOGUE.items.values()]
    assert len(set(titles)) == len(titles)
    assert all(item.department for item in CATALOGUE.of_kind("assisted"))


@pytest.mark.parametrize(
    "title", ["居民自治章程制定", "居民公约修订", "社区治安防范协助", "低保申请初审协助", "退役军人服务协助"]
)
def test_catalogue_holds_the_well_known_duties(title):
    assert title in {item.title for item in CATALOGUE.items.values()}


@pytest.mark.parametrize("code", [None, "", "   "])
def test_work_without_a_catalogue_code_is_refused(code):
    result = admit(code, CATALOGUE)
    assert not result.admitted
    assert result.reason == MISSING_CODE_REASON == "未引用准入事项清单"
    assert result.item is None


@pytest.mark.parametrize("code", ["X124", "Z19", "X000", "ABC"])
def test_work_citing_an_unknown_code_is_refused_with_the_code(code):
    result = admit(code, CATALOGUE)
    assert not result.admitted
    assert code in result.reason
    assert result.item is None


@pytest.mark.parametrize("code", ["X001", "x001", " Z04 ", "X123"])
def test_work_citing_a_catalogued_duty_is_admitted(code):
    result = admit(code, CATALOGUE)
    assert result.admitted
    assert result.item is CATALOGUE.get(code.strip().upper())
    assert result.item.code in result.reason


def test_load_catalogue_reads_a_given_file(tmp_path):
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(SHIPPED, ensure_ascii=False), encoding="utf-8")
    assert load_catalogue(path) == CATALOGUE


def test_load_catalogue_reports_invalid_json(tmp_path):
    path = tmp_path / "catalogue.json"
    path.write_text("[", encoding="utf-8")
    with pytest.raises(CatalogueError, match="not valid JSON"):
        load_catalogue(path)


def bad(mutate) -> CatalogueError:
    data = shipped()
    mutate(data)
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(data)
    return caught.value


def test_a_missing_assisted_duty_breaks_the_count():
    error = bad(lambda d: d["items"].pop())
    assert error.field == "items"
    assert "123 assisted" in error.detail


def test_a_missing_self_governance_duty_breaks_the_count():
    error = bad(lambda d: d["items"].pop(0))
    assert "18 self_governance" in error.detail


def test_duplicate_code_is_refused():
    def mutate(d):
        d["items"][5]["code"] = "Z01"

    error = bad(mutate)
    assert error.field == "items[5].code"
    assert "duplicate" in error.detail


def test_duplicate_title_is_refused():
    def mutate(d):
        d["items"][30]["title"] = d["items"][20]["title"]

    error = bad(mutate)
    assert error.field == "items[30].title"


@pytest.mark.parametrize("code", ["Z19", "Z00", "Z1", "X124", "X01", "Y001"])
def test_code_outside_its_kinds_range_is_refused(code):
    index = 0 if code.startswith(("Z", "Y")) else 20

    def mutate(d):
        d["items"][index]["code"] = code

    assert bad(mutate).field == f"items[{index}].code"


def test_code_must_match_its_kind():
    def mutate(d):
        d["items"][0]["kind"] = "assisted"

    error = bad(mutate)
    assert error.field == "items[0].code"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "delegated"}, "items[3].kind"),
        ({"title": " "}, "items[3].title"),
        ({"department": ""}, "items[3].department"),
        ({"owner": "区民政局"}, "items[3].owner"),
    ],
)
def test_bad_item_field_is_named(change, field):
    assert bad(lambda d: d["items"][3].update(change)).field == field


@pytest.mark.parametrize("field", ["code", "kind", "title"])
def test_missing_item_field_is_named(field):
    error = bad(lambda d: d["items"][7].pop(field))
    assert (error.field, error.detail) == (f"items[7].{field}", "required")


def test_top_level_needs_an_items_list():
    assert bad(lambda d: d.pop("items")).field == "items"
    assert bad(lambda d: d.update(extra=1)).field == "extra"
