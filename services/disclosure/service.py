"""The disclosure use cases: items from events and from staff, withdrawal, supervision, cadence.

Everything that reaches an item is redacted here, before the row is written: the database holds only
what may be shown to the public.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.disclosure import labels
from services.disclosure.events import ItemPublished, ItemWithdrawn
from services.disclosure.models import DisclosureItem, SupervisionQuestion
from youmin.kit.names import names_in_text, with_detected
from services.disclosure.repository import (
    COMMUNITY_LENGTH,
    CodeMoveRepository,
    ItemRepository,
    MatterRepository,
    MediationRepository,
    QuestionRepository,
    mediation_key,
)
from services.disclosure.rules import cadence, supervision
from services.disclosure.rules.redaction import RedactionConfig, redact_content
from services.disclosure.schemas import (
    AnswerPost,
    CadenceReport,
    CadenceRow,
    FinanceStatementPost,
    ItemPost,
    QuestionPost,
    public_place_code,
)
from services.disclosure.settings import Settings
from youmin.kit import replica
from youmin.kit.auth import Grant, Principal, require_scope
from youmin.kit.errors import Conflict, Forbidden, NotFound, RuleViolation
from youmin.kit.outbox import publish
from youmin.kit.pii import redact_text

# The keys of an item's content that name a place by its code (cut to the grid on the public board).
PLACE_CODE_KEYS = ("unit_code", "scope_code")

# Who may post, withdraw and answer: community, street and district staff (and the grid party secretary).
STAFF_ROLES = frozenset(
    {"community_staff", "community_worker", "street_staff", "district_staff", "admin", "grid_secretary"}
)


def community_of(unit_code: str) -> str | None:
    """Returns the community code a unit lies in, or None for a street or the district."""
    return unit_code[:COMMUNITY_LENGTH] if len(unit_code) >= COMMUNITY_LENGTH else None


def month_of(at: datetime) -> str:
    """Returns the Asia/Shanghai month of an instant as YYYY-MM."""
    return cadence.local_date(at).strftime("%Y-%m")


def parse_time(value: Any) -> datetime:
    """Parses an event's ISO timestamp (aware)."""
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    cadence.require_aware(parsed, "timestamp")
    return parsed


def related(principal: Principal, unit_code: str) -> bool:
    """Tells whether a principal lives or works inside a unit, or is responsible for it."""
    return any(g.scope.startswith(unit_code) or unit_code.startswith(g.scope) for g in principal.grants)


