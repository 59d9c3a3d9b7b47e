import copy
import json
from pathlib import Path

import pytest

import services.matters.rules.templates as templates_module
from services.matters.rules.lifecycle import State
from services.matters.rules.templates import TemplateError, load_templates, parse_templates

SHIPPED = json.loads(Path(templates_module.__file__).with_name("templates.json").read_text(encoding="utf-8"))


def shipped() -> dict:
    return copy.deepcopy(SHIPPED)


def test_shipped_templates_are_the_three_community_methods():
    templates = load_templates()
    assert {(t.community, t.name) for t in templates.values()} == {
        ("苇湾社区", "五民主工作法"),
        ("幸福街社区", "四事工作法"),
        ("南湖社区", "户决制"),
    }


def test_five_democracy_method_has_its_five_stages_and_the_2018_rule():
    template = load_templates()["weiwan-five-democracy"]
    assert [s.title for s in template.stages] == ["民主提议", "民主商议", "民主决议", "民主实施", "民主评议"]
    assert template.default_rule.name == "urcol-2018"


def test_four_matters_method_uses_the_2018_rule():
    template = load_templates()["xingfujie-four-matters"]
    assert [s.title for s in template.stages][:4] == ["居民提事", "民主议事", "集体定事", "合力办事"]
    assert template.default_rule.name == "urcol-2018"


def test_household_decision_uses_household_rules_with_two_thirds_for_major_matters():
    template = load_templates()["nanhu-household-decision"]
    assert template.default_rule.name == "household-2018"
    assert template.default_rule.one_vote_per_household
    assert template.major_rule is not None
    assert template.major_rule.name == "household-2018-major"
    assert template.major_rule.pass_op == "ge"


@pytest.mark.parametrize("code", ["weiwan-five-democracy", "xingfujie-four-matters", "nanhu-household-decision"])
def test_every_working_state_falls_in_exactly_one_stage(code):
    template = load_templates()[code]
    working = set(State) - {State.CLOSED, State.REJECTED, State.MERGED, State.WITHDRAWN}
    covered = [state for stage in template.stages for state in stage.states]
    assert sorted(covered) == sorted(working)


def test_stage_for_finds_the_stage_of_a_state():
    template = load_templates()["weiwan-five-democracy"]
    assert template.stage_for("deciding").title == "民主决议"
    assert template.stage_for(State.REOPENED).title == "民主实施"
    assert template.stage_for("closed") is None


def test_load_templates_reads_a_given_file(tmp_path):
    data = shipped()
    data["templates"] = data["templates"][:1]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert list(load_templates(path)) == ["weiwan-five-democracy"]


def test_load_templates_reports_invalid_json_with_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{templates: ", encoding="utf-8")
    with pytest.raises(TemplateError, match="not valid JSON") as caught:
        load_templates(path)
    assert caught.value.field == str(path)


def bad(mutate) -> TemplateError:
    data = shipped()
    mutate(data)
    with pytest.raises(TemplateError) as caught:
        parse_templates(data)
    return caught.value


def test_unknown_default_rule_is_named():
    error = bad(lambda d: d["templates"][1].update(default_rule="urcol-2026"))
    assert error.field == "templates[1].default_rule"
    assert "urcol-2026" in error.detail


def test_unknown_major_rule_is_named():
    error = bad(lambda d: d["templates"][2].update(major_rule="household-1999"))
    assert error.field == "templates[2].major_rule"


def test_unknown_state_is_named():
    error = bad(lambda d: d["templates"][0]["stages"][2]["states"].append("voting"))
    assert error.field == "templates[0].stages[2].states[3]"
    assert "voting" in error.detail


def test_empty_stages_are_refused():
    error = bad(lambda d: d["templates"][0].update(stages=[]))
    assert error.field == "templates[0].stages"
    assert "empty" in error.detail


def test_stage_without_states_is_refused():
    error = bad(lambda d: d["templates"][0]["stages"][0].update(states=[]))
    assert error.field == "templates[0].stages[0].states"


def test_duplicate_template_code_is_refused():
    error = bad(lambda d: d["templates"][2].update(code="weiwan-five-democracy"))
    assert error.field == "templates[2].code"
    assert "duplicate" in error.detail


def test_duplicate_stage_code_is_refused():
    error = bad(lambda d: d["templates"][0]["stages"][1].update(code="proposal"))
    assert error.field == "templates[0].stages[1].code"
    assert "duplicate" in error.detail


def test_a_state_in_two_stages_is_refused():
    error = bad(lambda d: d["templates"][0]["stages"][4]["states"].append("implementing"))
    assert error.field == "templates[0].stages[4].states[1]"


@pytest.mark.parametrize("field", ["code", "community", "name", "default_rule", "stages"])
def test_missing_template_field_is_named(field):
    error = bad(lambda d: d["templates"][1].pop(field))
    assert error.field == f"templates[1].{field}"
    assert error.detail == "required"


@pytest.mark.parametrize("field", ["code", "title", "states"])
def test_missing_stage_field_is_named(field):
    error = bad(lambda d: d["templates"][1]["stages"][3].pop(field))
    assert error.field == f"templates[1].stages[3].{field}"


def test_unknown_field_is_named():
    error = bad(lambda d: d["templates"][0].update(rule="urcol-2018"))
    assert error.field == "templates[0].rule"


def test_template_code_must_be_ascii_slug():
    error = bad(lambda d: d["templates"][0].update(code="苇湾"))
    assert error.field == "templates[0].code"


def test_blank_title_is_refused():
    error = bad(lambda d: d["templates"][0]["stages"][0].update(title="  "))
    assert error.field == "templates[0].stages[0].title"


@pytest.mark.parametrize("data", [{}, {"templates": {}}, {"templates": []}, []])
def test_top_level_must_hold_a_non_empty_template_list(data):
    with pytest.raises(TemplateError):
        parse_templates(data)


def test_template_error_is_a_value_error_with_the_field_in_its_message():
    error = bad(lambda d: d["templates"][0].update(default_rule="nope"))
    assert isinstance(error, ValueError)
    assert str(error).startswith("templates[0].default_rule: ")
