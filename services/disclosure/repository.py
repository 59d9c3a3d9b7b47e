"""Every query of the disclosure service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    case,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.disclosure.models import (
    DisclosureItem,
    MediationCountedEvent,
    MediationSuccess,
    MediationTally,
    PublicMatter,
    PublicMatterEvent,
    SupervisionQuestion,
    replica,
)
from services.disclosure.rules.cadence import SHANGHAI
from youmin.kit.horizon import SETTLED_BELOW
from youmin.kit import replica as replica_kit

COMMUNITY_LENGTH = 12
# Source key of a unit's monthly mediation statistics item: "mediation:<unit code>:<YYYY-MM>".
MEDIATION_KEY = "mediation:"


def like_prefix(code: str) -> str:
    """Returns a LIKE pattern matching a code and every code below it."""
    return code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def mediation_key(unit_code: str, period: str) -> str:
    """Returns the source key of a unit's mediation statistics item for a month."""
    return f"{MEDIATION_KEY}{unit_code}:{period}"


def recoded(column: Any, new: str, old: str) -> Any:
    """SQL for a code column under `old` re-prefixed with `new` (the rest of the code kept)."""
    return literal(new, Text) + func.substr(column, len(old) + 1)


# Items the system builds from other services' events without any community's doing: they disclose, but they are not
# a community keeping up its own disclosure.
AUTOMATIC_CATEGORIES = ("duty_change", "mediation_statistics")


# The month a finance statement covers ("2026-09"), compared as bytes: YYYY-MM strings sort as the months do.
COVERED_MONTH = DisclosureItem.content["period"].astext.collate("C")


@dataclass(frozen=True)
class ItemFilter:
    """Which items a listing shows: unit prefix, kind, category, period window.

    The period window [period_from, period_before) holds a finance statement by the month it covers, posted as it
    usually is in the month after (September's statement posted on 8 October belongs to 2026-09), and every other
    item by the instant it was published."""

    unit_prefix: str | None = None
    kind: str | None = None
    category: str | None = None
    period_from: datetime | None = None
    period_before: datetime | None = None
    include_withdrawn: bool = False
    matter_id: uuid.UUID | None = None

    def _in_period(self) -> Any:
        """The period window's clause: statements by their covered month, other items by publication."""
        published, covered = [], [DisclosureItem.category == "finance_statement"]
        if self.period_from:
            published.append(DisclosureItem.published_at >= self.period_from)
            covered.append(COVERED_MONTH >= self.period_from.astimezone(SHANGHAI).strftime("%Y-%m"))
        if self.period_before:
            published.append(DisclosureItem.published_at < self.period_before)
            covered.append(COVERED_MONTH < self.period_before.astimezone(SHANGHAI).strftime("%Y-%m"))
        return or_(and_(DisclosureItem.category != "finance_statement", *published), and_(*covered))

    def clauses(self) -> list[Any]:
        c: list[Any] = []
        if self.unit_prefix:
            c.append(DisclosureItem.unit_code.like(like_prefix(self.unit_prefix)))
        if self.kind:
            c.append(DisclosureItem.kind == self.kind)
        if self.category:
            c.append(DisclosureItem.category == self.category)
        if self.period_from or self.period_before:
            c.append(self._in_period())
        if not self.include_withdrawn:
            c.append(DisclosureItem.withdrawn_at.is_(None))
        if self.matter_id:
            c.append(DisclosureItem.matter_id == self.matter_id)
        return c