class DisclosureService:
    """Use cases over one transaction; flushes, never commits."""

    def __init__(self, session: AsyncSession, settings: Settings, now: datetime, event_key: str | None = None,
                 event_time: datetime | None = None) -> None:
        self.session = session
        # "<source>#<id>" of the upstream event being applied, when there is one.
        self.event_key = event_key
        # Its time (CloudEvents "time"): the upstream database's clock as its outbox row was written, which orders one
        # matter's events as their transactions took the matter's lock (a time in the data is a process's clock).
        self.event_time = event_time
        self.settings = settings
        self.now = now
        self.items = ItemRepository(session)
        self.questions = QuestionRepository(session)
        self.matters = MatterRepository(session)
        self.mediation = MediationRepository(session)
        self.codes = CodeMoveRepository(session)
        self.redaction: RedactionConfig = settings.redaction_config()
        self.policy = settings.cadence_policy()
        # The length of a grid's code: the finest place the public board names.
        self.grid_length = COMMUNITY_LENGTH + settings.grid_serial_width

    async def _upsert_matter(self, matter_id: uuid.UUID, community_code: str, at: datetime, **values: Any) -> Any:
        """Writes a matter's public record from the event being applied, its parts dated by the event's time."""
        return await self.matters.upsert(matter_id, community_code, at, stamp=self.event_time, **values)

    # --- publishing ---------------------------------------------------------------------------------

    async def _publish(
        self,
        *,
        unit_code: str,
        kind: str,
        category: str,
        title: str,
        content: dict[str, Any],
        major: bool = False,
        source_key: str | None = None,
        matter_id: uuid.UUID | None = None,
        posted_by: str | None = None,
        people: Iterable[str] = (),
        published_at: datetime | None = None,
    ) -> DisclosureItem | None:
        """Redacts and stores an item and writes item.published to the outbox; None if already built.

        An item is placed at a grid at the finest: a building's, building unit's or household's code (a building
        unit head's duty, a matter raised at a building unit) is cut to its grid's, in the item and its content,
        since it would locate homes."""
        unit_code = public_place_code(unit_code, self.grid_length)
        content = {key: public_place_code(value, self.grid_length) if key in PLACE_CODE_KEYS and isinstance(value, str)
                   else value for key, value in content.items()}
        raw = {"title": title, **content}
        names = with_detected(raw, people)
        redacted = redact_content(raw, self.redaction, known_names=names)
        public_title = redacted.pop("title") or labels.CATEGORY_LABELS.get(category, category)
        at = published_at or self.now
        item = await self.items.insert(
            id=uuid.uuid4(), unit_code=unit_code, community_code=community_of(unit_code), kind=kind,
            category=category, title=public_title, content=redacted, major=major, source_key=source_key,
            matter_id=matter_id, posted_by=posted_by, published_at=at, updated_at=at, private_names=sorted(names),
        )
        if item is not None:
            await publish(self.session, ItemPublished(item_id=item.id, unit_code=unit_code, kind=kind,
                                                      category=category, major=major, published_at=at))
        return item

    def redact_text(self, text: str, known_names: Iterable[str] = ()) -> str:
        """Masks phone and ID numbers and names (those found in it, and `known_names`) in a free text; removes
        addresses, health and minors' data."""
        return redact_text(text, self.redaction.masking, [*names_in_text(text), *known_names])

    async def as_today(self, principal: Principal) -> Principal:
        """The caller with their token's scopes as the codes are today (a token issued before a unit moved names its
        old code; the registry has re-coded the grant since, and old codes are never issued again)."""
        if not principal.grants:
            return principal
        moves = await replica.all_moves(self.session)
        if not moves:
            return principal
        return principal.model_copy(update={"grants": [Grant(role=g.role, scope=replica.code_today(g.scope, moves))
                                                       for g in principal.grants]})

    def _public_place(self, unit_code: str) -> None:
        """Refuses a post placed below a grid: a building's, building unit's or household's code (and its name, such as
        0102室) on the public board would locate homes."""
        if len(unit_code) > self.grid_length:
            raise RuleViolation("disclosure.place_too_fine", "unit_code: post at a grid or above, not at a building, "
                                "a building unit or a household (its code would locate homes)", field="unit_code")

    async def post_item(self, principal: Principal, command: ItemPost) -> DisclosureItem:
        """Publishes staff's minutes, covenant or notice, redacted."""
        # Posted where the unit is today (a form or token may name its code from before a move), and not while a move
        # is re-coding the unit's items.
        command = command.model_copy(update={"unit_code": await self.codes.current(command.unit_code)})
        require_scope(await self.as_today(principal), command.unit_code, STAFF_ROLES)
        self._public_place(command.unit_code)
        content: dict[str, Any] = {"body": command.body}
        if command.held_on:
            today = cadence.local_date(self.now)
            if not date(cadence.MIN_YEAR, 1, 1) <= command.held_on <= today + timedelta(days=1):
                # The cadence counts from the meeting: a future date would put it off (year 9999: for good).
                raise RuleViolation("disclosure.held_on_out_of_range", f"held_on: the meeting's day, between "
                                    f"{cadence.MIN_YEAR}-01-01 and today ({today})", field="held_on")
            content["held_on"] = command.held_on.isoformat()
        if command.people:
            content["attendee_names"] = list(command.people)
        item = await self._publish(unit_code=command.unit_code, kind=command.kind, category=command.category,
                                   title=command.title, content=content, major=command.major,
                                   posted_by=principal.sub, people=command.people)
        assert item is not None
        return item

    async def post_finance_statement(self, principal: Principal, command: FinanceStatementPost) -> DisclosureItem:
        """Publishes a finance statement with its fund lines and totals; a line given with its opening balance must
        add up (opening + income - expenditure = balance)."""
        command = command.model_copy(update={"unit_code": await self.codes.current(command.unit_code)})
        require_scope(await self.as_today(principal), command.unit_code, STAFF_ROLES)
        self._public_place(command.unit_code)
        if command.period > self.now.astimezone(cadence.SHANGHAI).strftime("%Y-%m"):
            raise RuleViolation("finance.period_ahead", f"period: {command.period} has not begun; a month's accounts "
                                "are disclosed once it has", field="period")
        # One statement of a unit's month stands at a time: a second one is a correction, and says which it replaces.
        await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                   {"key": f"disclosure.finance:{command.unit_code}:{command.period}"})
        standing = await self.items.live_finance_statement(command.unit_code, command.period)
        if standing is not None and command.supersedes != standing.id:
            raise Conflict(f"the statement of {command.period} is published ({standing.id}); to correct it, post the "
                           "corrected one with supersedes naming it", field="supersedes", current=str(standing.id))
        if command.supersedes is not None and standing is None:
            raise RuleViolation("finance.nothing_to_supersede", f"supersedes: no published statement of "
                                f"{command.period} at {command.unit_code} has this id", field="supersedes")
        if standing is not None:
            await self._refuse_open_questions(standing)
        for n, line in enumerate(command.lines):
            opening = line.opening_balance_cents
            if opening is not None and opening + line.income_cents - line.expenditure_cents != line.balance_cents:
                raise RuleViolation("finance.balance_mismatch", f"lines.{n}.balance_cents: {opening} + "
                                    f"{line.income_cents} - {line.expenditure_cents} is not {line.balance_cents}",
                                    field=f"lines.{n}.balance_cents")
        lines = [
            {"fund_type": line.fund_type, "fund_label": labels.FUND_LABELS[line.fund_type],
             **({"opening_balance_cents": line.opening_balance_cents} if line.opening_balance_cents is not None else {}),
             "income_cents": line.income_cents, "expenditure_cents": line.expenditure_cents,
             "balance_cents": line.balance_cents, **({"note": line.note} if line.note else {})}
            for line in command.lines
        ]
        totals = {key: sum(line[key] for line in lines)
                  for key in ("income_cents", "expenditure_cents", "balance_cents")}
        content: dict[str, Any] = {"period": command.period, "lines": lines, "totals": totals}
        if command.note:
            content["note"] = command.note
        title = command.title or f"{command.period} 财务收支公开"
        if standing is not None:
            content["supersedes"] = str(standing.id)
            await self._take_down(standing, f"更正：由 {command.period} 更正后的财务公开取代")
        item = await self._publish(unit_code=command.unit_code, kind="finance", category="finance_statement",
                                   title=title, content=content, major=command.major, posted_by=principal.sub,
                                   people=command.people)
        assert item is not None
        return item

    async def withdraw(self, principal: Principal, item_id: uuid.UUID, reason: str, *,
                       personal_data: bool = False) -> DisclosureItem:
        """Takes an item down once it has been up for the minimum display period, or at once when it discloses
        someone's personal information (the reason is kept, marked, for supervision)."""
        item = await self.items.get(item_id, lock=True)
        if item is None:
            raise NotFound(f"no disclosure item {item_id}")
        require_scope(await self.as_today(principal), item.unit_code, STAFF_ROLES)
        if item.withdrawn_at is not None:
            raise Conflict("the item is already withdrawn", allowed=[])
        if not personal_data and not cadence.can_withdraw(item.published_at, self.now, self.policy):
            earliest = cadence.earliest_withdrawal(item.published_at, self.policy)
            raise RuleViolation(
                "min_display_days",
                f"an item stays up at least {self.policy.min_display_days} days; it may be withdrawn from "
                f"{earliest.isoformat()}",
                earliest_withdrawal_at=earliest.isoformat(),
            )
        if not personal_data:
            await self._refuse_open_questions(item)
        if personal_data and item.matter_id is not None:
            # The matter's public title may be what exposed someone: the matter page and the matter's other items
            # stop showing it.
            await self.matters.untitle(item.matter_id, labels.UNTITLED_MATTER, self.now)
        await self._take_down(item, ("[个人信息] " if personal_data else "") + self.redact_text(reason))
        return item

    async def _refuse_open_questions(self, item: DisclosureItem) -> None:
        """Refuses to take down an item (held locked) while questions or objections on it await an answer: they go
        with it from the board, so a resident's objection is answered first (also when a correction replaces it)."""
        unanswered = await self.questions.unanswered(item.id)
        if unanswered:
            raise RuleViolation("disclosure.questions_open", f"{unanswered} question(s) or objection(s) on item "
                                f"{item.id} await an answer; answer them before it comes down",
                                questions_open=unanswered)

    async def _take_down(self, item: DisclosureItem, reason: str) -> None:
        """Withdraws an item (held locked) with its reason, and tells the bus."""
        item.withdrawn_at = self.now
        item.withdrawal_reason = reason
        item.updated_at = self.now
        await self.session.flush()
        await publish(self.session, ItemWithdrawn(item_id=item.id, unit_code=item.unit_code, kind=item.kind,
                                                  published_at=item.published_at, withdrawn_at=self.now))

    # --- supervision --------------------------------------------------------------------------------

    async def ask(self, principal: Principal, item_id: uuid.UUID, command: QuestionPost) -> SupervisionQuestion:
        """Records a resident's question or objection within the objection window, a few per person and item."""
        item = await self.items.get(item_id, lock=True)  # one person's concurrent questions are counted one by one
        if item is None or item.withdrawn_at is not None:
            raise NotFound(f"no public disclosure item {item_id}")
        if not related(await self.as_today(principal), item.unit_code):
            raise Forbidden(f"only residents and staff of {item.unit_code} may question this item",
                            scope=item.unit_code)
        if not supervision.objection_window_open(item.published_at, self.now, self.settings.objection_days):
            closes = supervision.objection_window_closes_at(item.published_at, self.settings.objection_days)
            raise RuleViolation("objection_window",
                                f"questions and objections are taken within {self.settings.objection_days} days "
                                f"of posting (closed {closes.isoformat()})", closed_at=closes.isoformat())
        limit = self.settings.max_questions_per_person
        if await self.questions.count_by(item.id, principal.sub) >= limit:
            raise RuleViolation("question.limit", f"you have put {limit} questions to this item; they are answered on "
                                "the item's page", limit=limit)
        question = SupervisionQuestion(
            id=uuid.uuid4(), item_id=item.id, unit_code=item.unit_code, kind=command.kind,
            body=self.redact_text(command.body, item.private_names), asked_by=principal.sub, asked_at=self.now,
            answer_due_at=supervision.answer_due_at(self.now, self.settings.answer_days),
        )
        self.questions.add(question)
        await self.session.flush()
        return question

    async def answer(self, principal: Principal, question_id: uuid.UUID, command: AnswerPost) -> SupervisionQuestion:
        """Records staff's answer; an answer after the deadline stays flagged overdue."""
        question = await self.questions.get(question_id, lock=True)
        if question is None:
            raise NotFound(f"no question {question_id}")
        require_scope(await self.as_today(principal), question.unit_code, STAFF_ROLES)
        if question.answered_at is not None:
            raise Conflict("the question is already answered", allowed=[])
        item = await self.items.get(question.item_id)
        question.answer = self.redact_text(command.body, item.private_names if item else ())
        question.answered_by = principal.sub
        question.answered_at = self.now
        if supervision.is_answer_overdue(question.asked_at, self.now, self.now, self.settings.answer_days):
            question.overdue = True
            question.flagged_at = question.flagged_at or self.now
        await self.session.flush()
        return question

    async def sweep_overdue_answers(self) -> list[uuid.UUID]:
        """Flags the questions still unanswered at their deadline."""
        return await self.questions.flag_unanswered_due_before(self.now)

    # --- cadence ------------------------------------------------------------------------------------

    async def cadence_report(self, principal: Principal, scope: str, as_of: date | None) -> CadenceReport:
        """Lists the communities under a scope that are overdue on each kind."""
        scope = await self.codes.current(scope)  # named by its code from before a move
        require_scope(await self.as_today(principal), scope, STAFF_ROLES)
        if as_of is not None and not cadence.MIN_YEAR <= as_of.year <= cadence.MAX_YEAR:
            raise RuleViolation("disclosure.as_of_out_of_range", f"as_of: a day between {cadence.MIN_YEAR} and {cadence.MAX_YEAR}",
                                field="as_of")
        today = as_of or cadence.local_date(self.now)
        communities = {u.code: u.unit_name for u in await replica.descendants(self.session, scope, level="community")}
        if len(scope) == COMMUNITY_LENGTH:
            unit = await replica.get_unit(self.session, scope)
            if unit is None or not unit.retired:
                communities[scope] = unit.unit_name if unit else None
        # Communities the registry retired are left out (descendants lists active units only): they disclose nothing
        # more, and would stay overdue for ever.
        for code in await self.items.known_communities(scope):
            communities.setdefault(code, None)
        # Items published after the report's date do not count (nor hide the ones before it).
        cutoff = cadence.start_of_day(today + timedelta(days=1))
        last = await self.items.last_posted_by_community(scope, cutoff, timedelta(days=self.policy.min_display_days))
        posted: dict[str, dict[str, datetime | None]] = {}
        for code in communities:
            kinds = last.get(code, {})
            posted[code] = {k.value: kinds.get(k.value) for k in cadence.DisclosureKind}
        report = cadence.compliance_report(posted, today, self.policy)
        rows = [CadenceRow(community_code=code, community_name=communities.get(code),
                           overdue_kinds=[k.value for k in kinds], last_posted=posted[code])
                for code, kinds in report.overdue.items()]
        by_kind = {k.value: [code for code, kinds in report.overdue.items() if k in kinds]
                   for k in cadence.DisclosureKind}
        late = []
        for item in await self.items.major_items(scope, cutoff):
            event_at = cadence.major_event_at(item.content)
            if event_at and cadence.is_major_item_late(event_at, item.published_at, self.now, self.policy):
                late.append(item.id)
        return CadenceReport(as_of=today, scope=scope, overdue=rows, compliant=report.compliant,
                             overdue_by_kind=by_kind, compliance_rate=round(report.compliance_rate, 4),
                             late_major_items=late)

    # --- items built from upstream events -------------------------------------------------------------

    async def _current_codes(self, d: dict[str, Any], *names: str) -> dict[str, Any]:
        """Returns an event's data with the unit codes it names as they are today: an event sent before a unit moved
        can arrive after the move, and its sender may go on naming the old code."""
        out = dict(d)
        for name in names:
            if isinstance(out.get(name), str):
                out[name] = await self.codes.current(out[name])
        return out

    async def matter_raised(self, d: dict[str, Any]) -> None:
        d = await self._current_codes(d, "community_code", "unit_code")
        matter_id = uuid.UUID(d["matter_id"])
        at = parse_time(d["raised_at"])
        await self._upsert_matter(matter_id, d["community_code"], at, unit_code=d.get("unit_code"),
                                  category=d.get("category"), raised_at=at,
                                  key_project=bool(d.get("key_project", False)))
        await self.matters.add_step(matter_id, at, "raised", {"raised_via": d.get("raised_via")}, self.event_key)

    async def matter_flagged(self, d: dict[str, Any]) -> None:
        """A matter flagged (or no longer) a key project after it was raised: the board tags it so, and its decision
        is disclosed at once as a major item."""
        d = await self._current_codes(d, "community_code")
        await self._upsert_matter(uuid.UUID(d["matter_id"]), d["community_code"], parse_time(d["at"]),
                                  key_project=bool(d["key_project"]))

    async def matter_transitioned(self, d: dict[str, Any]) -> None:
        d = await self._current_codes(d, "community_code")
        matter_id = uuid.UUID(d["matter_id"])
        at = parse_time(d["at"])
        await self._upsert_matter(matter_id, d["community_code"], at, stage=d["to_state"])
        await self.matters.add_step(matter_id, at, "transitioned",
                                    {"from_state": d["from_state"], "to_state": d["to_state"], "action": d["action"]},
                                    self.event_key)

    async def matter_decided(self, d: dict[str, Any]) -> None:
        d = await self._current_codes(d, "community_code", "unit_code")
        matter_id = uuid.UUID(d["matter_id"])
        at = parse_time(d["decided_at"])
        title = self.redact_text(d.get("public_title") or "")
        tally = {key: d[key] for key in ("rule_version", "quorum_met", "passed", "base_size", "present",
                                         "votes_for", "votes_against", "abstain")}
        tally["channel"] = d.get("channel")
        tally["decided_at"] = at.isoformat()
        matter = await self._upsert_matter(matter_id, d["community_code"], at, unit_code=d["unit_code"],
                                           category=d.get("category"), public_title=title, tally=tally,
                                           stage="decided" if d["passed"] else "not_passed")
        if matter.title_withheld:
            # An item of this matter was withdrawn for disclosing personal data: deciding it again (a matter not
            # passed is routed and decided anew) does not bring the title back.
            title = labels.UNTITLED_MATTER
        await self.matters.add_step(matter_id, at, "decided", tally, self.event_key)
        outcome = "通过" if d["passed"] else "未通过"
        await self._publish(
            unit_code=d["unit_code"], kind="residents", category="matter_decision",
            title=f"议事决定：{title}（{outcome}）",
            content={"matter_id": str(matter_id), "public_title": title, "category": d.get("category"),
                     "event_at": at.isoformat(), **tally},
            major=matter.key_project, source_key=f"matter.decided:{matter_id}:{at.isoformat()}",
            matter_id=matter_id,
        )

    async def matter_progress(self, d: dict[str, Any]) -> None:
        d = await self._current_codes(d, "community_code")
        matter_id = uuid.UUID(d["matter_id"])
        at = parse_time(d["at"])
        matter = await self.matters.get(matter_id)
        tasks = dict((matter.progress or {}).get("tasks", {})) if matter else {}
        known = tasks.get(str(d["task_id"]))
        stamp = self.event_time or at
        # A task's report older than the one on the board (sent again from the dead-letter topic) goes on the
        # timeline only: the record keeps the newer figures, and no item is published (it would stand as the board's
        # newest progress with the old percentage).
        current = known is None or parse_time(known.get("stamp", known["at"])) <= stamp
        if current:
            tasks[str(d["task_id"])] = {"percent": int(d["percent"]), "budget_cents": int(d["budget_cents"]),
                                        "spent_cents": int(d["spent_cents"]), "at": at.isoformat(),
                                        "stamp": stamp.isoformat()}
        summary = {
            "tasks": tasks,
            "percent": round(sum(t["percent"] for t in tasks.values()) / len(tasks)),
            "budget_cents": sum(t["budget_cents"] for t in tasks.values()),
            "spent_cents": sum(t["spent_cents"] for t in tasks.values()),
            "at": max((t["at"] for t in tasks.values()), key=parse_time),
        }
        await self._upsert_matter(matter_id, d["community_code"], at, progress=summary)
        step = {"task_id": str(d["task_id"]), "percent": int(d["percent"]), "budget_cents": int(d["budget_cents"]),
                "spent_cents": int(d["spent_cents"])}
        await self.matters.add_step(matter_id, at, "progress", step, self.event_key)
        if not current:
            return
        title = (matter.public_title if matter else None) or labels.UNTITLED_MATTER
        await self._publish(
            unit_code=(matter.unit_code if matter and matter.unit_code else d["community_code"]),
            # The title gives the whole project's progress (the mean of its tasks), as the matter page does: one task
            # at 100% is not the project done.
            kind="residents", category="matter_progress", title=f"实施进度：{title}（{summary['percent']}%）",
            content={"matter_id": str(matter_id), "public_title": title, **step, "event_at": at.isoformat(),
                     "matter_percent": summary["percent"], "matter_budget_cents": summary["budget_cents"],
                     "matter_spent_cents": summary["spent_cents"]},
            source_key=f"matter.progress:{d['task_id']}:{at.isoformat()}", matter_id=matter_id,
        )

    async def matter_evaluated(self, d: dict[str, Any]) -> None:
        d = await self._current_codes(d, "community_code")
        matter_id = uuid.UUID(d["matter_id"])
        at = parse_time(d["at"])
        evaluation = {"ratings": int(d["ratings"]), "bad": int(d["bad"]), "bad_share": float(d["bad_share"]),
                      "outcome": d["outcome"], "at": at.isoformat()}
        await self._upsert_matter(matter_id, d["community_code"], at, evaluation=evaluation)
        await self.matters.add_step(matter_id, at, "evaluated", evaluation, self.event_key)
        if d["outcome"] == "wait":  # ratings still coming in: the result is not final yet
            return
        matter = await self.matters.get(matter_id)
        title = (matter.public_title if matter else None) or labels.UNTITLED_MATTER
        verdict = "办结" if d["outcome"] == "close" else "重办"
        await self._publish(
            unit_code=(matter.unit_code if matter and matter.unit_code else d["community_code"]),
            kind="residents", category="matter_evaluation", title=f"评议结果：{title}（{verdict}）",
            content={"matter_id": str(matter_id), "public_title": title, **evaluation, "event_at": at.isoformat()},
            source_key=f"matter.evaluated:{matter_id}:{at.isoformat()}", matter_id=matter_id,
        )

    async def mediation_counted(self, outcome: str, d: dict[str, Any], event_id: str) -> None:
        """Counts one mediation step in the aggregates and refreshes the month's statistics item."""
        if not await self.mediation.claim_event(event_id, self.now):
            return
        d = await self._current_codes(d, "place_code", "community_code")
        place = d["place_code"]
        unit = d.get("community_code") or community_of(place) or place
        level = d.get("from_level") if outcome == "escalated" else d.get("level")
        at = parse_time(d.get("at") or d.get("opened_at"))
        period = month_of(at)
        level, dispute_type = level or "unknown", d.get("dispute_type") or "other"
        if outcome == "agreement_reached" and not await self.mediation.claim_success(
                uuid.UUID(str(d["case_id"])), unit, level, dispute_type, period):
            return  # a case is one success, also when it reaches a new agreement after a refused confirmation
        await self.mediation.increment(unit, level, dispute_type, period, outcome)
        await self._refresh_mediation_item(unit, period)

    async def mediation_confirmation(self, d: dict[str, Any], event_id: str) -> None:
        """A court's refusal to confirm an agreement (司法确认) takes the case's success back from the month it was
        counted in: the case is mediated again, as the mediation service's own statistics count it."""
        if d.get("outcome") != "refused":
            return
        await self.codes.hold()  # the count it takes back is keyed by a code a move may be re-coding
        if not await self.mediation.claim_event(event_id, self.now):
            return
        counted = await self.mediation.release_success(uuid.UUID(str(d["case_id"])))
        if counted is None:
            return
        await self.mediation.decrement(counted.unit_code, counted.level, counted.dispute_type, counted.period,
                                       "agreement_reached")
        await self._refresh_mediation_item(counted.unit_code, counted.period)

    async def _refresh_mediation_item(self, unit: str, period: str) -> None:
        """Publishes or refreshes a unit's mediation statistics item for a month from its counts.

        The counts are read once the item's lock is held, in a statement of their own: two consumers counting cases of
        one unit and month write the item one after the other, each from the counts the other committed (read before
        the lock, the second would write its stale counts over the first's)."""
        key = mediation_key(unit, period)
        await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                   {"key": f"disclosure.item:{key}"})
        content = await self._mediation_content(unit, period)
        item = await self.items.by_source_key(key, lock=True)
        if item is None:
            inserted = await self._publish(unit_code=unit, kind="residents", category="mediation_statistics",
                                           title=f"{period} 矛盾纠纷调解统计", content=content, source_key=key)
            if inserted is not None:
                return
            item = await self.items.by_source_key(key, lock=True)
        assert item is not None
        # A refreshed count publishes no event: disclosure.items carries publication and withdrawal only.
        item.content = content
        item.updated_at = self.now
        await self.session.flush()

    async def _mediation_content(self, unit: str, period: str) -> dict[str, Any]:
        """The content of a unit's mediation statistics item for a month, from its counts."""
        by_level: dict[str, dict[str, int]] = {}
        by_type: dict[str, int] = {}
        for lvl, dispute_type, out, count in await self.mediation.month_for_unit(unit, period):
            by_level.setdefault(lvl, {}).setdefault(out, 0)
            by_level[lvl][out] += count
            if out == "opened":
                by_type[dispute_type] = by_type.get(dispute_type, 0) + count
        return {"period": period, "by_level": by_level, "opened_by_dispute_type": by_type,
                "totals": {out: sum(v.get(out, 0) for v in by_level.values()) for out in labels.OUTCOME_LABELS}}

    async def duty_changed(self, granted: bool, d: dict[str, Any]) -> None:
        """Discloses a grid staff role taking up or leaving duty at a unit (role, unit and date only)."""
        role = d["role"]
        if role not in labels.DUTY_ROLES:
            return
        d = await self._current_codes(d, "scope_code")
        change = "granted" if granted else "revoked"
        role_label = labels.ROLE_LABELS[role]
        await self._publish(
            unit_code=d["scope_code"], kind="party" if role in labels.PARTY_DUTY_ROLES else "residents",
            category="duty_change", title=f"{role_label}{'到岗' if granted else '离岗'}",
            content={"role": role, "role_label": role_label, "change": change, "scope_code": d["scope_code"],
                     "effective_on": d.get("effective_on")},
            source_key=f"duty:{d['grant_id']}:{change}",
        )

    # --- org units that moved ---------------------------------------------------------------------------

    async def unit_moved(self, d: dict[str, Any]) -> None:
        """Re-codes this service's rows under a unit that moved, once the replica has recorded the move (same
        transaction): its items, questions, public matters and mediation counts follow it to the new code, so the new
        parent's reports and listings show it and the old parent's no longer do.

        Every recorded move that now leads into the unit is applied, not only this one: a chain of moves (or a row an
        event wrote under an earlier code) ends at today's code. Applying it twice changes nothing more, since no row
        is left under an old code, and old codes are never reused.
        """
        await self.codes.lock_for_move()
        moved_from = replica.take_moved_from(self.session)
        for old, new in [*([moved_from] if moved_from else []), *await self.codes.moves_into(d["new_code"])]:
            await self._recode(old, new)

    async def _recode(self, old: str, new: str) -> None:
        await self.mediation.recode(old, new)
        met = await self.items.recode(old, new, self.now)
        for stale_id, kept_id in met:
            # The unit's statistics for the month were counted under both codes: the counts are merged above, the
            # item under the new code shows them all, and the stale one is taken down.
            stale = await self.items.get(stale_id, lock=True, fresh=True)
            kept = await self.items.get(kept_id, lock=True, fresh=True)
            assert stale is not None and kept is not None
            if stale.withdrawn_at is None:
                stale.withdrawn_at = stale.updated_at = self.now
                stale.withdrawal_reason = "区划调整：统计已并入调整后单位的同月统计"
                await publish(self.session, ItemWithdrawn(item_id=stale.id, unit_code=stale.unit_code, kind=stale.kind,
                                                          published_at=stale.published_at, withdrawn_at=self.now))
            kept.content = await self._mediation_content(kept.unit_code, kept.content["period"])
            kept.updated_at = self.now
        await self.questions.recode(old, new)
        await self.matters.recode(old, new)
        await self.session.flush()
