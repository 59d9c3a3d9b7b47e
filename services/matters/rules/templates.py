"""Community workflow templates: the stages a community names and the decision rule it uses by default."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.matters.rules.lifecycle import State
from services.matters.rules.voting import RULES, DecisionRule, read_data_file

_CODE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_TEMPLATE_FIELDS = {"code", "community", "name", "description", "default_rule", "major_rule", "stages"}
_TEMPLATE_REQUIRED = ("code", "community", "name", "default_rule", "stages")
_STAGE_FIELDS = {"code", "title", "states"}


class TemplateError(ValueError):
    """Raised when template data is invalid; names the bad field by its path."""

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}")


@dataclass(frozen=True)
class Stage:
    """One named step of a community's method and the matter states it covers."""

    code: str
    title: str
    states: tuple[State, ...]


@dataclass(frozen=True)
class Template:
    """A community's working method (e.g. 五民主工作法) with its stages and decision rules."""

    code: str
    community: str
    name: str
    description: str
    default_rule: DecisionRule
    major_rule: DecisionRule | None
    stages: tuple[Stage, ...]

    def stage_for(self, state: State | str) -> Stage | None:
        """Returns the stage that covers a matter state, or None for states outside every stage."""
        for stage in self.stages:
            if state in stage.states:
                return stage
        return None


def _text(data: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str:
    if key not in data:
        if required:
            raise TemplateError(f"{path}.{key}", "required")
        return ""
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(f"{path}.{key}", f"must be a non-empty string, got {value!r}")
    return value.strip()


def _code(data: Mapping[str, Any], path: str) -> str:
    code = _text(data, "code", path)
    if not _CODE.fullmatch(code):
        raise TemplateError(f"{path}.code", f"{code!r} must be lower-case ascii letters, digits, '-' or '_'")
    return code


def _rule(data: Mapping[str, Any], key: str, path: str, rules: Mapping[str, DecisionRule]) -> DecisionRule:
    name = _text(data, key, path)
    if name not in rules:
        raise TemplateError(f"{path}.{key}", f"unknown decision rule {name!r} (known: {', '.join(rules)})")
    return rules[name]


def _mapping(value: Any, path: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TemplateError(path or "templates file", f"must be an object, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise TemplateError(f"{path}.{key}" if path else str(key), "unknown field")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise TemplateError(path, f"must be a list, got {type(value).__name__}")
    if not value:
        raise TemplateError(path, "must not be empty")
    return value


def _stages(raw: Any, path: str) -> tuple[Stage, ...]:
    stages: list[Stage] = []
    owner: dict[State, str] = {}
    for index, item in enumerate(_list(raw, path)):
        stage_path = f"{path}[{index}]"
        data = _mapping(item, stage_path, _STAGE_FIELDS)
        code = _code(data, stage_path)
        if any(stage.code == code for stage in stages):
            raise TemplateError(f"{stage_path}.code", f"duplicate stage code {code!r}")
        title = _text(data, "title", stage_path)
        if "states" not in data:
            raise TemplateError(f"{stage_path}.states", "required")
        states: list[State] = []
        for state_index, value in enumerate(_list(data["states"], f"{stage_path}.states")):
            state_path = f"{stage_path}.states[{state_index}]"
            try:
                state = State(value)
            except ValueError:
                raise TemplateError(state_path, f"unknown matter state {value!r}") from None
            # A state in two stages would leave "which stage is this matter in?" without one answer.
            if state in owner:
                raise TemplateError(state_path, f"state {state!r} already belongs to stage {owner[state]!r}")
            owner[state] = code
            states.append(state)
        stages.append(Stage(code=code, title=title, states=tuple(states)))
    return tuple(stages)


def parse_templates(
    data: Mapping[str, Any], rules: Mapping[str, DecisionRule] = RULES
) -> dict[str, Template]:
    """Validates {"templates": [...]} and returns the templates by code."""
    root = _mapping(data, "", {"templates"})
    if "templates" not in root:
        raise TemplateError("templates", "required")
    templates: dict[str, Template] = {}
    for index, item in enumerate(_list(root["templates"], "templates")):
        path = f"templates[{index}]"
        raw = _mapping(item, path, _TEMPLATE_FIELDS)
        for key in _TEMPLATE_REQUIRED:
            if key not in raw:
                raise TemplateError(f"{path}.{key}", "required")
        code = _code(raw, path)
        if code in templates:
            raise TemplateError(f"{path}.code", f"duplicate template code {code!r}")
        templates[code] = Template(
            code=code,
            community=_text(raw, "community", path),
            name=_text(raw, "name", path),
            description=_text(raw, "description", path, required=False),
            default_rule=_rule(raw, "default_rule", path, rules),
            major_rule=_rule(raw, "major_rule", path, rules) if "major_rule" in raw else None,
            stages=_stages(raw["stages"], f"{path}.stages"),
        )
    return templates


def load_templates(path: str | Path | None = None) -> dict[str, Template]:
    """Loads and validates templates from a JSON file (default: the shipped templates.json)."""
    return parse_templates(read_data_file("templates.json", path, TemplateError))
