"""Admission of administrative work into communities (行政工作进社区准入制度): only catalogued duties get in."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any


class DutyKind(StrEnum):
    """The two parts of the admission catalogue."""

    SELF_GOVERNANCE = "self_governance"  # 自治事项: the residents' committee's own duties, Z01–Z18
    ASSISTED = "assisted"  # 协助政府事项: duties done to assist the government, X001–X123


# Each kind's code shape and exact size; codes run from 1 to the count with no gaps.
_SHAPES: dict[DutyKind, tuple[re.Pattern[str], int]] = {
    DutyKind.SELF_GOVERNANCE: (re.compile(r"Z(\d{2})"), 18),
    DutyKind.ASSISTED: (re.compile(r"X(\d{3})"), 123),
}
_ITEM_FIELDS = {"code", "kind", "title", "department"}

MISSING_CODE_REASON = "未引用准入事项清单"


class CatalogueError(ValueError):
    """Raised when catalogue data is invalid; names the bad field by its path."""

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}")


@dataclass(frozen=True)
class CatalogueItem:
    """One duty a community may be asked to do."""

    code: str
    kind: DutyKind
    title: str
    department: str | None = None


@dataclass(frozen=True)
class Catalogue:
    """The admission catalogue, items by code."""

    items: Mapping[str, CatalogueItem]

    def get(self, code: str) -> CatalogueItem | None:
        """Returns the item with a code, or None."""
        return self.items.get(code)

    def of_kind(self, kind: DutyKind | str) -> list[CatalogueItem]:
        """Lists the items of one kind in code order."""
        kind = DutyKind(kind)
        return sorted((item for item in self.items.values() if item.kind is kind), key=lambda item: item.code)


@dataclass(frozen=True)
class Admission:
    """Whether a piece of administrative work may enter the community, and why."""

    admitted: bool
    reason: str
    item: CatalogueItem | None


def _text(raw: Mapping[str, Any], key: str, path: str) -> str:
    value = raw.get(key)
    if key not in raw:
        raise CatalogueError(f"{path}.{key}", "required")
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{path}.{key}", f"must be a non-empty string, got {value!r}")
    return value.strip()


def _item(raw: Any, path: str) -> CatalogueItem:
    if not isinstance(raw, Mapping):
        raise CatalogueError(path, f"must be an object, got {type(raw).__name__}")
    for key in raw:
        if key not in _ITEM_FIELDS:
            raise CatalogueError(f"{path}.{key}", "unknown field")
    kind_text = _text(raw, "kind", path)
    if kind_text not in {kind.value for kind in DutyKind}:
        raise CatalogueError(f"{path}.kind", f"must be one of {', '.join(DutyKind)}, got {kind_text!r}")
    kind = DutyKind(kind_text)
    code = _text(raw, "code", path)
    pattern, count = _SHAPES[kind]
    match = pattern.fullmatch(code)
    if not match or not 1 <= int(match.group(1)) <= count:
        first, last = ("Z01", "Z18") if kind is DutyKind.SELF_GOVERNANCE else ("X001", "X123")
        raise CatalogueError(f"{path}.code", f"{code!r} is not a {kind} code ({first}–{last})")
    department = raw.get("department")
    if department is not None and (not isinstance(department, str) or not department.strip()):
        raise CatalogueError(f"{path}.department", f"must be a non-empty string when given, got {department!r}")
    title = _text(raw, "title", path)
    return CatalogueItem(code=code, kind=kind, title=title, department=department.strip() if department else None)


def parse_catalogue(data: Mapping[str, Any]) -> Catalogue:
    """Validates catalogue data: exactly 18 self-governance and 123 assisted duties, unique codes and titles."""
    if not isinstance(data, Mapping):
        raise CatalogueError("catalogue", f"must be an object, got {type(data).__name__}")
    for key in data:
        if key != "items" and not str(key).startswith("_"):
            raise CatalogueError(str(key), "unknown field")
    raw_items = data.get("items")
    if not isinstance(raw_items, list):
        raise CatalogueError("items", "required: a list of catalogue items")
    items: dict[str, CatalogueItem] = {}
    titles: dict[str, str] = {}
    for index, raw in enumerate(raw_items):
        path = f"items[{index}]"
        item = _item(raw, path)
        if item.code in items:
            raise CatalogueError(f"{path}.code", f"duplicate code {item.code!r}")
        if item.title in titles:
            raise CatalogueError(f"{path}.title", f"{item.title!r} is already the title of {titles[item.title]}")
        items[item.code] = item
        titles[item.title] = item.code
    for kind, (_, expected) in _SHAPES.items():
        found = sum(item.kind is kind for item in items.values())
        if found != expected:
            raise CatalogueError("items", f"expected exactly {expected} {kind} items, found {found}")
    return Catalogue(items=MappingProxyType(items))


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Loads and validates the admission catalogue (default: the shipped admission_catalogue.json)."""
    if path is None:
        text = resources.files(__package__).joinpath("admission_catalogue.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogueError(str(path or "admission_catalogue.json"), f"not valid JSON: {error}") from None
    return parse_catalogue(data)


def admit(task_catalogue_code: str | None, catalogue: Catalogue) -> Admission:
    """Admits administrative work only when it cites an item of the catalogue."""
    code = (task_catalogue_code or "").strip().upper()
    if not code:
        return Admission(admitted=False, reason=MISSING_CODE_REASON, item=None)
    item = catalogue.get(code)
    if item is None:
        return Admission(admitted=False, reason=f"准入事项清单中没有编号为 {code} 的事项", item=None)
    return Admission(admitted=True, reason=f"已引用准入事项 {item.code}「{item.title}」", item=item)
