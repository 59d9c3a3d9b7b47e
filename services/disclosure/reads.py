"""The public read side: what /public/v1 and the portal show, built from redacted rows only."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.disclosure import labels
from services.disclosure.http import BadQuery
from services.disclosure.models import DisclosureItem, SupervisionQuestion
from services.disclosure.repository import (
    ItemFilter,
    ItemRepository,
    MatterRepository,
    MediationRepository,
    QuestionRepository,
)
from services.disclosure.rules.cadence import MAX_YEAR, MIN_YEAR, SHANGHAI
from services.disclosure.schemas import public_place_code
from youmin.kit import replica
from youmin.kit.errors import storable_instant

# The timeline entries that are not a move to another stage, by their action, as the portal words them.
STEP_LABELS = {"place": labels.PLACED_LABEL, "file_covenant": labels.COVENANT_FILED_LABEL,
               "meeting_demanded": labels.MEETING_DEMANDED_LABEL, "cancel_decision": labels.VOTE_CANCELLED_LABEL}
MEDIATION_DIMENSIONS = ("level", "dispute_type", "period", "outcome", "unit_code")
MAX_BIGINT = 2**63 - 1


def period_window(period: str | None) -> tuple[datetime | None, datetime | None]:
    """Turns "2026", "2026-Q4" or "2026-11" into [start, end) instants (Asia/Shanghai days)."""
    if not period:
        return None, None
    try:
        if not (period.isascii() and period[:4].isdigit() and MIN_YEAR <= int(period[:4]) <= MAX_YEAR):
            raise ValueError
        if len(period) == 4:
            start, end = date(int(period), 1, 1), date(int(period) + 1, 1, 1)
        elif len(period) == 7 and period[4:6] == "-Q":
            year, quarter = int(period[:4]), int(period[6])
            if quarter not in (1, 2, 3, 4):
                raise ValueError
            start = date(year, 3 * quarter - 2, 1)
            end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        elif len(period) == 7 and period[4] == "-":
            year, month = int(period[:4]), int(period[5:])
            start = date(year, month, 1)
            end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        else:
            raise ValueError
    except ValueError:
        raise BadQuery("period", f"must be a year (2026), a quarter (2026-Q4) or a month (2026-11), between "
                                 f"{MIN_YEAR} and {MAX_YEAR}") from None
    return (datetime.combine(start, datetime.min.time(), SHANGHAI),
            datetime.combine(end, datetime.min.time(), SHANGHAI))


# The levels of the org tree the public sees; finer ones (building, unit, household) would locate homes.
PUBLIC_UNIT_LEVELS = ("district", "street", "community", "grid")


def encode_cursor(parts: list[Any]) -> str:
    """Encodes a keyset position as an opaque URL-safe cursor."""
    return base64.urlsafe_b64encode(json.dumps(parts, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, mode: str) -> list[Any]:
    """Decodes a cursor of a listing mode ("n" newest first, "c" commit order, "x" changes); 422 naming `cursor`
    otherwise."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or parts[0] != mode:
            raise ValueError
        if mode == "n":
            at = datetime.fromisoformat(parts[1])
            storable_instant(at)  # a hand-made instant outside the years the database stores
            return [at, uuid.UUID(parts[2])]
        values = [int(parts[1]), int(parts[2])]
        if not all(0 <= v <= MAX_BIGINT for v in values):
            raise ValueError
        return values
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError, json.JSONDecodeError,
            UnicodeDecodeError):  # OverflowError: int() of an Infinity the JSON parser takes
        raise BadQuery("cursor", "is not a cursor of this listing") from None


@dataclass(frozen=True)
class Page:
    """One page of public items and where the next one starts."""

    items: list[dict[str, Any]]
    next_cursor: str | None


async def unit_names(session: AsyncSession, codes: set[str]) -> dict[str, str | None]:
    """Returns the public names of org units from the registry replica: those of the public levels only (a building's
    or household's name, such as 0102室, would locate a home)."""
    if not codes:
        return {}
    rows = await session.execute(text("SELECT code, unit_name FROM replica_unit WHERE code = ANY(:codes) "
                                      "AND level = ANY(:levels)"), {"codes": sorted(codes), "levels": list(PUBLIC_UNIT_LEVELS)})
    return {code: name for code, name in rows.all()}