class ItemRepository:
    """Disclosure items."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def live_finance_statement(self, unit_code: str, period: str) -> DisclosureItem | None:
        """The published (not withdrawn) finance statement of a unit's month, locked; None if there is none."""
        return (await self.session.execute(
            select(DisclosureItem).where(DisclosureItem.unit_code == unit_code,
                                         DisclosureItem.category == "finance_statement",
                                         DisclosureItem.withdrawn_at.is_(None),
                                         DisclosureItem.content["period"].astext == period)
            .order_by(DisclosureItem.published_at.desc()).limit(1).with_for_update()
        )).scalar_one_or_none()

    async def get(self, item_id: uuid.UUID, *, lock: bool = False, fresh: bool = False) -> DisclosureItem | None:
        """Returns an item; `fresh` reloads one the session holds already (after a bulk update)."""
        stmt = select(DisclosureItem).where(DisclosureItem.id == item_id)
        if lock:
            stmt = stmt.with_for_update()
        if fresh:
            stmt = stmt.execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_source_key(self, key: str, *, lock: bool = False) -> DisclosureItem | None:
        stmt = select(DisclosureItem).where(DisclosureItem.source_key == key)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def insert(self, **values: Any) -> DisclosureItem | None:
        """Inserts an item; returns None when an item with the same source key exists already."""
        stmt = insert(DisclosureItem).values(**values)
        if values.get("source_key"):
            stmt = stmt.on_conflict_do_nothing(index_elements=[DisclosureItem.source_key])
        # One round trip: the ORM entity comes back from RETURNING.
        stmt = stmt.returning(DisclosureItem)
        return (await self.session.scalars(stmt)).one_or_none()

    async def newest_first(
        self, where: ItemFilter, limit: int, after: tuple[datetime, uuid.UUID] | None = None
    ) -> list[DisclosureItem]:
        """Keyset page, newest first: items published strictly before the cursor (published_at, id)."""
        stmt = select(DisclosureItem).where(*where.clauses())
        if after is not None:
            stmt = stmt.where(tuple_(DisclosureItem.published_at, DisclosureItem.id) < tuple_(*after))
        stmt = stmt.order_by(DisclosureItem.published_at.desc(), DisclosureItem.id.desc()).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def settled_in_commit_order(
        self, where: ItemFilter, limit: int, after: tuple[int, int] | None = None
    ) -> list[tuple[DisclosureItem, int]]:
        """Append-only feed page in commit order: only rows below the horizon, keyset (txid, seq).

        A row whose transaction may still be running has txid >= the horizon (youmin.kit.horizon), and
        every transaction of this database that commits later has a txid at or above it, so nothing can
        ever appear behind the cursor.
        """
        stmt = select(DisclosureItem, literal_column("disclosure_item.txid::text"))
        stmt = stmt.where(*where.clauses()).where(
            text(f"disclosure_item.txid < {SETTLED_BELOW}"))
        if after is not None:
            stmt = stmt.where(text("(disclosure_item.txid, disclosure_item.seq) > (CAST(:after_tx AS xid8), :after_seq)")
                              .bindparams(after_tx=str(after[0]), after_seq=after[1]))
        stmt = stmt.order_by(DisclosureItem.txid, DisclosureItem.seq).limit(limit)
        rows = (await self.session.execute(stmt)).all()
        return [(row[0], int(row[1])) for row in rows]

    async def settled_in_change_order(
        self, where: ItemFilter, limit: int, after: tuple[int, int] | None = None
    ) -> list[tuple[DisclosureItem, int]]:
        """Feed page of changes: items by their last change (publication, withdrawal, re-titling, re-counting), only
        changes below the horizon, keyset (changed_txid, change_seq), withdrawn items included. An item that changes
        again comes again, further on. See settled_in_commit_order for the horizon."""
        stmt = select(DisclosureItem, literal_column("disclosure_item.changed_txid::text"))
        stmt = stmt.where(*replace(where, include_withdrawn=True).clauses()).where(
            text(f"disclosure_item.changed_txid < {SETTLED_BELOW}"))
        if after is not None:
            stmt = stmt.where(text("(disclosure_item.changed_txid, disclosure_item.change_seq) > "
                                   "(CAST(:after_tx AS xid8), :after_seq)")
                              .bindparams(after_tx=str(after[0]), after_seq=after[1]))
        stmt = stmt.order_by(DisclosureItem.changed_txid, DisclosureItem.change_seq).limit(limit)
        rows = (await self.session.execute(stmt)).all()
        return [(row[0], int(row[1])) for row in rows]

    async def last_posted_by_community(self, scope: str, before: datetime,
                                       min_display: timedelta) -> dict[str, dict[str, datetime]]:
        """Returns, per community under a scope, the latest instant before `before` at which it disclosed each kind:
        its own posts and the decisions on its matters, not the items the system builds on its own (duty changes,
        mediation statistics), nor an item withdrawn before it had been up for the minimum display period.

        Finances are disclosed by the month's statement: a finance statement counts as posted no later than the start
        of the month after the one it covers (August's, posted in November, does not stand for October's), and a
        finance notice does not count."""
        month_after_period = literal_column(
            "((to_date(disclosure_item.content->>'period', 'YYYY-MM') + interval '1 month')::timestamp "
            "AT TIME ZONE 'Asia/Shanghai')")
        disclosed_at = case(
            (DisclosureItem.kind != "finance", DisclosureItem.published_at),
            (DisclosureItem.category == "finance_statement", func.least(DisclosureItem.published_at, month_after_period)),
            else_=None)
        stmt = (
            select(DisclosureItem.community_code, DisclosureItem.kind, func.max(disclosed_at))
            .where(DisclosureItem.community_code.like(like_prefix(scope)),
                   DisclosureItem.published_at < before,
                   DisclosureItem.category.not_in(AUTOMATIC_CATEGORIES),
                   or_(DisclosureItem.withdrawn_at.is_(None),
                       DisclosureItem.withdrawn_at >= DisclosureItem.published_at + min_display))
            .group_by(DisclosureItem.community_code, DisclosureItem.kind)
        )
        out: dict[str, dict[str, datetime]] = {}
        for community, kind, last in (await self.session.execute(stmt)).all():
            if last is not None:
                out.setdefault(community, {})[kind] = last
        return out

    async def major_items(self, scope: str, before: datetime) -> list[DisclosureItem]:
        """The major items under a scope published before an instant (withdrawn ones too: they were disclosed)."""
        stmt = select(DisclosureItem).where(DisclosureItem.major.is_(True), DisclosureItem.published_at < before,
                                            DisclosureItem.unit_code.like(like_prefix(scope)))
        return list((await self.session.execute(stmt)).scalars())

    async def known_communities(self, scope: str) -> list[str]:
        """The communities under a scope that have items, but those the registry retired: a retired community
        discloses nothing more, and would stay overdue for ever. (The replica keeps no retirement date, so a report for
        a day before the retirement leaves it out too.)"""
        unit = replica["unit"]
        stmt = select(DisclosureItem.community_code).distinct().where(
            DisclosureItem.community_code.like(like_prefix(scope)),
            ~exists().where(unit.c.code == DisclosureItem.community_code, unit.c.retired))
        return [c for c in (await self.session.execute(stmt)).scalars() if c]

    async def recode(self, old: str, new: str, now: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Moves the items under a code that moved to the new code, with their community, a duty change's scope and a
        statistics item's key; returns (stale, kept) pairs of statistics items that meet under the new code.

        A statistics item already under the new code was counted from an event that named the new code before this
        move arrived: it keeps the key, and the stale one is left to the caller to withdraw.
        """
        pattern = like_prefix(old)
        keyed = (await self.session.execute(select(DisclosureItem.id, DisclosureItem.source_key).where(
            DisclosureItem.unit_code.like(pattern),
            DisclosureItem.source_key.like(like_prefix(MEDIATION_KEY + old))))).all()
        met: list[tuple[uuid.UUID, uuid.UUID]] = []
        for item_id, key in keyed:
            kept = await self.session.scalar(select(DisclosureItem.id).where(
                DisclosureItem.source_key == MEDIATION_KEY + new + key[len(MEDIATION_KEY) + len(old):]))
            if kept is not None:
                met.append((item_id, kept))
        unit_code = recoded(DisclosureItem.unit_code, new, old)
        scope_code = DisclosureItem.content["scope_code"].astext
        stmt = (
            update(DisclosureItem).where(DisclosureItem.unit_code.like(pattern))
            .values(
                unit_code=unit_code,
                # The community is the new code's (a grid may have moved to another community).
                community_code=case((func.length(DisclosureItem.unit_code) >= COMMUNITY_LENGTH,
                                     func.left(unit_code, COMMUNITY_LENGTH)), else_=None),
                source_key=case(
                    (and_(DisclosureItem.source_key.like(like_prefix(MEDIATION_KEY + old)),
                          DisclosureItem.id.not_in([stale for stale, _ in met])),
                     literal(MEDIATION_KEY + new, Text) + func.substr(DisclosureItem.source_key,
                                                                       len(MEDIATION_KEY) + len(old) + 1)),
                    else_=DisclosureItem.source_key),
                content=case(
                    (scope_code.like(pattern),
                     func.jsonb_set(DisclosureItem.content, literal_column("'{scope_code}'"),
                                    func.to_jsonb(recoded(scope_code, new, old)))),
                    else_=DisclosureItem.content),
                updated_at=func.greatest(DisclosureItem.updated_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)
        return met

    async def counts_by_kind(self, scope: str) -> dict[str, int]:
        stmt = (select(DisclosureItem.kind, func.count()).where(
            DisclosureItem.unit_code.like(like_prefix(scope)), DisclosureItem.withdrawn_at.is_(None))
            .group_by(DisclosureItem.kind))
        return {k: n for k, n in (await self.session.execute(stmt)).all()}


class QuestionRepository:
    """Supervision questions."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, question: SupervisionQuestion) -> None:
        self.session.add(question)

    async def get(self, question_id: uuid.UUID, *, lock: bool = False) -> SupervisionQuestion | None:
        stmt = select(SupervisionQuestion).where(SupervisionQuestion.id == question_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def unanswered(self, item_id: uuid.UUID) -> int:
        """How many questions and objections on an item await an answer."""
        return int(await self.session.scalar(select(func.count()).select_from(SupervisionQuestion).where(
            SupervisionQuestion.item_id == item_id, SupervisionQuestion.answered_at.is_(None))) or 0)

    async def count_by(self, item_id: uuid.UUID, asked_by: str) -> int:
        stmt = select(func.count()).select_from(SupervisionQuestion).where(
            SupervisionQuestion.item_id == item_id, SupervisionQuestion.asked_by == asked_by)
        return int((await self.session.execute(stmt)).scalar_one())

    async def for_items(self, item_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[SupervisionQuestion]]:
        if not item_ids:
            return {}
        stmt = (select(SupervisionQuestion).where(SupervisionQuestion.item_id.in_(item_ids))
                .order_by(SupervisionQuestion.asked_at, SupervisionQuestion.id))
        out: dict[uuid.UUID, list[SupervisionQuestion]] = {}
        for q in (await self.session.execute(stmt)).scalars():
            out.setdefault(q.item_id, []).append(q)
        return out

    async def in_scope(self, scope: str, *, only_open: bool = False, only_overdue: bool = False) -> list[SupervisionQuestion]:
        stmt = select(SupervisionQuestion).where(SupervisionQuestion.unit_code.like(like_prefix(scope)))
        if only_open:
            stmt = stmt.where(SupervisionQuestion.answered_at.is_(None))
        if only_overdue:
            stmt = stmt.where(SupervisionQuestion.overdue.is_(True))
        stmt = stmt.order_by(SupervisionQuestion.answer_due_at, SupervisionQuestion.id)
        return list((await self.session.execute(stmt)).scalars())

    async def recode(self, old: str, new: str) -> None:
        """Moves the questions under a code that moved to the new code."""
        await self.session.execute(
            update(SupervisionQuestion).where(SupervisionQuestion.unit_code.like(like_prefix(old)))
            .values(unit_code=recoded(SupervisionQuestion.unit_code, new, old))
            .execution_options(synchronize_session=False))

    async def flag_unanswered_due_before(self, now: datetime) -> list[uuid.UUID]:
        """Flags every unanswered question whose answer deadline has passed; returns the newly flagged."""
        stmt = (
            update(SupervisionQuestion)
            .where(SupervisionQuestion.answered_at.is_(None), SupervisionQuestion.overdue.is_(False),
                   SupervisionQuestion.answer_due_at <= now)
            .values(overdue=True, flagged_at=now)
            .returning(SupervisionQuestion.id)
        )
        return list((await self.session.execute(stmt)).scalars())


@dataclass(frozen=True)
class MatterFlags:
    """What the items built from a matter's event need to know of the matter."""

    key_project: bool
    title_withheld: bool


# The column that dates each part of a matter's public record (see PublicMatter).
_CHANGED_AT = {"stage": "stage_at", "community_code": "place_at", "unit_code": "place_at", "key_project": "flags_at",
               "public_title": "decision_at", "tally": "decision_at", "category": "decision_at",
               "evaluation": "evaluation_at"}


class MatterRepository:
    """Public matter progress and timelines."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, matter_id: uuid.UUID, community_code: str, at: datetime, *, stamp: datetime | None = None,
                     **values: Any) -> MatterFlags:
        """Creates the matter's public record (stage "raised" unless given) or updates the given columns and the
        community (every event names the matter's current one: a matter placed in triage moves); returns whether
        the matter is a key project and whether its title is withheld (a title given then is not stored)."""
        stamp = stamp or at  # the event's time, which dates the parts it changes (see DisclosureService.event_time)
        parts = {_CHANGED_AT[key] for key in ("community_code", *values) if key in _CHANGED_AT}
        stmt = insert(PublicMatter).values(
            matter_id=matter_id, community_code=community_code, updated_at=at, **{"stage": "raised", **values},
            **{part: stamp for part in parts})
        changes = {key: stmt.excluded[key] for key in ("community_code", *values)}
        if "public_title" in values:
            # Decided again after its title was withdrawn as personal data: the title stays off. The row lock taken
            # here orders this with a concurrent withdrawal (untitle locks the row too).
            changes["public_title"] = case((PublicMatter.title_withheld, None), else_=stmt.excluded.public_title)
        if "unit_code" not in values:
            # A matter placed in another community in triage: a unit outside that community no longer says where
            # the matter is, and the community is the most the event tells.
            changes["unit_code"] = case(
                (func.left(PublicMatter.unit_code, 12) == stmt.excluded.community_code, PublicMatter.unit_code),
                (PublicMatter.unit_code.is_(None), None),
                else_=stmt.excluded.community_code,
            )
        # A part changes only for an event no older than the one that changed it last: an event sent again from the
        # dead-letter topic arrives behind the matter's later events, and must not take the board back.
        for key, change in list(changes.items()):
            if key in _CHANGED_AT:
                dated = getattr(PublicMatter, _CHANGED_AT[key])
                newer = or_(dated.is_(None), dated <= stamp)
                if key == "unit_code" and "unit_code" in values:
                    # The raise names the unit, and the events after it name only the community: the raise, arriving
                    # late, still places a matter not placed yet, in the community it is in.
                    newer = or_(newer, and_(PublicMatter.unit_code.is_(None),
                                            PublicMatter.community_code == stmt.excluded.community_code))
                changes[key] = case((newer, change), else_=getattr(PublicMatter, key))
        for part in {_CHANGED_AT[key] for key in changes if key in _CHANGED_AT}:
            changes[part] = func.greatest(getattr(PublicMatter, part), stamp)
        changes["updated_at"] = func.greatest(PublicMatter.updated_at, stmt.excluded.updated_at)
        stmt = stmt.on_conflict_do_update(index_elements=[PublicMatter.matter_id], set_=changes)
        row = (await self.session.execute(stmt.returning(PublicMatter.key_project,
                                                         PublicMatter.title_withheld))).one()
        return MatterFlags(key_project=bool(row.key_project), title_withheld=bool(row.title_withheld))

    async def untitle(self, matter_id: uuid.UUID, generic: str, now: datetime) -> None:
        """Takes a matter's public title off it and off its live items (their titles name the matter), and keeps it
        off the matter's later items."""
        matter = await self.session.get(PublicMatter, matter_id, with_for_update=True)
        if matter is None:
            return
        matter.title_withheld = True
        if not matter.public_title:
            return
        old, matter.public_title = matter.public_title, None
        items = await self.session.scalars(select(DisclosureItem).where(
            DisclosureItem.matter_id == matter_id, DisclosureItem.withdrawn_at.is_(None)).with_for_update())
        for item in items:
            item.title = item.title.replace(old, generic)
            item.content = {**item.content, "public_title": generic} if "public_title" in item.content else item.content
            item.updated_at = now

    async def get(self, matter_id: uuid.UUID) -> PublicMatter | None:
        return await self.session.get(PublicMatter, matter_id, populate_existing=True)

    async def recode(self, old: str, new: str) -> None:
        """Moves the matters at or under a code that moved to the new code. A matter's unit lies in its community;
        when a unit below the community moves (a grid to another community), the matter's community is the new
        code's at the community's length."""
        pattern = like_prefix(old)
        unit_moves = and_(PublicMatter.unit_code.like(pattern),
                          func.left(PublicMatter.unit_code, func.length(PublicMatter.community_code))
                          == PublicMatter.community_code)
        await self.session.execute(
            update(PublicMatter)
            .where(or_(PublicMatter.community_code.like(pattern), PublicMatter.unit_code.like(pattern)))
            .values(
                unit_code=case((PublicMatter.unit_code.like(pattern), recoded(PublicMatter.unit_code, new, old)),
                               else_=PublicMatter.unit_code),
                community_code=case(
                    (PublicMatter.community_code.like(pattern), recoded(PublicMatter.community_code, new, old)),
                    (unit_moves, func.left(recoded(PublicMatter.unit_code, new, old),
                                           func.length(PublicMatter.community_code))),
                    else_=PublicMatter.community_code),
            )
            .execution_options(synchronize_session=False))

    async def add_step(self, matter_id: uuid.UUID, at: datetime, step: str, detail: dict[str, Any],
                       event_key: str | None = None) -> None:
        """Adds a timeline step, once per upstream event."""
        stmt = insert(PublicMatterEvent).values(matter_id=matter_id, at=at, step=step, detail=detail,
                                                event_key=event_key)
        await self.session.execute(stmt.on_conflict_do_nothing(index_elements=[PublicMatterEvent.event_key]))

    async def timeline(self, matter_id: uuid.UUID) -> list[PublicMatterEvent]:
        stmt = (select(PublicMatterEvent).where(PublicMatterEvent.matter_id == matter_id)
                .order_by(PublicMatterEvent.at, PublicMatterEvent.id))
        return list((await self.session.execute(stmt)).scalars())

    async def in_unit(self, prefix: str, *, stage: str | None = None, limit: int = 50) -> list[PublicMatter]:
        stmt = select(PublicMatter).where(or_(PublicMatter.community_code.like(like_prefix(prefix)),
                                              PublicMatter.unit_code.like(like_prefix(prefix))))
        if stage:
            stmt = stmt.where(PublicMatter.stage == stage)
        stmt = stmt.order_by(PublicMatter.updated_at.desc(), PublicMatter.matter_id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def count_by_stage(self, prefix: str) -> dict[str, int]:
        stmt = (select(PublicMatter.stage, func.count())
                .where(or_(PublicMatter.community_code.like(like_prefix(prefix)),
                           PublicMatter.unit_code.like(like_prefix(prefix))))
                .group_by(PublicMatter.stage))
        return {s: n for s, n in (await self.session.execute(stmt)).all()}


class MediationRepository:
    """Aggregate mediation counts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_event(self, event_id: str, at: datetime) -> bool:
        """Records that a mediation event is being counted; False when it was counted already."""
        stmt = insert(MediationCountedEvent).values(event_id=event_id, counted_at=at).on_conflict_do_nothing()
        return (await self.session.execute(stmt)).rowcount == 1

    async def increment(self, unit_code: str, level: str, dispute_type: str, period: str, outcome: str) -> None:
        stmt = insert(MediationTally).values(unit_code=unit_code, level=level, dispute_type=dispute_type,
                                             period=period, outcome=outcome, count=1)
        stmt = stmt.on_conflict_do_update(constraint="pk_mediation_tally",
                                          set_={"count": MediationTally.count + 1})
        await self.session.execute(stmt)

    async def decrement(self, unit_code: str, level: str, dispute_type: str, period: str, outcome: str) -> None:
        await self.session.execute(
            update(MediationTally).where(MediationTally.unit_code == unit_code, MediationTally.level == level,
                                         MediationTally.dispute_type == dispute_type, MediationTally.period == period,
                                         MediationTally.outcome == outcome, MediationTally.count > 0)
            .values(count=MediationTally.count - 1))

    async def claim_success(self, case_id: uuid.UUID, unit_code: str, level: str, dispute_type: str,
                            period: str) -> bool:
        """Records where a case's success is counted; False when the case's success is counted already."""
        stmt = insert(MediationSuccess).values(case_id=case_id, unit_code=unit_code, level=level,
                                               dispute_type=dispute_type, period=period).on_conflict_do_nothing()
        return (await self.session.execute(stmt)).rowcount == 1

    async def release_success(self, case_id: uuid.UUID) -> MediationSuccess | None:
        """Removes and returns where a case's success was counted (None when it was not)."""
        row = (await self.session.execute(
            delete(MediationSuccess).where(MediationSuccess.case_id == case_id).returning(MediationSuccess))).first()
        return row[0] if row else None

    async def aggregate(
        self, prefix: str, group_by: list[str], *, level: str | None = None, dispute_type: str | None = None,
        period_prefix: str | None = None, outcome: str | None = None,
    ) -> list[dict[str, Any]]:
        columns = [getattr(MediationTally, g) for g in group_by]
        stmt = select(*columns, func.sum(MediationTally.count)).where(
            MediationTally.unit_code.like(like_prefix(prefix)))
        conditions = []
        if level:
            conditions.append(MediationTally.level == level)
        if dispute_type:
            conditions.append(MediationTally.dispute_type == dispute_type)
        if period_prefix:
            conditions.append(MediationTally.period.like(like_prefix(period_prefix)))
        if outcome:
            conditions.append(MediationTally.outcome == outcome)
        if conditions:
            stmt = stmt.where(and_(*conditions))
        if columns:
            stmt = stmt.group_by(*columns).order_by(*columns)
        rows = (await self.session.execute(stmt)).all()
        return [{**{g: row[i] for i, g in enumerate(group_by)}, "count": int(row[-1] or 0)} for row in rows]

    async def recode(self, old: str, new: str) -> None:
        """Moves the counts under a code that moved to the new code, adding them to counts already there (counted from
        an event that named the new code before this move arrived)."""
        pattern = like_prefix(old)
        columns = ("level", "dispute_type", "period", "outcome", "count")
        moved = select(recoded(MediationTally.unit_code, new, old),
                       *(getattr(MediationTally, c) for c in columns)).where(MediationTally.unit_code.like(pattern))
        stmt = insert(MediationTally).from_select(["unit_code", *columns], moved)
        stmt = stmt.on_conflict_do_update(constraint="pk_mediation_tally",
                                          set_={"count": MediationTally.count + stmt.excluded["count"]})
        await self.session.execute(stmt)
        await self.session.execute(delete(MediationTally).where(MediationTally.unit_code.like(pattern)))
        await self.session.execute(update(MediationSuccess).where(MediationSuccess.unit_code.like(pattern))
                                   .values(unit_code=recoded(MediationSuccess.unit_code, new, old)))

    async def month_for_unit(self, unit_code: str, period: str) -> list[tuple[str, str, str, int]]:
        stmt = select(MediationTally.level, MediationTally.dispute_type, MediationTally.outcome,
                      MediationTally.count).where(MediationTally.unit_code == unit_code,
                                                  MediationTally.period == period)
        return [tuple(r) for r in (await self.session.execute(stmt)).all()]


class CodeMoveRepository:
    """The moves of org units, as the registry replica recorded them (old code -> today's code).

    Writers that look a code up hold a shared transaction lock, and a move takes it exclusively before re-coding: a row
    written under a code just before the move commits is either seen and re-coded by it, or written after it under
    the new code; never left behind under the old one.
    """

    LOCK = text("SELECT pg_advisory_xact_lock_shared(hashtext('disclosure.code_moves'))")
    EXCLUSIVE_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('disclosure.code_moves'))")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_for_move(self) -> None:
        """Waits for the writers that looked codes up, and holds new ones back until the move commits."""
        await self.session.execute(self.EXCLUSIVE_LOCK)

    async def hold(self) -> None:
        """Holds a move's re-coding back until this transaction ends (a writer of code-keyed rows takes it first)."""
        await self.session.execute(self.LOCK)

    async def current(self, code: str) -> str:
        """Returns the code a unit has today: a code at or under a unit that moved since is re-coded (an event sent
        before a move can arrive after it, and the sender may still name the old code)."""
        await self.session.execute(self.LOCK)
        return (await replica_kit.codes_today(self.session, [code]))[code]

    async def moves_into(self, code: str) -> list[tuple[str, str]]:
        """Returns every recorded move into a unit's code, longest old code first (see youmin.kit.replica.moves_into)."""
        return await replica_kit.moves_into(self.session, code)
