"""A department's task for a community, at the gateway (TaskCreate) and at the matters service (DepartmentTaskIn)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from gateway.schemas import TaskCreate
from services.matters.schemas import DepartmentTaskIn

BLANK = " \u3000\t\n "  # ASCII and full-width spaces, a tab, a line break
TASK = {"community_code": "370705001001", "catalogue_code": "C01"}


def test_a_gateway_task_title_of_spaces_alone_is_refused_naming_the_title() -> None:
    with pytest.raises(ValidationError) as refused:
        TaskCreate.model_validate(TASK | {"title": BLANK})
    assert [e["loc"] for e in refused.value.errors()] == [("title",)]


def test_a_matters_department_task_title_of_spaces_alone_is_refused_naming_the_title() -> None:
    with pytest.raises(ValidationError) as refused:
        DepartmentTaskIn.model_validate(TASK | {"title": BLANK})
    assert [e["loc"] for e in refused.value.errors()] == [("title",)]


@pytest.mark.parametrize("model", [TaskCreate, DepartmentTaskIn])
def test_a_task_title_is_kept_without_its_surrounding_spaces(model: type[BaseModel]) -> None:
    assert model.model_validate(TASK | {"title": " 整治楼道堆物\u3000"}).title == "整治楼道堆物"