def public_question(q: SupervisionQuestion) -> dict[str, Any]:
    """A question and its answer as the public sees them (redacted at write time; no asker)."""
    return {
        "kind": q.kind, "kind_label": labels.QUESTION_KIND_LABELS.get(q.kind, q.kind), "body": q.body,
        "asked_at": q.asked_at.isoformat(), "answer_due_at": q.answer_due_at.isoformat(),
        "answer": q.answer, "answered_at": q.answered_at.isoformat() if q.answered_at else None,
        "overdue": q.overdue,
    }


def withdrawn_item(item: DisclosureItem) -> dict[str, Any]:
    """A withdrawn item in the feed of changes: that it is gone and since when, nothing of what it said (it may have
    been withdrawn for disclosing someone's personal information)."""
    return {"id": str(item.id), "unit_code": item.unit_code, "community_code": item.community_code,
            "withdrawn": True, "withdrawn_at": item.withdrawn_at.isoformat() if item.withdrawn_at else None}


def public_item(item: DisclosureItem, names: dict[str, str | None],
                questions: list[SupervisionQuestion] | None = None) -> dict[str, Any]:
    """An item as the public sees it: no poster, no internal keys."""
    out = {
        "id": str(item.id), "unit_code": item.unit_code, "unit_name": names.get(item.unit_code),
        "community_code": item.community_code,
        "community_name": names.get(item.community_code) if item.community_code else None,
        "kind": item.kind, "kind_label": labels.KIND_LABELS.get(item.kind, item.kind),
        "category": item.category, "category_label": labels.CATEGORY_LABELS.get(item.category, item.category),
        "title": item.title, "major": item.major, "matter_id": str(item.matter_id) if item.matter_id else None,
        "published_at": item.published_at.isoformat(), "updated_at": item.updated_at.isoformat(),
        "content": item.content,
    }
    if questions is not None:
        out["questions"] = [public_question(q) for q in questions]
    return out


