"""The bodies of a department's work-order actions, at the gateway and at the matters service it relays them to."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from gateway.schemas import AnswerBody, ExtendBody, ReturnBody
from services.matters.schemas import AnswerIn, ExtendIn, ReturnIn

BLANK = " \u3000\t\n "  # ASCII and full-width spaces, a tab, a line break
BODIES = [(AnswerBody, {}, "answer"), (ExtendBody, {"workdays": 2}, "reason"), (ReturnBody, {}, "reason"),
          (AnswerIn, {}, "answer"), (ExtendIn, {"workdays": 2}, "reason"), (ReturnIn, {}, "reason")]


@pytest.mark.parametrize(("model", "rest", "field"), BODIES)
def test_an_answer_or_reason_of_spaces_alone_is_refused_naming_the_field(model: type[BaseModel], rest: dict,
                                                                         field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(rest | {field: BLANK})
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]


@pytest.mark.parametrize(("model", "rest", "field"), BODIES)
def test_an_answer_or_reason_is_kept_without_its_surrounding_spaces(model: type[BaseModel], rest: dict,
                                                                    field: str) -> None:
    assert getattr(model.model_validate(rest | {field: " 已修复\u3000"}), field) == "已修复"
