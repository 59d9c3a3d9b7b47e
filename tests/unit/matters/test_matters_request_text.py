"""Every text field of every matters request body refuses a NUL character (PostgreSQL cannot store it)."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel, ValidationError

from services.matters import schemas as s
from services.matters.router import DispatchIn
from youmin.kit.errors import no_nul


def _request_models() -> list[type[BaseModel]]:
    found, todo = [], [s.Model]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def _plain(args: tuple) -> tuple:
    """Type arguments with Annotated[...] taken off (list[Annotated[str, Field(...)]] is a list of str)."""
    return tuple(typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a for a in args)


def _text_fields(model: type[BaseModel]) -> list[tuple[str, object]]:
    out = []
    for name, info in model.model_fields.items():
        args = {info.annotation, *typing.get_args(info.annotation)}
        if str in args:
            out.append((name, "ok\u0000"))
        elif any(typing.get_origin(a) is list and _plain(typing.get_args(a)) == (str,) for a in args):
            out.append((name, ["ok", "ok\u0000"]))
    return out


CASES = [(m, name, value) for m in _request_models() for name, value in _text_fields(m)]


def test_the_request_models_have_text_fields_to_check():
    assert {m for m, _, _ in CASES} >= {s.MatterCreate, s.TransitionRequest, s.OfflineTallyIn, s.AnswerIn, DispatchIn}


@pytest.mark.parametrize(("model", "field", "value"), CASES, ids=[f"{m.__name__}.{f}" for m, f, _ in CASES])
def test_a_nul_character_is_refused_at_its_field(model, field, value):
    with pytest.raises(ValidationError) as caught:
        model.model_validate({field: value})
    assert any(e["loc"][:1] == (field,) for e in caught.value.errors())


def test_text_without_nul_passes_the_check():
    body = s.MatterCreate(title="路灯", description="不亮", category="city_management")
    assert body.title == "路灯"


def test_the_shared_parameter_type_refuses_nul():
    with pytest.raises(ValueError):
        no_nul("a\x00b")
    assert no_nul("ab") == "ab"
    assert no_nul(None) is None