class PublicReader:
    """Read-only queries of the public side over one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.items = ItemRepository(session)
        self.questions = QuestionRepository(session)
        self.matters = MatterRepository(session)
        self.mediation = MediationRepository(session)

    async def _names_for(self, items: list[DisclosureItem]) -> dict[str, str | None]:
        codes = {i.unit_code for i in items} | {i.community_code for i in items if i.community_code}
        return await unit_names(self.session, codes)

    async def page(self, where: ItemFilter, limit: int, cursor: str | None, order: str = "newest") -> Page:
        """Returns one page: newest first (keyset on published_at, id) or in commit order (xmin horizon)."""
        if order == "newest":
            after = tuple(decode_cursor(cursor, "n")) if cursor else None
            rows = await self.items.newest_first(where, limit + 1, after)  # type: ignore[arg-type]
            more = len(rows) > limit
            rows = rows[:limit]
            nxt = encode_cursor(["n", rows[-1].published_at.isoformat(), str(rows[-1].id)]) if more else None
            names = await self._names_for(rows)
            return Page([public_item(i, names) for i in rows], nxt)
        mode = "x" if order == "changes" else "c"
        after_c = tuple(decode_cursor(cursor, mode)) if cursor else None
        if order == "changes":
            pairs = await self.items.settled_in_change_order(where, limit, after_c)  # type: ignore[arg-type]
        else:
            pairs = await self.items.settled_in_commit_order(where, limit, after_c)  # type: ignore[arg-type]
        items = [p[0] for p in pairs]
        # The feeds always return a cursor: a client polls it for what commits next.
        if pairs:
            nxt = encode_cursor([mode, pairs[-1][1], pairs[-1][0].change_seq if order == "changes" else pairs[-1][0].seq])
        else:
            nxt = cursor or encode_cursor([mode, 0, 0])
        names = await self._names_for([i for i in items if i.withdrawn_at is None])
        if order != "changes":
            return Page([public_item(i, names) for i in items], nxt)
        return Page([{**public_item(i, names), "withdrawn": False} if i.withdrawn_at is None else withdrawn_item(i)
                     for i in items], nxt)

    async def item(self, item_id: uuid.UUID) -> dict[str, Any] | None:
        """Returns a public item with its questions and answers, or None (also when withdrawn)."""
        item = await self.items.get(item_id)
        if item is None or item.withdrawn_at is not None:
            return None
        questions = (await self.questions.for_items([item.id])).get(item.id, [])
        names = await self._names_for([item])
        return public_item(item, names, questions)

    async def matter(self, matter_id: uuid.UUID) -> dict[str, Any] | None:
        """Returns a matter's public progress: stage, tally, implementation, evaluation and timeline."""
        matter = await self.matters.get(matter_id)
        if matter is None:
            return None
        steps = await self.matters.timeline(matter_id)
        # A matter raised at a building or building unit is shown at its grid: a finer code would locate homes.
        unit_code = public_place_code(matter.unit_code) if matter.unit_code else None
        names = await unit_names(self.session, {matter.community_code} | ({unit_code} if unit_code else set()))
        timeline = []
        for step in steps:
            entry = {"at": step.at.isoformat(), "step": step.step, **step.detail}
            if step.step == "transitioned" and step.detail.get("action") in STEP_LABELS:
                entry["label"] = STEP_LABELS[step.detail["action"]]
            elif step.step == "transitioned":
                entry["label"] = labels.STAGE_LABELS.get(step.detail.get("to_state"), step.detail.get("to_state"))
            timeline.append(entry)
        progress = dict(matter.progress or {})
        progress.pop("tasks", None)
        return {
            "matter_id": str(matter.matter_id), "community_code": matter.community_code,
            "community_name": names.get(matter.community_code), "unit_code": unit_code,
            "unit_name": names.get(unit_code) if unit_code else None,
            "category": matter.category, "public_title": matter.public_title, "stage": matter.stage,
            "stage_label": labels.STAGE_LABELS.get(matter.stage, matter.stage), "key_project": matter.key_project,
            "raised_at": matter.raised_at.isoformat() if matter.raised_at else None,
            "tally": matter.tally, "progress": progress or None, "evaluation": matter.evaluation,
            "updated_at": matter.updated_at.isoformat(), "timeline": timeline,
        }

    async def matters_in(self, unit: str, stage: str | None, limit: int) -> list[dict[str, Any]]:
        rows = await self.matters.in_unit(unit, stage=stage, limit=limit)
        return [{"matter_id": str(m.matter_id), "community_code": m.community_code, "public_title": m.public_title,
                 "category": m.category, "stage": m.stage, "stage_label": labels.STAGE_LABELS.get(m.stage, m.stage),
                 "key_project": m.key_project, "updated_at": m.updated_at.isoformat()} for m in rows]

    async def matters_by_stage(self, unit: str) -> list[dict[str, Any]]:
        counts = await self.matters.count_by_stage(unit)
        ordered = [s for s in labels.STAGE_ORDER if s in counts] + sorted(set(counts) - set(labels.STAGE_ORDER))
        return [{"stage": s, "label": labels.STAGE_LABELS.get(s, s), "count": counts[s]} for s in ordered]

    async def mediation_statistics(self, unit: str, group_by: list[str], **filters: Any) -> list[dict[str, Any]]:
        for dim in group_by:
            if dim not in MEDIATION_DIMENSIONS:
                raise BadQuery("group_by", f"must be drawn from {', '.join(MEDIATION_DIMENSIONS)}")
        rows = await self.mediation.aggregate(unit, group_by, **filters)
        for row in rows:
            if "level" in row:
                row["level_label"] = labels.LEVEL_LABELS.get(row["level"], row["level"])
            if "outcome" in row:
                row["outcome_label"] = labels.OUTCOME_LABELS.get(row["outcome"], row["outcome"])
        return rows

    async def unit(self, code: str) -> dict[str, Any] | None:
        """A unit down to the grid, with its ancestors and public children; None for a building, unit or household
        (listed publicly, they would map the district's homes)."""
        unit = await replica.get_unit(self.session, code)
        if unit is None or unit.level not in PUBLIC_UNIT_LEVELS:
            return None
        children = await replica.children(self.session, code)
        ancestors = await replica.ancestors(self.session, code)
        brief = lambda u: {"code": u.code, "name": u.unit_name, "level": u.level}  # noqa: E731
        return {**brief(unit), "parent_code": unit.parent_code, "ancestors": [brief(a) for a in ancestors],
                "children": [brief(c) for c in children if c.level in PUBLIC_UNIT_LEVELS]}

    async def children(self, parent: str) -> list[dict[str, Any]]:
        """The units directly under a unit, down to the grids (never buildings, units or households)."""
        return [{"code": u.code, "name": u.unit_name, "level": u.level}
                for u in await replica.children(self.session, parent) if u.level in PUBLIC_UNIT_LEVELS]

