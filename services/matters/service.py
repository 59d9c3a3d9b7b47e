"""The use cases of the 由民做主 workflow: raise, triage, route, decide, carry out, rate; dispatch and admission.

Services flush, never commit: the request's transaction commits the change and its outbox rows together.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import lru_cache
from typing import Any

from sqlalchemy import false, or_, select, true

from services.matters import events as ev
from services.matters.models import DepartmentTask, ImplementationTask, Matter, MatterTransition, OfflineTally, TaskProgress, TaskSpending, Vote, WorkOrder
from services.matters.repository import (
    MEETING_DEMANDED,
    READING_WORK_ORDER_STATUSES,
    BallotVote,
    CodeMoveRepository,
    MattersRepository,
    RecentMoves,
    Similar,
    today,
)
from services.matters.rules import deadlines
from services.matters.rules.admission import Catalogue, admit, load_catalogue
from services.matters.rules.evaluation import EvaluationAction, EvaluationPolicy
from services.matters.rules.lifecycle import (
    TERMINAL_STATES,
    Action,
    ActionRefused,
    InvalidTransition,
    State,
    allowed_actions,
    transition,
)
from services.matters.rules.routing import Category, Channel, Proposal, ScopeLevel, bigram_codes, propose_channel
from services.matters.rules.templates import Template, load_templates
from services.matters.rules.voting import (MEETING_CALL_RULES, RULES, DecisionRule, meeting_must_be_called,
                                           rule_from_mapping, tally)
from services.matters.settings import Settings
from youmin.kit import replica
from youmin.kit.auth import Grant, Principal
from youmin.kit.calendar import LOCAL_TZ, WorkCalendar, configured_calendar, end_of_day, local_date
from youmin.kit.db import autocommit_connection
from youmin.kit.errors import Conflict, Forbidden, NotFound, RuleViolation
from youmin.kit.names import masked_free_text
from youmin.kit.outbox import publish


def masked_text(text: str) -> str:
    """A matter's free text as another resident reads it (and as a title goes on the bus): phone, ID and e-mail masked,
    home addresses removed, and the names it is likely to carry masked to the surname."""
    return masked_free_text(text)


# A resident's search looks through the newest matters they may see, this many at most.
MASKED_SEARCH_SCAN = 2000
# Who triages, routes, runs votes and follows the work of matters within their scope.
STAFF_ROLES = frozenset({"community_staff", "community_worker", "street_staff", "district_staff", "admin"})
# Who may also record a matter raised face to face (grid and building staff).
FIELD_ROLES = STAFF_ROLES | {"grid_manager", "grid_head", "grid_secretary", "building_head", "unit_head"}
RESIDENT = "resident"
# Duplicate suggestions: at most SUGGESTIONS are shown, the most alike among the community's DUPLICATE_CANDIDATES
# newest live matters.
SUGGESTIONS = 10
DUPLICATE_CANDIDATES = 200
# Grid staff triage the matters placed in their grid (accept, reject, merge a duplicate, place at the building it is
# about); routing and deciding stay with the community's staff.
TRIAGE_ROLES = frozenset({"grid_manager", "grid_head", "grid_secretary"})
TRIAGE_ACTIONS = frozenset({Action.ACCEPT, Action.REJECT, Action.MERGE, Action.PLACE})
# Channels whose decision is the residents' vote (a meeting of the community, of a building or unit, or one that
# passes a covenant).
VOTING_CHANNELS = frozenset({Channel.RESIDENTS_MEETING.value, Channel.NEIGHBOURHOOD.value, Channel.COVENANT.value})
# The channels in which the community's residents' meeting decides: its whole electorate votes.
COMMUNITY_MEETING_CHANNELS = frozenset({Channel.RESIDENTS_MEETING.value, Channel.COVENANT.value})
SYSTEM_EVALUATION = "system:evaluation"
# Who closes a vote whose window (and grace for paper tallies) has passed: the service itself.
VOTE_WINDOW = Principal(sub="system:vote-window", kind="service")
# Who counts the residents' requests for a meeting when the router proposes a channel (asked by nobody in particular).
SYSTEM_READER = Principal(sub="system:router", kind="service")
# The states in which residents ask for a meeting on a matter: until it is decided (or again once a decision failed).
MEETING_REQUEST_STATES = frozenset({State.RAISED, State.ACCEPTED, State.ROUTED, State.DELIBERATING, State.NOT_PASSED})
# The timeline entry of a covenant filed with the street office (not a lifecycle move: the state stays).
COVENANT_FILED = "file_covenant"
FLAGS_CHANGED = "flag"  # a timeline entry: key project or major set or taken off
# The states before a decision is under way (a vote opens as the matter goes to deciding): its major flag may change
# there, if no vote on it has opened before.
BEFORE_A_VOTE = frozenset({State.RAISED.value, State.ACCEPTED.value, State.ROUTED.value, State.DELIBERATING.value})

@dataclass(frozen=True)
class CodeWidths:
    """The lengths of the levels' codes below a community: the grid serial's width is the district's choice (the
    registry's scheme); a building adds 3 digits, a building unit 2, a household 4."""

    grid_serial_width: int = 3

    @property
    def grid(self) -> int:
        return 12 + self.grid_serial_width

    @property
    def unit(self) -> int:  # a building unit (单元): the finest a matter is placed at
        return self.grid + 5

    @property
    def household(self) -> int:
        return self.unit + 4

    def is_unit_code(self, code: str) -> bool:
        """Whether a code has the length of a community's or of a unit's below it (grid, building, unit, household)."""
        return len(code) in (12, self.grid, self.grid + 3, self.unit, self.household)

    def scope_of(self, code: str) -> ScopeLevel:
        """The scope of a matter at a unit; above a community (placed for triage) it is routed as community-wide."""
        return {self.grid: ScopeLevel.GRID, self.grid + 3: ScopeLevel.BUILDING, self.unit: ScopeLevel.UNIT,
                self.household: ScopeLevel.UNIT}.get(len(code), ScopeLevel.COMMUNITY)

    def vote_scope(self, code: str) -> str:
        """The unit whose residents vote on and rate a matter: a household's matter is its building unit's."""
        return code[:self.unit] if len(code) == self.household else code


def public_status(state: str) -> str:
    """Maps a lifecycle state to the public open/closed status (Open311)."""
    return "closed" if State(state) in TERMINAL_STATES else "open"


@lru_cache(maxsize=4)
def _templates(path: str | None = None) -> dict[str, Template]:
    return load_templates(path)


@lru_cache(maxsize=4)
def _catalogue(path: str | None = None) -> Catalogue:
    return load_catalogue(path)


def templates() -> dict[str, Template]:
    """The built-in community workflow templates, validated once."""
    return _templates()


def template_dict(template: Template) -> dict[str, Any]:
    """A template as plain data."""
    return {
        "code": template.code,
        "community": template.community,
        "name": template.name,
        "description": template.description,
        "default_rule": template.default_rule.as_mapping(),
        "major_rule": template.major_rule.as_mapping() if template.major_rule else None,
        "stages": [{"code": s.code, "title": s.title, "states": [str(x) for x in s.states]} for s in template.stages],
    }


def _digest(vote_id: uuid.UUID, receipt: str) -> str:
    return hashlib.sha256(f"{vote_id}:{receipt}".encode()).hexdigest()


@dataclass
class Context:
    """Who is asking and when."""

    principal: Principal
    now: datetime


class MattersService:
    """The matters service's use cases over one transaction."""

    def __init__(self, session: Any, settings: Settings, calendar: WorkCalendar | None = None,
                 recent_moves: RecentMoves | None = None) -> None:
        self.session = session
        self.recent_moves = recent_moves
        self.repo = MattersRepository(session)
        self.code_moves = CodeMoveRepository(session)
        self.settings = settings
        self.calendar = calendar or configured_calendar(settings.calendar_path)
        self.codes = CodeWidths(settings.grid_serial_width)

    # --- scope ------------------------------------------------------------------------------------

    async def caller(self, principal: Principal) -> Principal:
        """Returns the caller with the scopes of their token as the codes are today: a token issued before a unit moved
        names its old code, and the registry has re-coded the grant since (old codes are never reused, so nobody else's
        scope changes)."""
        if not principal.grants:
            return principal
        moves = await self.recent_moves.get(self.session) if self.recent_moves else \
            await self.code_moves.all_moves()
        if not moves or all(today(g.scope, moves) == g.scope for g in principal.grants):
            return principal
        return principal.model_copy(update={"grants": [Grant(role=g.role, scope=today(g.scope, moves))
                                                       for g in principal.grants]})

    def visibility(self, principal: Principal) -> Any:
        """The SQL condition for the matters a principal may read: their scope and their own."""
        if principal.kind == "service":
            return true()
        conditions: list[Any] = [Matter.proposer_sub == principal.sub]
        if principal.kind == "department" and principal.department:
            conditions.append(Matter.matter_id.in_(select(WorkOrder.matter_id).where(
                WorkOrder.department_code == principal.department, WorkOrder.status.in_(READING_WORK_ORDER_STATUSES))))
        for grant in principal.grants:
            if grant.role == RESIDENT:
                conditions.append(Matter.community_code == grant.scope[:12])
            else:
                conditions.append(Matter.unit_code.startswith(grant.scope))
        return or_(*conditions) if conditions else false()

    async def can_read(self, principal: Principal, matter: Matter) -> bool:
        if principal.kind == "service" or matter.proposer_sub == principal.sub:
            return True
        if principal.kind == "department" and principal.department:
            if principal.department in {wo for wo in await self._departments_of(matter)}:
                return True
        for grant in principal.grants:
            if grant.role == RESIDENT and matter.community_code == grant.scope[:12]:
                return True
            if grant.role != RESIDENT and matter.unit_code.startswith(grant.scope):
                return True
        # A household's proxy who lives elsewhere votes on the matter: they read it (masked), its votes and receipts.
        return principal.kind == "user" and await self.repo.casts_on_matter(matter.matter_id, principal.sub)

    async def _departments_of(self, matter: Matter) -> set[str]:
        """The departments that read the matter: those holding a work order of it they have not sent back, nor had
        cancelled (a matter placed in another community goes to that community's department)."""
        rows = await self.session.execute(select(WorkOrder.department_code).where(
            WorkOrder.matter_id == matter.matter_id, WorkOrder.status.in_(READING_WORK_ORDER_STATUSES)))
        return set(rows.scalars())

    async def readable_matter(self, principal: Principal, matter_id: uuid.UUID, *, lock: bool = False) -> Matter:
        matter = await self.repo.get_matter(matter_id, lock=lock)
        if matter is None or not await self.can_read(principal, matter):
            raise NotFound(f"no matter {matter_id}")
        return matter

    @staticmethod
    def require_staff(principal: Principal, code: str) -> None:
        if not principal.covers(code, STAFF_ROLES):
            raise Forbidden(f"only community, street or district staff covering {code} may do this", scope=code)

    def electorate_scope(self, matter: Matter) -> str:
        """The unit whose residents (or households) vote on a matter: the whole community's when the residents'
        meeting decides it (that channel, or a residents' covenant, which the meeting adopts: Urban Residents Committee
        Organization Law art. 15), wherever in the community the matter was raised; else the matter's own unit (a
        household's matter is its building unit's)."""
        if matter.channel in COMMUNITY_MEETING_CHANNELS:
            return matter.community_code
        return self.codes.vote_scope(matter.unit_code)

    def require_meeting_runner(self, principal: Principal, matter: Matter) -> None:
        """Staff run every vote; grid staff (网格员, 楼长, 单元长) also run the building and unit meetings of their grid:
        a vote of a building or of one of its units, on a matter not flagged major."""
        if principal.covers(matter.unit_code, STAFF_ROLES):
            return
        scope = self.electorate_scope(matter)
        if len(scope) > self.codes.grid and not matter.major and principal.covers(scope, FIELD_ROLES):
            return
        raise Forbidden(f"only staff covering {matter.unit_code} run this vote (grid staff run the meetings of a "
                        "building or unit in their grid)", scope=matter.unit_code)

    async def actions_for(self, principal: Principal, matter: Matter, vote_open: bool | None = None) -> list[str]:
        """The moves the caller may make on a matter now, as apply_transition would take them: staff any but a
        withdrawal, grid staff the triage of their grid's matters, the proposer a withdrawal; none that a vote decides
        or that an open vote holds back."""
        if principal.covers(matter.unit_code, STAFF_ROLES):
            mine = {a.value for a in Action} - {Action.WITHDRAW.value}
        elif principal.covers(matter.unit_code, TRIAGE_ROLES):
            mine = {a.value for a in TRIAGE_ACTIONS}
        else:
            mine = set()
        if matter.proposer_sub == principal.sub:
            mine.add(Action.WITHDRAW.value)
        decisions = {Action.DECIDE.value, Action.FAIL_DECISION.value}
        if matter.major or matter.channel in VOTING_CHANNELS:
            mine -= decisions  # closing the vote decides it
        held = decisions | {Action.WITHDRAW.value, Action.CANCEL_DECISION.value}
        if matter.state == State.DECIDING.value and mine & held:
            if vote_open is None:  # a list looks its page's votes up at once and says
                vote_open = await self.repo.open_vote_of(matter.matter_id) is not None
            if vote_open:
                mine -= held
        return [a for a in allowed_actions(matter.state) if a in mine]

    async def template_of(self, community_code: str) -> tuple[Template, bool]:
        """The community's workflow template, and whether the community chose it (else it is the default)."""
        choice = await self.repo.template_choice(community_code)
        chosen = choice.template_code if choice is not None else None
        return self._template_named(chosen), chosen in templates()

    def _template_named(self, template_code: str | None) -> Template:
        """The template a community chose (by its code), else the default one."""
        all_templates = templates()
        return all_templates.get(template_code or "") or all_templates[self.settings.default_template]

    @staticmethod
    def reads_in_full(principal: Principal, unit_code: str, proposer_sub: str | None = None) -> bool:
        """Whether the caller reads a matter's free text as written: its proposer, an integration, a department, or staff
        whose grant covers its place (the community's, street's and district's staff, and the grid's and building's).
        Other residents of the community read it with personal data masked, and so do those who read it through a
        role that is not staff: party members, representatives, part-time committee members, mediators, legal
        advisers and departments' liaisons."""
        if principal.kind in ("service", "department") or (proposer_sub is not None and proposer_sub == principal.sub):
            return True
        return principal.covers(unit_code, FIELD_ROLES)

    async def search(self, principal: Principal, filters: dict[str, Any], q: str | None, limit: int,
                     offset: int) -> tuple[list[Matter], int, bool]:
        """A page of the matters matching the filters and words, with their total and whether a resident's search was
        limited to the newest MASKED_SEARCH_SCAN matches.

        A resident searches their neighbours' matters as they read them: the words must be in the masked text (a
        search of the text as written would tell, digit by digit, a phone number it hides)."""
        if not q or not self.reads_some_masked(principal):
            matters, total = await self.repo.list_matters(**filters, q=q, limit=limit, offset=offset)
            return matters, total, False
        scanned, _ = await self.repo.list_matters(**filters, q=q, limit=MASKED_SEARCH_SCAN, offset=0)
        words = q.casefold()

        def found(m: Matter) -> bool:
            if self.reads_in_full(principal, m.unit_code, m.proposer_sub):
                return True
            return words in masked_text(m.title).casefold() or words in masked_text(m.description).casefold()

        hits = [m for m in scanned if found(m)]
        return hits[offset:offset + limit], len(hits), len(scanned) == MASKED_SEARCH_SCAN

    @staticmethod
    def reads_some_masked(principal: Principal) -> bool:
        """Whether some matters the caller may see are read with personal data masked: a grant (a resident's over
        their community, or one of a role that is not staff: see reads_in_full) over a place no staff grant of theirs
        covers."""
        if principal.kind in ("service", "department"):
            return False
        return any(not principal.covers(g.scope[:12] if g.role == RESIDENT else g.scope, FIELD_ROLES)
                   for g in principal.grants)

    async def read(self, principal: Principal, matter: Matter, template: Template | None = None,
                   vote_open: bool | None = None) -> dict[str, Any]:
        template = template or (await self.template_of(matter.community_code))[0]
        stage = template.stage_for(matter.state)
        in_full = self.reads_in_full(principal, matter.unit_code, matter.proposer_sub)
        return {
            "matter_id": matter.matter_id,
            "community_code": matter.community_code,
            "unit_code": matter.unit_code,
            "scope_level": matter.scope_level,
            "title": matter.title if in_full else masked_text(matter.title),
            "description": matter.description if in_full else masked_text(matter.description),
            "category": matter.category,
            "category_label": Category(matter.category).label,
            "nature": matter.nature,
            "key_project": matter.key_project,
            "major": matter.major,
            "state": matter.state,
            "status": public_status(matter.state),
            "stage": {"code": stage.code, "title": stage.title} if stage else None,
            "template_code": template.code,
            "channel": matter.channel,
            "proposed_channel": matter.proposed_channel,
            "raised_via": matter.raised_via,
            "external_token": matter.external_token,
            "merged_into_id": matter.merged_into_id,
            "mine": matter.proposer_sub == principal.sub,
            "allowed_actions": await self.actions_for(principal, matter, vote_open),
            "created_at": matter.created_at,
            "state_entered_at": matter.state_entered_at,
        }

    # --- raise ------------------------------------------------------------------------------------

    async def raise_matter(self, ctx: Context, data: Any) -> tuple[Matter, list[dict[str, Any]], Template]:
        """Raises a matter (民事民提) by a resident, field staff, a department or an integration; returns it, the
        similar matters of its community the caller may read (duplicate suggestions), and its community's template."""
        principal = ctx.principal
        if data.unit_code is not None and not self.codes.is_unit_code(data.unit_code):
            raise RuleViolation("matter.unit_code_malformed", f"unit_code: {data.unit_code} is not the code of a "
                                f"community or of a unit in one (grid serials of {self.codes.grid_serial_width} "
                                "digits)", field="unit_code")
        # The caller may name a unit by the code it had before it moved (a form made then): the matter is checked and
        # written under today's code, where the unit's staff find it.
        resident_scopes = principal.scopes({RESIDENT}) if principal.kind not in ("department", "service") else []
        codes = [c for c in (data.unit_code, *resident_scopes[:1]) if c]
        # A person's matter is checked without reading the database, and written in one statement that is its own
        # transaction, taking the codes as today's: the statement writes nothing if a unit under them has moved
        # (see MattersRepository.insert_raised). Then, or if the checks refused it, it is decided again as below.
        if principal.kind == "user" and not data.external_token:
            async with autocommit_connection(self.session) as connection:
                try:
                    raised = connection and await self._raise(ctx, data, {c: c for c in codes}, unmoved=codes,
                                                              connection=connection)
                except (Forbidden, RuleViolation):
                    raised = None
        else:
            raised = None
        if raised is None:
            # The codes as they are today, read under the lock that holds moves back until this transaction ends.
            raised = await self._raise(ctx, data, await self.code_moves.hold_current_of(codes))
            assert raised is not None  # nothing is taken as unmoved
        # The suggestions the caller may read, once the connection of the one statement is back in the pool: reading
        # them may take one through the session.
        matter, found, template = raised
        found = await self._readable(principal, matter.community_code, found)
        return matter, await self._suggestions(principal, matter.community_code, found), template

    async def _raise(self, ctx: Context, data: Any, named: dict[str, str], *, unmoved: list[str] | None = None,
                     connection: Any = None) -> tuple[Matter, list[Similar], Template] | None:
        """Checks and writes a matter, its codes as `named` gives them today; returns it, the similar matters of its
        community (all of them: see _readable) and its template. None if a unit under a code of `unmoved` has moved
        since (nothing is written)."""
        principal = ctx.principal
        unit_code = named[data.unit_code] if data.unit_code else None
        household_code: str | None = None
        department_code: str | None = None
        if principal.kind == "department":
            via = data.raised_via or "department"
            department_code = principal.department
            if unit_code is None and department_code:
                # A location alone (an Open311 request) is placed for triage at the lowest unit covering every
                # community the department is bound to: that community, else their street (9 digits) or district (6).
                assigned = await self._assigned_communities(department_code)
                first = assigned[0] if assigned else ""
                unit_code = next((first[:n] for n in (12, 9, 6)
                                  if first and all(a.startswith(first[:n]) for a in assigned)), None)
        elif principal.kind == "service":
            via = data.raised_via or "open311"
        else:
            resident_scopes = principal.scopes({RESIDENT})
            if unit_code is not None and principal.covers(unit_code, FIELD_ROLES):
                via = data.raised_via or "face_to_face"
            elif resident_scopes:
                if data.external_token is not None:
                    # The token is another system's reference (Open311, a hotline): a resident claiming one would
                    # take it from the request that system later sends.
                    raise Forbidden("external_token: an external system's token is given by that system or by staff",
                                    field="external_token")
                household_code = named[resident_scopes[0]]  # as of the lock held above
                unit_code = unit_code or household_code[:12]
                if unit_code[:12] != household_code[:12]:
                    raise Forbidden("a resident raises matters of their own household's community", field="unit_code")
                via = "app"
            elif unit_code is None:
                raise RuleViolation("matter.unit_code_required", "unit_code: say which community or unit the matter is about", field="unit_code")
            else:
                raise Forbidden(f"no grant lets you raise a matter at {unit_code}", scope=unit_code)
        if unit_code is None:
            raise RuleViolation(
                "matter.unit_code_required",
                "unit_code: a location alone (lat/long/address) cannot be placed in a community; give the unit code",
                field="unit_code",
            )
        if len(unit_code) > self.codes.unit:
            # Matters, their events and their public disclosure carry the unit code: a household's would locate a home.
            raise RuleViolation("matter.place_too_fine", "unit_code: raise a matter at a building unit or above, "
                                "not at a household", field="unit_code")
        if principal.kind in ("department", "service") and data.unit_code is not None:
            # Staff and residents raise within their own grants; a department or an integration holds no unit grant,
            # so the code it names must be a current unit of the registry (the district's tree), or the matter would
            # sit where no staff member covers it.
            unit = await replica.get_unit(self.session, unit_code)
            if unit is None or unit.retired:
                raise RuleViolation("matter.unit_unknown", f"unit_code: {unit_code} is not a current registry unit",
                                    field="unit_code")
        if data.external_token and await self.repo.matter_by_token(data.external_token):
            raise Conflict(f"a matter with token {data.external_token} exists already", field="external_token")
        # A matter placed above a community for triage keeps that street or district code as its community and is
        # routed as a community-wide matter.
        community = unit_code[:12]
        if (data.key_project or data.major) and not principal.covers(unit_code, STAFF_ROLES):
            # A key project is tagged on the public board and a major matter is decided by the stricter rule.
            field_name = "key_project" if data.key_project else "major"
            raise Forbidden(f"{field_name}: only staff covering {unit_code} flag a key project or a major matter",
                            field=field_name)
        matter = Matter(
            matter_id=uuid.uuid4(),
            community_code=community,
            unit_code=unit_code,
            scope_level=self.codes.scope_of(unit_code).value,
            title=data.title.strip(),
            title_bigrams=bigram_codes(data.title.strip()),
            description=data.description.strip(),
            category=data.category.value,
            nature=data.nature.value,
            key_project=data.key_project,
            major=data.major,
            state=State.RAISED.value,
            raised_via=via,
            proposer_sub=principal.sub,
            proposer_kind=principal.kind,
            proposer_household_code=household_code,
            department_code=department_code,
            external_token=data.external_token,
            latitude=data.latitude,
            longitude=data.longitude,
            address_string=data.address_string,
            created_at=ctx.now,
            state_entered_at=ctx.now,
        )
        # One statement writes the matter and its first timeline entry, and reads the suggestions (looked for before
        # the new matter is written, so it is not its own duplicate) and the community's template.
        written = await self.repo.insert_raised(
            matter, {"raised_via": via},
            ev.MatterRaised(matter_id=matter.matter_id, community_code=community, unit_code=unit_code,
                            category=matter.category, raised_via=via, raised_at=ctx.now, key_project=matter.key_project),
            self.settings.duplicate_threshold, unmoved=unmoved or (), connection=connection,
            top=self._suggestions_looked_at(principal))
        if written is None:
            return None
        duplicates, template_code = written
        return matter, duplicates, self._template_named(template_code)

    async def _assigned_communities(self, department_code: str) -> list[str]:
        from sqlalchemy import text

        rows = await self.session.execute(
            text("SELECT community_code FROM replica_department_assignment WHERE department_code = :d AND active ORDER BY 1"),
            {"d": department_code},
        )
        return list(rows.scalars())

    async def duplicates(self, principal: Principal, matter_id: uuid.UUID) -> list[dict[str, Any]]:
        matter = await self.readable_matter(principal, matter_id)
        found = await self.repo.similar_matters(matter.community_code, matter.matter_id, matter.title_bigrams,
                                                self.settings.duplicate_threshold,
                                                top=self._suggestions_looked_at(principal))
        found = await self._readable(principal, matter.community_code, found)
        # Scored against the matter's title as written: one the caller reads with words hidden suggests nothing.
        title_in_full = (self.reads_in_full(principal, matter.unit_code, matter.proposer_sub)
                         or masked_text(matter.title) == matter.title)
        return await self._suggestions(principal, matter.community_code, found, title_in_full)

    def _suggestions_looked_at(self, principal: Principal) -> int:
        """How many of the most alike matters to look at for the SUGGESTIONS shown: all the candidates for a caller
        who reads some of them masked (those left out must not make room for others, or how many of the caller's own
        show would tell whether a hidden title is alike), else only as many as are shown."""
        return DUPLICATE_CANDIDATES if self.reads_some_masked(principal) else SUGGESTIONS

    async def _suggestions(self, principal: Principal, community: str, found: list[Similar],
                           title_in_full: bool = True) -> list[dict[str, Any]]:
        """The suggested matters' titles as the caller reads them (grid staff read their grid's in full), most alike
        first. The titles are compared as written: a matter whose title the caller reads with words hidden is not
        suggested to them (whether it is alike, and how much, would confirm a guessed name or phone number digit by
        digit); and nothing is suggested when the title compared (`title_in_full` False) is itself one they read with
        words hidden."""
        in_full = self.reads_in_full(principal, community)
        if not title_in_full:
            return []
        return [{"matter_id": f.matter_id, "title": f.title, "score": round(f.score, 3)} for f in found
                if in_full or self.reads_in_full(principal, f.unit_code, f.proposer_sub)
                or masked_text(f.title) == f.title][:SUGGESTIONS]

    async def _readable(self, principal: Principal, community: str, found: list[Similar]) -> list[Similar]:
        """Keeps the suggested matters the caller may read: a suggestion shows another matter's title."""
        if not found or principal.kind == "service" or any(
                (g.role == RESIDENT and g.scope[:12] == community) or (g.role != RESIDENT and community.startswith(g.scope))
                for g in principal.grants):
            return found  # the caller reads every matter of the community
        rows = await self.session.execute(select(Matter).where(Matter.matter_id.in_([f.matter_id for f in found])))
        readable = {m.matter_id for m in rows.scalars() if await self.can_read(principal, m)}
        return [f for f in found if f.matter_id in readable]

    # --- transitions ------------------------------------------------------------------------------

    async def _move(
        self,
        matter: Matter,
        action: Action,
        actor: str,
        now: datetime,
        *,
        reason: str | None = None,
        reason_code: str | None = None,
        merge_into: uuid.UUID | None = None,
        by_proposer: bool = False,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Applies one lifecycle move, records it on the timeline and publishes it."""
        try:
            to_state = transition(matter.state, action, reason=reason, merge_target_id=str(merge_into) if merge_into else None,
                                  by_proposer=by_proposer)
        except InvalidTransition as error:
            raise Conflict(str(error), state=matter.state, action=str(action), allowed=error.allowed) from None
        except ActionRefused as error:
            if error.rule == "matter.withdraw_by_proposer_only":
                raise Forbidden(error.detail, rule=error.rule) from None
            field = {"matter.reject_reason_required": "reason", "matter.cancel_reason_required": "reason",
                     "matter.merge_target_required": "merge_into"}.get(error.rule)
            raise RuleViolation(error.rule, error.detail, **({"field": field} if field else {})) from None
        from_state = matter.state
        matter.state = to_state.value
        if action is not Action.PLACE:  # placing moves the matter, not its stage: the triage clock keeps running
            matter.state_entered_at = now
        self.session.add(
            MatterTransition(matter_id=matter.matter_id, from_state=from_state, to_state=to_state.value, action=action.value,
                             actor_sub=actor, reason=reason, reason_code=reason_code, details=details or {}, at=now)
        )
        await self.session.flush()
        moved_away = action is Action.PLACE and any(
            order.community_code != matter.community_code for order in await self.repo.open_work_orders_of(matter.matter_id))
        if to_state in TERMINAL_STATES or moved_away:
            # The matter ended, or was placed in another community (whose staff dispatch it to their own departments,
            # 部门包居): the open orders sent for it end, and the departments' feed says so.
            for order in await self.repo.open_work_orders_of(matter.matter_id):
                order.status, order.warning = "cancelled", "none"
                await self._work_order_changed(order, "cancel", now)
        await publish(
            self.session,
            ev.MatterTransitioned(matter_id=matter.matter_id, community_code=matter.community_code, from_state=from_state,
                                  to_state=to_state.value, action=action.value, at=now, reason_code=reason_code),
        )

    async def set_flags(self, ctx: Context, matter_id: uuid.UUID, data: Any) -> Matter:
        """Flags a matter as a key project (重点项目) or a major matter, or takes a flag off: staff covering its place,
        on a matter that has not ended. A major matter is decided by a vote under the stricter rule, so that flag
        changes only until a vote on the matter opens (its rule is frozen then). On the timeline (the state does not
        change) and on the bus."""
        if data.key_project is None and data.major is None:
            raise RuleViolation("matter.flags_required", "key_project: give key_project, major or both", field="key_project")
        await self.code_moves.hold()
        matter = await self.readable_matter(ctx.principal, matter_id, lock=True)
        self.require_staff(ctx.principal, matter.unit_code)
        if State(matter.state) in TERMINAL_STATES:
            raise Conflict(f"the matter is {matter.state}", state=matter.state, allowed=[])
        changes = {name: value for name in ("key_project", "major")
                   if (value := getattr(data, name)) is not None and value != getattr(matter, name)}
        if "major" in changes and (matter.state not in BEFORE_A_VOTE
                                   or await self.repo.vote_ids(matter.matter_id, counted_only=True)):
            # A matter voted on once (and not passed, routed again) is voted on again under the rule it had.
            raise RuleViolation("matter.major_after_vote", "major: a vote on this matter has opened under the rule it "
                                "had; whether it is major is set before its first vote", field="major")
        if not changes:
            return matter
        details = {name: {"from": getattr(matter, name), "to": value} for name, value in changes.items()}
        for name, value in changes.items():
            setattr(matter, name, value)
        self.session.add(MatterTransition(matter_id=matter.matter_id, from_state=matter.state, to_state=matter.state,
                                          action=FLAGS_CHANGED, actor_sub=ctx.principal.sub, reason=data.reason,
                                          details=details, at=ctx.now))
        await self.session.flush()
        await publish(self.session, ev.MatterFlagged(matter_id=matter.matter_id, community_code=matter.community_code,
                                                     key_project=matter.key_project, major=matter.major, at=ctx.now))
        return matter

    async def file_covenant(self, ctx: Context, matter_id: uuid.UUID, data: Any) -> Matter:
        """Records the filing of a covenant with the street office, once the meeting has passed it; on the timeline
        (the state does not change) and on the bus."""
        matter = await self.readable_matter(ctx.principal, matter_id, lock=True)
        self.require_staff(ctx.principal, matter.unit_code)
        if matter.channel != Channel.COVENANT.value:
            raise RuleViolation("covenant.not_a_covenant", "only a matter routed to covenant drafting is filed as a "
                                "covenant", channel=matter.channel)
        steps = await self.repo.timeline(matter.matter_id)
        decided = [t for t in steps if t.action == Action.DECIDE.value]
        if not decided or matter.state in (State.DECIDING.value, State.NOT_PASSED.value):
            raise RuleViolation("covenant.not_passed", "the residents' meeting passes a covenant before it is filed",
                                state=matter.state)
        if any(t.action == COVENANT_FILED for t in steps):
            raise Conflict("the covenant is filed already", rule="covenant.already_filed")
        passed_on, today = local_date(decided[-1].at), local_date(ctx.now)
        if not passed_on <= data.filed_on <= today:
            raise RuleViolation("covenant.filing_date", f"filed_on: between the day the meeting passed it ({passed_on}) "
                                f"and today ({today})", field="filed_on")
        details = {"filed_on": data.filed_on.isoformat(), "reference": data.reference}
        self.session.add(MatterTransition(matter_id=matter.matter_id, from_state=matter.state, to_state=matter.state,
                                          action=COVENANT_FILED, actor_sub=ctx.principal.sub, details=details,
                                          at=ctx.now))
        await self.session.flush()
        await publish(self.session, ev.MatterTransitioned(
            matter_id=matter.matter_id, community_code=matter.community_code, from_state=matter.state,
            to_state=matter.state, action=COVENANT_FILED, at=ctx.now, reason_code=None))
        return matter

    # --- residents asking for a residents' meeting ----------------------------------------------------------

    async def request_meeting(self, ctx: Context, matter_id: uuid.UUID) -> dict[str, Any]:
        """Records a resident's request that a residents' meeting be called on a matter (one per person, residents of
        the matter's community as the registry has them). Once a fifth of the community's adults, or of its
        households (through an adult of theirs), have asked, the meeting must be called (Urban Residents Committee
        Organization Law art. 14): that is put on the timeline and on the bus once, and the router proposes the
        residents' meeting from then on. Answers the count as meeting_requests does."""
        await self.code_moves.hold()
        matter = await self.readable_matter(ctx.principal, matter_id, lock=True)  # requests are counted in turn
        residency = await self.repo.residency(ctx.principal.sub)
        if (residency is None or not residency[0].startswith(matter.community_code)
                or not any(g.role == RESIDENT for g in ctx.principal.grants)):
            raise Forbidden(f"residents registered in {matter.community_code} ask for its residents' meeting",
                            scope=matter.community_code)
        if State(matter.state) not in MEETING_REQUEST_STATES:
            raise Conflict(f"a meeting is asked for until the matter is decided; this one is {matter.state}",
                           rule="meeting_request.closed", state=matter.state)
        if len(matter.community_code) != 12:
            raise Conflict("the matter waits at the street or district to be placed in its community, whose "
                           "residents' meeting it is", rule="meeting_request.not_placed")
        household_code, adult = residency
        if not await self.repo.insert_meeting_request({"matter_id": matter.matter_id, "person_sub": ctx.principal.sub,
                                                       "household_code": household_code, "adult": adult,
                                                       "asked_at": ctx.now}):
            raise Conflict("you have asked for a meeting on this matter already", rule="meeting_request.repeated")
        count = await self.meeting_requests(ctx.principal, matter)
        if count["must_be_called"] and not await self.repo.meeting_demanded(matter.matter_id, matter.community_code):
            details = {k: count[k] for k in ("adults_asking", "adults_total", "households_asking", "households_total",
                                             "rule_version")} | {"community_code": matter.community_code}
            self.session.add(MatterTransition(matter_id=matter.matter_id, from_state=matter.state,
                                              to_state=matter.state, action=MEETING_DEMANDED,
                                              actor_sub=ctx.principal.sub, details=details, at=ctx.now))
            await self.session.flush()
            await publish(self.session, ev.MatterTransitioned(
                matter_id=matter.matter_id, community_code=matter.community_code, from_state=matter.state,
                to_state=matter.state, action=MEETING_DEMANDED, at=ctx.now, reason_code=None))
        return count

    async def meeting_requests(self, principal: Principal, matter: Matter) -> dict[str, Any]:
        """How many of the community's adults and households have asked for a residents' meeting on a matter, out
        of how many, whether the meeting must be called, and whether the caller asked."""
        adults_asking, households_asking, asked = await self.repo.meeting_requests(
            matter.matter_id, matter.community_code, principal.sub)
        adults_total, households_total = await self.repo.community_residents(matter.community_code)
        rule = MEETING_CALL_RULES["urcol-2018"]
        # The two counts are two statements: a resident moving out between them could leave the asking above the total.
        adults_asking, households_asking = min(adults_asking, adults_total), min(households_asking, households_total)
        must = meeting_must_be_called(adults_asking, adults_total, households_asking, households_total, 0, 0, rule=rule)
        return {"matter_id": matter.matter_id, "adults_asking": adults_asking, "adults_total": adults_total,
                "households_asking": households_asking, "households_total": households_total,
                "must_be_called": must, "asked_by_you": asked, "rule_version": rule.name}

    async def route_proposal(self, matter: Matter) -> dict[str, str]:
        proposal = await self._proposal(matter)
        return {"channel": proposal.channel.value, "channel_label": proposal.channel.label, "reason": proposal.reason}

    async def _proposal(self, matter: Matter) -> Proposal:
        """The router's proposal: the residents' meeting once enough residents asked for one (when the share was
        reached, or as the registry counts them today: fewer residents make the same requests a larger share), else by
        nature and scope."""
        if await self.repo.meeting_demanded(matter.matter_id, matter.community_code) or (
                await self.meeting_requests(SYSTEM_READER, matter))["must_be_called"]:
            return Proposal(channel=Channel.RESIDENTS_MEETING,
                            reason="五分之一以上的居民或户提议召开居民会议，应当召集居民会议")
        return propose_channel(matter.scope_level, matter.nature)

    async def apply_transition(self, ctx: Context, matter_id: uuid.UUID, data: Any) -> Matter:
        """Moves a matter as asked, after the scope and the action's own rules are checked."""
        await self.code_moves.hold()  # placing writes codes, and ending a matter cancels its orders
        principal = ctx.principal
        matter = await self.readable_matter(principal, matter_id, lock=True)
        try:
            action = Action(data.action)
        except ValueError:
            raise RuleViolation("matter.unknown_action", f"action: unknown action {data.action!r}",
                                field="action", allowed=allowed_actions(matter.state)) from None
        by_proposer = matter.proposer_sub == principal.sub
        if action in TRIAGE_ACTIONS:
            if not principal.covers(matter.unit_code, STAFF_ROLES | TRIAGE_ROLES):
                raise Forbidden(f"only staff or the grid's staff covering {matter.unit_code} triage this matter",
                                scope=matter.unit_code)
        elif action is not Action.WITHDRAW:
            self.require_staff(principal, matter.unit_code)
        details: dict[str, Any] = {}
        reason = data.reason.strip() if data.reason and data.reason.strip() else None
        if action is Action.ROUTE and action.value in allowed_actions(matter.state):
            proposal = await self._proposal(matter)
            chosen = data.channel or proposal.channel
            if chosen != proposal.channel and not reason:
                raise RuleViolation(
                    "matter.route_override_reason_required",
                    f"the router proposed {proposal.channel.value}; choosing {chosen.value} instead needs a reason",
                    field="reason", proposed=proposal.channel.value,
                )
            details = {"proposed": proposal.channel.value, "channel": chosen.value, "override": chosen != proposal.channel,
                       "proposal_reason": proposal.reason}
            matter.proposed_channel = proposal.channel.value
            matter.channel = chosen.value
        if action is Action.MERGE and data.merge_into is not None and action.value in allowed_actions(matter.state):
            target = await self.repo.get_matter(data.merge_into)
            if (target is None or target.matter_id == matter.matter_id or target.community_code != matter.community_code
                    or State(target.state) in TERMINAL_STATES
                    or not principal.covers(target.unit_code, STAFF_ROLES | TRIAGE_ROLES)):
                raise RuleViolation("matter.merge_target_invalid",
                                    "merge_into: must be another live matter of the same community, in your scope",
                                    field="merge_into")
            matter.merged_into_id = target.matter_id
            details = {"merged_into": str(target.matter_id)}
        if action is Action.PLACE and action.value in allowed_actions(matter.state):
            details = await self._place(principal, matter, data.unit_code)
        if action in (Action.DECIDE, Action.FAIL_DECISION) and await self.repo.open_vote_of(matter.matter_id):
            raise RuleViolation("matter.vote_open", "a vote is open on this matter: close the vote to decide it")
        if action is Action.CANCEL_DECISION and await self.repo.open_vote_of(matter.matter_id):
            raise RuleViolation("matter.vote_open", "a vote is open on this matter: cancel the vote "
                                "(POST /votes/{vote_id}/cancel) to call the decision off")
        if (action in (Action.DECIDE, Action.FAIL_DECISION) and action.value in allowed_actions(matter.state)
                and (matter.major or matter.channel in VOTING_CHANNELS)):
            # The residents decide these by vote (quorum and threshold), not staff by a transition.
            raise RuleViolation("matter.vote_required", f"action: a {'major matter' if matter.major else matter.channel} "
                                "matter is decided by a vote: open one, and closing it decides the matter", field="action")
        if action is Action.WITHDRAW and await self.repo.open_vote_of(matter.matter_id):
            # The residents are deciding it: a withdrawal would leave their vote open with nothing to decide.
            raise RuleViolation("matter.vote_open", "a vote is open on this matter: it can no longer be withdrawn "
                                "until the vote is closed")
        evaluated = None  # the rating staff end (closing or reopening it), published as a rating that ends it is
        if action is Action.CLOSE and matter.state == State.EVALUATING.value:
            ends = matter.state_entered_at + timedelta(days=self.settings.evaluation_days)
            if ctx.now < ends:
                raise RuleViolation("matter.evaluation_open",
                                    f"the residents rate this matter until {ends.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}; "
                                    "their ratings close it (or reopen it) before then", evaluation_ends_at=ends.isoformat())
            policy = self.evaluation_policy()
            outcome = evaluated = policy.evaluate(await self.repo.scores(matter.matter_id, matter.evaluation_round))
            if outcome.bad_share > policy.reopen_bad_share:
                # Too few residents rated for their ratings to decide, but those who did are dissatisfied past the
                # threshold that reopens the work: staff cannot close it over them.
                raise RuleViolation("matter.evaluation_dissatisfied",
                                    f"{outcome.bad} of {outcome.ratings} ratings are dissatisfied, more than the share "
                                    f"({policy.reopen_bad_share}) that reopens the work: reopen it (重办)",
                                    ratings=outcome.ratings, bad=outcome.bad)
        if action is Action.START_EVALUATION and action.value in allowed_actions(matter.state):
            # The residents rate work that is done: a task short of 100% would be rated, and the matter closed by
            # their ratings, before it is carried out (no progress is taken once the matter has ended).
            unfinished = [t for t in await self.repo.tasks_of(matter.matter_id) if t.completed_at is None]
            if unfinished:
                raise RuleViolation("task.unfinished", f"action: {len(unfinished)} of the matter's tasks are not "
                                    "finished (100%); the residents rate the work once it is done", field="action",
                                    unfinished=[str(t.task_id) for t in unfinished])
        if action is Action.REOPEN and matter.state == State.EVALUATING.value:
            # 重办 on fewer ratings than decide: the rating ends here.
            evaluated = self.evaluation_policy().evaluate(await self.repo.scores(matter.matter_id,
                                                                                  matter.evaluation_round))
        if action is Action.REOPEN and action.value in allowed_actions(matter.state):
            matter.evaluation_round += 1
        await self._move(matter, action, principal.sub, ctx.now, reason=reason, reason_code=data.reason_code,
                         merge_into=data.merge_into, by_proposer=by_proposer, details=details)
        if evaluated is not None:
            await publish(self.session, ev.MatterEvaluated(
                matter_id=matter.matter_id, community_code=matter.community_code, ratings=evaluated.ratings,
                bad=evaluated.bad, bad_share=float(evaluated.bad_share), outcome=action.value, at=ctx.now))
        return matter

    async def _place(self, principal: Principal, matter: Matter, unit_code: str | None) -> dict[str, Any]:
        """Places a matter in triage at another unit; returns the timeline details.

        Whoever covers both the unit the matter is at and the target may place it: street staff move a request that
        waited at the street into one of its communities (or correct a placement), a community's staff move it to a
        grid or building. The target must be a current registry unit, no finer than a building unit (a household
        would locate a home). The matter takes the unit's community and scope, so that community's staff see it,
        route it and dispatch it to the community's department; routing is proposed afresh from the new scope.
        """
        if unit_code is None:
            raise RuleViolation("matter.place_unit_required", "unit_code: say which unit the matter is about",
                                field="unit_code")
        unit_code = await self.code_moves.current(unit_code)
        if unit_code == matter.unit_code:
            raise RuleViolation("matter.place_same_unit", f"unit_code: the matter is at {unit_code} already",
                                field="unit_code")
        if len(unit_code) > self.codes.unit:
            raise RuleViolation("matter.place_too_fine", "unit_code: place a matter at a building unit or above, "
                                "not at a household", field="unit_code")
        unit = await replica.get_unit(self.session, unit_code)
        if unit is None or unit.retired:
            raise RuleViolation("matter.place_unit_unknown", f"unit_code: {unit_code} is not a current registry unit",
                                field="unit_code")
        if not principal.covers(unit_code, STAFF_ROLES | TRIAGE_ROLES):
            raise Forbidden(f"unit_code: you do not cover {unit_code}", field="unit_code", scope=unit_code)
        details = {"from_unit_code": matter.unit_code, "to_unit_code": unit_code}
        matter.unit_code = unit_code
        matter.community_code = unit_code[:12]
        matter.scope_level = self.codes.scope_of(unit_code).value
        return details

    # --- votes ------------------------------------------------------------------------------------

    async def open_vote(self, ctx: Context, matter_id: uuid.UUID, data: Any) -> Vote:
        """Opens a voting window and freezes the electorate from the registry replica."""
        # Locks in the one order every holder takes them: electorates, then code moves (a registry consumer batch may
        # change a household's casters and then move a unit, exclusively).
        await self.repo.lock_electorates(shared=True)
        await self.code_moves.hold()
        matter = await self.readable_matter(ctx.principal, matter_id, lock=True)
        self.require_meeting_runner(ctx.principal, matter)
        if await self.repo.open_vote_of(matter.matter_id):
            raise Conflict("a vote is already open on this matter", state=matter.state, allowed=allowed_actions(matter.state))
        template, _ = await self.template_of(matter.community_code)
        rule = self._rule(data.rule_version, template, matter.major)
        if data.closes_at is not None and (data.closes_at.tzinfo is None or data.closes_at <= ctx.now):
            raise RuleViolation("vote.window_invalid", "closes_at: must be a time-zone aware moment in the future", field="closes_at")
        if data.closes_at is not None and data.closes_at > ctx.now + timedelta(days=self.settings.vote_max_days):
            # A vote announced to close later is not closed before then: a window years long would hold the matter.
            raise RuleViolation("vote.window_too_long", f"closes_at: a vote stays open at most "
                                f"{self.settings.vote_max_days} days", field="closes_at")
        if matter.state != State.DECIDING.value:
            await self._move(matter, Action.START_DECISION, ctx.principal.sub, ctx.now,
                             details={"rule_version": rule.name})
        vote = Vote(vote_id=uuid.uuid4(), matter_id=matter.matter_id, scope_code=self.electorate_scope(matter), rule_version=rule.name,
                    rule=rule.as_mapping(), secret=data.secret, status="open", base_size=0, opens_at=ctx.now,
                    closes_at=data.closes_at, opened_by=ctx.principal.sub)
        await self.repo.add(vote)
        vote.base_size = await self.repo.freeze_electorate(vote.vote_id, vote.scope_code, rule.base.value)
        if vote.base_size == 0:
            raise RuleViolation("vote.empty_electorate", f"the registry knows no {rule.base.value} under {vote.scope_code}")
        await self.session.flush()
        return vote

    @staticmethod
    def _rule(name: str | None, template: Template, major: bool) -> DecisionRule:
        if name is None:
            return template.major_rule if major and template.major_rule else template.default_rule
        if name not in RULES:
            raise RuleViolation("vote.unknown_rule", f"rule_version: unknown rule {name!r} (known: {', '.join(RULES)})",
                                field="rule_version")
        chosen = RULES[name]
        floor = (template.major_rule or template.default_rule) if major else None
        if floor is not None and (chosen.quorum < floor.quorum or chosen.pass_fraction < floor.pass_fraction):
            raise RuleViolation("vote.rule_too_weak_for_major", f"rule_version: a major matter is decided at least under "
                                f"{floor.name} (quorum {floor.quorum}, passing {floor.pass_fraction}); {name} asks less",
                                field="rule_version", required=floor.name)
        return chosen

    async def vote_for_reader(self, principal: Principal, vote_id: uuid.UUID, lock: str | None = None) -> tuple[Vote, Matter]:
        vote = await self.repo.get_vote(vote_id, lock=lock)
        if vote is None:
            raise NotFound(f"no vote {vote_id}")
        matter = await self.repo.get_matter(vote.matter_id)
        if matter is None or not await self.can_read(principal, matter):
            raise NotFound(f"no vote {vote_id}")
        return vote, matter

    def _window_open(self, vote: Vote | BallotVote, now: datetime) -> None:
        if vote.status != "open" or now < vote.opens_at or (vote.closes_at is not None and now > vote.closes_at):
            raise RuleViolation("vote.window_closed", "this vote is not open for ballots")

    async def cast(self, ctx: Context, vote_id: uuid.UUID, data: Any) -> dict[str, Any]:
        """Records one online ballot; exactly one counts per elector (person or household)."""
        receipt = secrets.token_urlsafe(18)
        digest = _digest(vote_id, receipt)
        # A shared lock: ballots proceed together, but a closing tally waits for them (and they for it).
        in_one_statement = False
        if not data.household_code:
            async with autocommit_connection(self.session) as connection:
                if connection is not None:
                    # One statement, its own transaction: the ballot is written if the vote is open and the caster has
                    # one elector in it (themselves, or one household). Otherwise, what it read says why not.
                    in_one_statement = True
                    vote, electors, counted = await self.repo.cast_as_only_elector(
                        connection, vote_id, ctx.principal.sub, data.choice, digest, ctx.now)
                    if counted:
                        return {"vote_id": vote_id, "receipt": receipt, "voter_key": electors[0].voter_key,
                                "cast_at": ctx.now}
        if not in_one_statement:
            vote, electors = await self.repo.ballot_vote(vote_id, ctx.principal.sub)
        if vote is None:
            raise NotFound(f"no vote {vote_id}")
        self._window_open(vote, ctx.now)
        if data.household_code:
            household = await self.code_moves.current(data.household_code)  # named by a code from before a move
            electors = [e for e in electors if e.household_code == household]
        if not electors:
            raise RuleViolation("vote.not_in_electorate", "you are not in this vote's electorate (nor a household's representative or proxy)")
        if len(electors) > 1:
            raise RuleViolation("vote.household_required", "household_code: you may vote for several households; say which",
                                field="household_code", households=sorted(e.household_code or e.voter_key for e in electors))
        elector = electors[0]
        if in_one_statement or not await self.repo.cast_ballot(
                vote.vote_id, elector.voter_key, ctx.principal.sub, data.choice, digest, ctx.now, secret=vote.secret):
            # (In one statement, an open vote and one elector leave only this reason for not counting.)
            raise Conflict("this vote has already been cast for you (or your household)", rule="vote.already_cast",
                           voter_key=elector.voter_key)
        return {"vote_id": vote.vote_id, "receipt": receipt, "voter_key": elector.voter_key, "cast_at": ctx.now}

    async def check_receipt(self, principal: Principal, vote_id: uuid.UUID, receipt: str) -> dict[str, Any]:
        vote, _ = await self.vote_for_reader(principal, vote_id)
        found = await self.repo.receipt_by_digest(_digest(vote.vote_id, receipt))
        recorded = found is not None and found.vote_id == vote.vote_id
        # A secret ballot's receipt proves it was counted, not how: nobody can be made to show their choice. A
        # cancelled vote counted nothing.
        counted = recorded and vote.status != "cancelled"
        return {"vote_id": vote.vote_id, "vote_status": vote.status, "counted": counted,
                "choice": found.choice if recorded else None}

    async def offline_tally(self, ctx: Context, vote_id: uuid.UUID, data: Any) -> OfflineTally:
        """Adds a meeting's paper ballots, each attendee of the sign-in record counted once."""
        vote = await self.repo.get_vote(vote_id, lock="share")
        if vote is None:
            raise NotFound(f"no vote {vote_id}")
        matter = await self.repo.get_matter(vote.matter_id)
        self.require_meeting_runner(ctx.principal, matter)
        if vote.status != "open":
            raise RuleViolation("vote.window_closed", "this vote is closed")
        held_at = data.held_at or ctx.now
        window_end = min(ctx.now, vote.closes_at) if vote.closes_at else ctx.now
        if not vote.opens_at <= held_at <= window_end:
            raise RuleViolation("vote.offline_outside_window", "held_at: the meeting's paper ballots count when it was held "
                                f"while the vote was open (from {vote.opens_at.isoformat()}"
                                f"{' to ' + vote.closes_at.isoformat() if vote.closes_at else ''}) and not in the future",
                                field="held_at")
        keys = [k.strip() for k in data.attendee_keys]
        # A household on a sign-in sheet printed before its unit moved is named by its code then, as a ballot may be.
        today = await self.code_moves.current_of([k for k in keys if k.isdigit()])
        keys = [today.get(k, k) for k in keys]
        if len(set(keys)) != len(keys):
            raise RuleViolation("vote.offline_attendee_repeated", "attendee_keys: an attendee is listed twice", field="attendee_keys")
        if data.votes_for + data.votes_against + data.abstain != len(keys):
            raise RuleViolation("vote.offline_tally_mismatch",
                                f"the ballots ({data.votes_for + data.votes_against + data.abstain}) must equal the "
                                f"attendees signed in ({len(keys)})", field="attendee_keys")
        unknown = await self.repo.unknown_electors(vote.vote_id, keys)
        if unknown:
            raise RuleViolation("vote.offline_attendee_not_in_electorate", "attendee_keys: not in this vote's electorate",
                                field="attendee_keys", unknown=unknown[:50])
        recorded = await self.repo.insert_offline_ballots(vote.vote_id, keys, ctx.principal.sub, held_at)
        if len(recorded) != len(keys):
            already = sorted(set(keys) - set(recorded))
            raise RuleViolation("vote.offline_attendee_already_voted",
                                "attendee_keys: these attendees had already voted; their paper ballots cannot count again",
                                field="attendee_keys", already_voted=already[:50])
        tally_row = OfflineTally(tally_id=uuid.uuid4(), vote_id=vote.vote_id, votes_for=data.votes_for,
                                 votes_against=data.votes_against, abstain=data.abstain, sign_in_ref=data.sign_in_ref,
                                 attendee_count=len(keys), held_at=held_at, entered_by=ctx.principal.sub,
                                 entered_at=ctx.now)
        await self.repo.add(tally_row)
        return tally_row

    async def close_vote(self, ctx: Context, vote_id: uuid.UUID, public_title: str | None = None, *,
                         on_schedule: bool = False) -> Vote:
        """Closes a vote, counts it under its frozen rule and decides the matter.

        A vote announced to close at a time closes then, not before, unless every elector has voted already. Staff
        close it; `on_schedule`, the service does, once its window and the grace for paper tallies have passed
        (close_due_votes).
        """
        await self.code_moves.hold()
        vote = await self.repo.get_vote(vote_id, lock="update")
        if vote is None:
            raise NotFound(f"no vote {vote_id}")
        matter = await self.repo.get_matter(vote.matter_id, lock=True)
        if not on_schedule:
            self.require_meeting_runner(ctx.principal, matter)
        if vote.status != "open":
            raise Conflict("this vote is closed already", rule="vote.already_closed")
        if on_schedule and (vote.closes_at is None or ctx.now < vote.closes_at + self.vote_close_grace()):
            raise Conflict("this vote is not due to close", rule="vote.not_due")
        if vote.closes_at is not None and ctx.now < vote.closes_at \
                and await self.repo.participated(vote.vote_id) < vote.base_size:
            raise RuleViolation("vote.window_open", f"the residents were given until "
                                f"{vote.closes_at.astimezone(LOCAL_TZ).isoformat(timespec='minutes')} to "
                                "vote; it closes then (or once every elector has voted)", closes_at=vote.closes_at.isoformat())
        counts = await self.repo.counts(vote.vote_id)
        rule = rule_from_mapping(vote.rule)
        result = tally(rule, vote.base_size, counts["for"], counts["against"], counts["abstain"])
        vote.status = "closed"
        vote.closed_at = ctx.now
        vote.quorum_met, vote.passed, vote.present = result.quorum_met, result.passed, result.present
        vote.votes_for, vote.votes_against, vote.abstain = result.votes_for, result.votes_against, result.abstain
        details = {"vote_id": str(vote.vote_id), "rule_version": result.rule_version, "quorum_met": result.quorum_met,
                   "base_size": vote.base_size, "present": result.present, "for": result.votes_for,
                   "against": result.votes_against, "abstain": result.abstain}
        reason_code = None if result.passed else ("vote.no_quorum" if not result.quorum_met else "vote.not_passed")
        await self._move(matter, Action.DECIDE if result.passed else Action.FAIL_DECISION, ctx.principal.sub, ctx.now,
                         reason_code=reason_code, details=details)
        await publish(
            self.session,
            ev.MatterDecided(matter_id=matter.matter_id, community_code=matter.community_code, unit_code=matter.unit_code,
                             category=matter.category, channel=matter.channel or "", public_title=masked_text(public_title or f"{Category(matter.category).label}事项"),
                             rule_version=result.rule_version, quorum_met=result.quorum_met, passed=result.passed,
                             base_size=vote.base_size, present=result.present, votes_for=result.votes_for,
                             votes_against=result.votes_against, abstain=result.abstain, decided_at=ctx.now),
        )
        return vote

    async def cancel_vote(self, ctx: Context, vote_id: uuid.UUID, reason: str) -> Vote:
        """Calls an open vote off, undecided (opened with the wrong window, rule or secrecy, say): the matter goes
        back to routed, from where a vote is opened again; the ballots cast are kept, counted for nothing. Whoever may
        close the vote may cancel it, with a reason, on the timeline."""
        await self.code_moves.hold()
        vote = await self.repo.get_vote(vote_id, lock="update")  # waits for the ballots being cast, and stops new ones
        if vote is None:
            raise NotFound(f"no vote {vote_id}")
        matter = await self.repo.get_matter(vote.matter_id, lock=True)
        if not await self.can_read(ctx.principal, matter):
            raise NotFound(f"no vote {vote_id}")
        self.require_meeting_runner(ctx.principal, matter)
        if vote.status != "open":
            raise Conflict(f"this vote is {vote.status} already", rule="vote.already_closed")
        if vote.closes_at is not None and ctx.now > vote.closes_at:
            # The residents have voted (the grace after the window is for paper tallies): their vote is counted.
            raise Conflict("the vote's window has ended: close it, and it is counted", rule="vote.window_ended",
                           closes_at=vote.closes_at.isoformat())
        vote.status, vote.closed_at = "cancelled", ctx.now
        await self._move(matter, Action.CANCEL_DECISION, ctx.principal.sub, ctx.now, reason=reason,
                         reason_code="vote.cancelled", details={"vote_id": str(vote.vote_id)})
        return vote

    def vote_close_grace(self) -> timedelta:
        """How long after its window a vote stays open for the paper tallies of meetings held in it to be entered,
        before the service closes it."""
        return timedelta(hours=self.settings.vote_close_grace_hours)

    async def my_open_votes(self, ctx: Context) -> list[dict[str, Any]]:
        """The votes taking ballots now in which the caller may cast something (their own vote, or a household's as
        its representative or proxy, wherever that household is)."""
        return [await self.vote_read(vote, ctx.principal)
                for vote in await self.repo.votes_open_to(ctx.principal.sub, ctx.now)]

    async def vote_read(self, vote: Vote, principal: Principal | None = None) -> dict[str, Any]:
        """A vote as read; with the caller, what they may cast in it (their own vote or their households') and
        whether each is cast."""
        yours = []
        if principal is not None:
            electors = await self.repo.electors_for_caster(vote.vote_id, principal.sub)
            cast = await self.repo.cast_voter_keys(vote.vote_id, [e.voter_key for e in electors])
            yours = [{"household_code": e.household_code if e.voter_key == e.household_code else None,
                      "cast": e.voter_key in cast} for e in sorted(electors, key=lambda e: e.voter_key)]
        return {
            "yours": yours,
            "vote_id": vote.vote_id, "matter_id": vote.matter_id, "scope_code": vote.scope_code,
            "rule_version": vote.rule_version, "rule": vote.rule, "secret": vote.secret, "status": vote.status,
            "base_size": vote.base_size, "participated": await self.repo.participated(vote.vote_id),
            "opens_at": vote.opens_at, "closes_at": vote.closes_at, "closed_at": vote.closed_at,
            "quorum_met": vote.quorum_met, "passed": vote.passed, "present": vote.present, "votes_for": vote.votes_for,
            "votes_against": vote.votes_against, "abstain": vote.abstain,
        }

    # --- templates --------------------------------------------------------------------------------

    async def choose_template(self, ctx: Context, community_code: str, template_code: str) -> tuple[str, Template]:
        """Sets the template a community works by; returns the community's code (today's) and the template."""
        await self.code_moves.hold()
        community_code = await self.code_moves.current(community_code)  # named by its code from before a move
        self.require_staff(ctx.principal, community_code)
        if template_code not in templates():
            raise RuleViolation("template.unknown", f"template_code: unknown template {template_code!r} "
                                f"(known: {', '.join(templates())})", field="template_code")
        await self.repo.choose_template(community_code, template_code, ctx.principal.sub)
        return community_code, templates()[template_code]

    # --- implementation ---------------------------------------------------------------------------

    async def add_task(self, ctx: Context, matter_id: uuid.UUID, data: Any) -> ImplementationTask:
        """Adds an implementation task (民事民办) with its responsible body, budget and deadline."""
        await self.code_moves.hold()
        matter = await self.readable_matter(ctx.principal, matter_id, lock=True)
        self.require_staff(ctx.principal, matter.unit_code)
        if matter.state not in (State.DECIDED, State.IMPLEMENTING, State.REOPENED):
            raise RuleViolation("task.matter_not_decided", f"tasks carry out a decision; this matter is {matter.state}")
        responsible = data.responsible_code
        if data.responsible_kind == "department":
            assigned = await replica.departments_for(self.session, matter.community_code)
            if not assigned:
                raise RuleViolation("task.no_department_assigned", f"no department is assigned to {matter.community_code}")
            if responsible is not None and responsible not in assigned:
                # The department then writes the task's progress and spending itself: only one bound to the community.
                raise RuleViolation("task.department_not_assigned", f"responsible_code: {responsible} is not assigned to "
                                    f"{matter.community_code} (assigned: {', '.join(assigned)})", field="responsible_code")
            responsible = responsible or assigned[0]
        if data.responsible_kind == "community":
            # The community's own body (its residents' committee), or one of its units' (a grid, a building): a code,
            # never free text (which residents read unmasked, as they read codes).
            if responsible is not None and not (
                    responsible.isascii() and responsible.isdigit() and responsible.startswith(matter.community_code)
                    and len(responsible) <= self.codes.unit
                    and (responsible == matter.community_code or self.codes.is_unit_code(responsible))):
                raise RuleViolation("task.community_code_invalid", f"responsible_code: a community task is carried "
                                    f"out by {matter.community_code} or one of its units (give the code, or leave it "
                                    "out)", field="responsible_code")
            responsible = responsible or matter.community_code
        if responsible is None:
            raise RuleViolation("task.responsible_required", "responsible_code: name the social organisation",
                                field="responsible_code")
        due_at = end_of_day(data.due_on)
        if due_at < ctx.now:
            raise RuleViolation("task.due_in_past", "due_on: the deadline has passed already", field="due_on")
        task = ImplementationTask(task_id=uuid.uuid4(), matter_id=matter.matter_id, title=data.title,
                                  responsible_kind=data.responsible_kind, responsible_code=responsible,
                                  budget_cents=data.budget_cents, spent_cents=0, percent=0, due_at=due_at,
                                  warning=deadlines.warning_level(due_at, ctx.now, self.calendar).value,
                                  created_by=ctx.principal.sub, created_at=ctx.now)
        await self.repo.add(task)
        if task.warning != deadlines.WarningLevel.NONE:
            # Due on the next working day or today: warned at once, as the sweeper warns of a level it reaches.
            await self._task_warned(task, matter, task.warning, ctx.now)
        return task

    async def _task_for_writer(self, ctx: Context, task_id: uuid.UUID) -> tuple[ImplementationTask, Matter]:
        # Before the task and its matter are locked: a move re-codes matters and then tasks, in that order.
        await self.code_moves.hold()
        task = await self.repo.get_task(task_id, lock=True)
        if task is None:
            raise NotFound(f"no task {task_id}")
        # Locked after the task (as everywhere a task is written): a rating closing the matter at this moment is
        # waited for, and then refuses this write below.
        matter = await self.repo.get_matter(task.matter_id, lock=True)
        department_owner = (ctx.principal.kind == "department" and task.responsible_kind == "department"
                            and ctx.principal.department == task.responsible_code)
        if not department_owner:
            if not await self.can_read(ctx.principal, matter):
                raise NotFound(f"no task {task_id}")
            self.require_staff(ctx.principal, matter.unit_code)
        if State(matter.state) in TERMINAL_STATES:
            raise Conflict(f"the matter is {matter.state}: its tasks take no more progress or spending",
                           state=matter.state, allowed=[])
        return task, matter

    async def _task_warned(self, task: ImplementationTask, matter: Matter, level: str, now: datetime) -> None:
        """Publishes a task's new warning level with its responsible body, so the warning reaches the department or
        community carrying it out. A social organisation's name is free text (a person's name, a phone number): it
        stays off the bus, its kind alone goes."""
        code = task.responsible_code if task.responsible_kind in ("department", "community") else None
        await publish(self.session, ev.TaskWarned(
            matter_id=task.matter_id, community_code=matter.community_code, task_id=task.task_id, warning=level,
            due_at=task.due_at, at=now, responsible_kind=task.responsible_kind, responsible_code=code))

    async def _progress_event(self, task: ImplementationTask, matter: Matter, now: datetime) -> None:
        await publish(self.session, ev.MatterProgressUpdated(
            matter_id=matter.matter_id, community_code=matter.community_code, task_id=task.task_id, percent=task.percent,
            budget_cents=task.budget_cents, spent_cents=task.spent_cents, at=now))

    async def add_progress(self, ctx: Context, task_id: uuid.UUID, data: Any) -> ImplementationTask:
        task, matter = await self._task_for_writer(ctx, task_id)
        if data.percent < 100 and matter.state == State.EVALUATING.value:
            # The residents are rating the work as done (every task was at 100% when their rating began): work to
            # redo is 重办, reopening the matter, not a task quietly taken back under their rating.
            raise Conflict("the residents are rating this matter's work as done; reopen it (重办) to take a task back "
                           "below 100%", rule="task.under_evaluation", state=matter.state,
                           allowed=allowed_actions(matter.state))
        task.percent = data.percent
        # Finished when it first reached 100%: reported again (an inspection passed), it keeps that time.
        task.completed_at = (task.completed_at or ctx.now) if data.percent == 100 else None
        # A finished task runs against no deadline; one taken back below 100% runs against its own again. A change of
        # level is published at once (a finished task's warning ends: "none"), as the sweeper publishes one.
        level = (deadlines.WarningLevel.NONE.value if data.percent == 100
                 else deadlines.warning_level(task.due_at, ctx.now, self.calendar).value)
        if level != task.warning:
            await self._task_warned(task, matter, level, ctx.now)
        task.warning = level
        self.session.add(TaskProgress(task_id=task.task_id, percent=data.percent, note=data.note, recorded_by=ctx.principal.sub, at=ctx.now))
        await self.session.flush()
        await self._progress_event(task, matter, ctx.now)
        return task

    async def add_spending(self, ctx: Context, task_id: uuid.UUID, data: Any) -> ImplementationTask:
        task, matter = await self._task_for_writer(ctx, task_id)
        if task.spent_cents + data.amount_cents > 2**63 - 1:
            raise RuleViolation("task.spending_too_large", "amount_cents: the task's spending would overflow",
                                field="amount_cents")
        if data.spent_on > local_date(ctx.now):
            raise RuleViolation("task.spending_in_future", f"spent_on: money is recorded once spent, on or before today "
                                f"({local_date(ctx.now)})", field="spent_on")
        if data.spent_on < local_date(matter.created_at):
            raise RuleViolation("task.spending_before_matter", f"spent_on: the matter was raised on "
                                f"{local_date(matter.created_at)}; money spent before it is not the matter's",
                                field="spent_on")
        task.spent_cents += data.amount_cents
        self.session.add(TaskSpending(task_id=task.task_id, item=data.item, amount_cents=data.amount_cents,
                                      spent_on=data.spent_on, recorded_by=ctx.principal.sub, recorded_at=ctx.now))
        await self.session.flush()
        await self._progress_event(task, matter, ctx.now)
        return task

    async def tasks(self, principal: Principal, matter_id: uuid.UUID) -> list[dict[str, Any]]:
        matter = await self.readable_matter(principal, matter_id)
        full = self.reads_in_full(principal, matter.unit_code, matter.proposer_sub)
        return await self.read_tasks(await self.repo.tasks_of(matter.matter_id), masked=not full)

    async def tasks_carried_by_department(self, principal: Principal, status: str | None, limit: int,
                                          offset: int) -> dict[str, Any]:
        """The implementation tasks the calling department carries out, newest first: the ids it reports progress and
        spending on. Their titles go as written (staff's words about the work, which a department reads in full)."""
        if principal.kind != "department" or not principal.department:
            raise Forbidden("the tasks a department carries out are listed for that department's integration")
        finished = None if status is None else status == "finished"
        rows, total = await self.repo.department_tasks_carried(principal.department, finished, limit, offset)
        items = [{"task_id": task.task_id, "matter_id": task.matter_id, "community_code": community,
                  "title": task.title, "percent": task.percent, "budget_cents": task.budget_cents,
                  "spent_cents": task.spent_cents, "due_at": task.due_at, "warning": task.warning,
                  "completed_at": task.completed_at, "created_at": task.created_at} for task, community in rows]
        return {"items": items, "total": total}

    async def read_tasks(self, tasks: list[ImplementationTask], *, masked: bool = False) -> list[dict[str, Any]]:
        """Tasks with their spending lines and progress updates; `masked`: their free text as another resident of the
        community reads it (a payee's or a resident's name in a line, a phone number in a note)."""
        ids = [t.task_id for t in tasks]
        spending = await self.repo.spending_of(ids) if ids else []
        progress = await self.repo.progress_of(ids) if ids else []
        text = masked_text if masked else (lambda value: value)
        out = []
        for task in tasks:
            item = {c: getattr(task, c) for c in ("task_id", "matter_id", "title", "responsible_kind", "responsible_code",
                                                 "budget_cents", "spent_cents", "percent", "due_at", "warning", "completed_at")}
            item["title"] = text(task.title)
            if task.responsible_kind == "social_organisation":  # a name as written (a community's or a department's is a code)
                item["responsible_code"] = text(task.responsible_code)
            item["spending"] = [{"item": text(s.item), "amount_cents": s.amount_cents, "spent_on": s.spent_on,
                                 "recorded_at": s.recorded_at} for s in spending if s.task_id == task.task_id]
            item["progress"] = [{"percent": p.percent, "note": text(p.note), "at": p.at}
                                for p in progress if p.task_id == task.task_id]
            out.append(item)
        return out

    def read_work_order(self, principal: Principal, order: WorkOrder, matter: Matter | None,
                        fields: Iterable[str]) -> dict[str, Any]:
        """A work order's `fields` as the caller reads them: a department's answer and return reason as written for the
        department, staff and the matter's proposer; masked for the community's other residents."""
        full = principal.kind == "department" or (matter is not None and self.reads_in_full(
            principal, matter.unit_code, matter.proposer_sub))
        read = {field: getattr(order, field) for field in fields}
        if not full:
            read["answer"] = masked_text(order.answer) if order.answer else order.answer
            read["return_reason"] = masked_text(order.return_reason) if order.return_reason else order.return_reason
        return read

    # --- evaluation -------------------------------------------------------------------------------

    def evaluation_policy(self) -> EvaluationPolicy:
        return EvaluationPolicy(min_ratings=self.settings.evaluation_min_ratings,
                                reopen_bad_share=Fraction(self.settings.evaluation_reopen_bad_share))

    async def rate(self, ctx: Context, matter_id: uuid.UUID, score: int) -> dict[str, Any]:
        """Records a resident's rating; closes the matter when enough are in, or reopens it (重办) on a bad share."""
        await self.code_moves.hold()  # closing the matter cancels its open orders
        matter = await self.repo.get_matter(matter_id, lock=True)
        if matter is None or not await self.can_read(ctx.principal, matter):
            raise NotFound(f"no matter {matter_id}")
        scope = self.electorate_scope(matter)  # who voted on it (or would have) rates it
        if not any(g.role == RESIDENT and g.scope.startswith(scope) for g in ctx.principal.grants):
            raise Forbidden(f"only residents of {scope} rate this matter", scope=scope)
        if matter.state != State.EVALUATING.value:
            raise Conflict(f"ratings are taken while a matter is evaluating; this one is {matter.state}",
                           state=matter.state, allowed=allowed_actions(matter.state))
        recorded = await self.repo.insert_rating({"matter_id": matter.matter_id, "evaluation_round": matter.evaluation_round,
                                                  "rater_sub": ctx.principal.sub, "score": score, "rated_at": ctx.now})
        if not recorded:
            raise Conflict("you have rated this matter already", rule="evaluation.already_rated")
        evaluation_round = matter.evaluation_round
        outcome = self.evaluation_policy().evaluate(await self.repo.scores(matter.matter_id, evaluation_round))
        if outcome.action is EvaluationAction.CLOSE:
            await self._move(matter, Action.CLOSE, SYSTEM_EVALUATION, ctx.now, reason_code="evaluation.satisfied",
                             details={"ratings": outcome.ratings, "bad": outcome.bad})
        elif outcome.action is EvaluationAction.REOPEN:
            matter.evaluation_round += 1
            await self._move(matter, Action.REOPEN, SYSTEM_EVALUATION, ctx.now, reason_code="evaluation.bad_share",
                             reason="重办：不满意比例超过阈值", details={"ratings": outcome.ratings, "bad": outcome.bad})
        await publish(self.session, ev.MatterEvaluated(
            matter_id=matter.matter_id, community_code=matter.community_code, ratings=outcome.ratings, bad=outcome.bad,
            bad_share=float(outcome.bad_share), outcome=outcome.action.value, at=ctx.now))
        return {"matter_id": matter.matter_id, "evaluation_round": evaluation_round, "ratings": outcome.ratings,
                "bad": outcome.bad, "bad_share": float(outcome.bad_share), "outcome": outcome.action.value,
                "state": matter.state}

    # --- work orders ------------------------------------------------------------------------------

    async def _work_order_changed(self, order: WorkOrder, action: str, now: datetime) -> None:
        await self.repo.record_change(order, action, now)
        await publish(self.session, ev.WorkOrderChanged(
            work_order_id=order.work_order_id, matter_id=order.matter_id, department_code=order.department_code,
            community_code=order.community_code, status=order.status, action=action, due_at=order.due_at,
            warning=order.warning, at=now))

    async def dispatch(self, ctx: Context, matter_id: uuid.UUID, department_code: str | None) -> WorkOrder:
        """Sends a matter to the department assigned to its community (部门包居)."""
        await self.code_moves.hold()
        matter = await self.readable_matter(ctx.principal, matter_id, lock=True)
        self.require_staff(ctx.principal, matter.unit_code)
        if State(matter.state) in TERMINAL_STATES:
            raise Conflict(f"the matter is {matter.state}", state=matter.state, allowed=[])
        assigned = await replica.departments_for(self.session, matter.community_code)
        if not assigned:
            raise RuleViolation("workorder.no_department_assigned", f"no department is assigned to {matter.community_code}")
        if department_code is not None and department_code not in assigned:
            raise RuleViolation("workorder.department_not_assigned", f"department_code: {department_code} is not assigned to "
                                f"{matter.community_code} (assigned: {', '.join(assigned)})", field="department_code")
        department = department_code or assigned[0]
        if await self.repo.open_work_order_of(matter.matter_id, department) is not None:
            raise Conflict(f"the matter already has an open work order at {department}; it is answered or sent back "
                           "before another is dispatched there", rule="workorder.already_open", department_code=department)
        deadline = deadlines.open_work_order(ctx.now, self.calendar)
        order = WorkOrder(work_order_id=uuid.uuid4(), matter_id=matter.matter_id, department_code=department,
                          community_code=matter.community_code, status="dispatched", dispatched_at=ctx.now,
                          due_at=deadline.due_at, extensions_used=0, extended_workdays=0,
                          warning=deadlines.warning_level(deadline.due_at, ctx.now, self.calendar).value)
        await self.repo.add(order)
        await self._work_order_changed(order, "dispatch", ctx.now)
        return order

    async def _order_for_department(self, ctx: Context, work_order_id: uuid.UUID, allowed_from: tuple[str, ...], action: str) -> WorkOrder:
        if ctx.principal.kind != "department" or not ctx.principal.department:
            raise Forbidden("only the department's integration acts on its work orders")
        await self.code_moves.hold()  # the change is logged under the order's community
        order = await self.repo.get_work_order(work_order_id, lock=True)
        if order is None or order.department_code != ctx.principal.department:
            raise NotFound(f"no work order {work_order_id}")
        matter = await self.repo.get_matter(order.matter_id)
        if order.status in allowed_from and State(matter.state) in TERMINAL_STATES:
            raise Conflict(f"the matter of this work order is {matter.state}", work_order_status=order.status,
                           state=matter.state, allowed=[])
        if order.status not in allowed_from:
            allowed = {"dispatched": ["sign", "answer", "extend", "return"], "signed": ["answer", "extend", "return"]}
            raise Conflict(f"cannot {action} a work order that is {order.status}", work_order_status=order.status,
                           allowed=allowed.get(order.status, []))
        return order

    async def sign(self, ctx: Context, work_order_id: uuid.UUID) -> WorkOrder:
        order = await self._order_for_department(ctx, work_order_id, ("dispatched",), "sign")
        order.status, order.signed_at = "signed", ctx.now
        await self._work_order_changed(order, "sign", ctx.now)
        return order

    async def answer(self, ctx: Context, work_order_id: uuid.UUID, answer: str) -> WorkOrder:
        order = await self._order_for_department(ctx, work_order_id, ("dispatched", "signed"), "answer")
        order.status, order.answered_at, order.answer = "answered", ctx.now, answer
        order.signed_at = order.signed_at or ctx.now
        # Answered, it no longer runs against its deadline (answered_at beside due_at tells whether it was late).
        order.warning = deadlines.WarningLevel.NONE.value
        await self._work_order_changed(order, "answer", ctx.now)
        return order

    async def extend(self, ctx: Context, work_order_id: uuid.UUID, workdays: int, reason: str) -> WorkOrder:
        order = await self._order_for_department(ctx, work_order_id, ("dispatched", "signed"), "extend")
        current = deadlines.WorkOrderDeadline(dispatched_at=order.dispatched_at, due_at=order.due_at,
                                              extensions_used=order.extensions_used, extended_workdays=order.extended_workdays)
        try:
            extended = deadlines.extend(current, workdays, ctx.now, self.calendar)
        except deadlines.DeadlineRuleError as error:
            field = "workdays" if error.rule in ("workorder.extension_invalid", "workorder.extension_too_long") else None
            raise RuleViolation(error.rule, error.detail, **({"field": field} if field else {})) from None
        order.due_at, order.extensions_used, order.extended_workdays = extended.due_at, extended.extensions_used, extended.extended_workdays
        order.extension_reason = reason
        order.warning = deadlines.warning_level(order.due_at, ctx.now, self.calendar).value
        await self._work_order_changed(order, "extend", ctx.now)
        return order

    async def send_back(self, ctx: Context, work_order_id: uuid.UUID, reason: str) -> WorkOrder:
        order = await self._order_for_department(ctx, work_order_id, ("dispatched", "signed"), "return")
        try:
            deadlines.check_sendback(order.dispatched_at, ctx.now, self.calendar)
        except deadlines.DeadlineRuleError as error:
            raise RuleViolation(error.rule, error.detail) from None
        order.status, order.returned_at, order.return_reason = "returned", ctx.now, reason
        order.warning = deadlines.WarningLevel.NONE.value
        await self._work_order_changed(order, "return", ctx.now)
        return order

    async def feed(self, principal: Principal, after: int, limit: int) -> dict[str, Any]:
        if principal.kind != "department" or not principal.department:
            raise Forbidden("the work-order feed is for a department's integration")
        rows = await self.repo.feed(principal.department, after, limit)
        items = [{"cursor": str(r.seq), "work_order_id": r.work_order_id, "matter_id": r.matter_id,
                  "department_code": r.department_code, "community_code": r.community_code, "action": r.action,
                  "status": r.status, "due_at": r.due_at, "warning": r.warning, "at": r.at, "title": r.title,
                  "category": r.category} for r in rows]
        return {"items": items, "next_cursor": items[-1]["cursor"] if items else str(after)}

    def work_order_visibility(self, principal: Principal) -> Any:
        if principal.kind == "service":
            return true()
        if principal.kind == "department" and principal.department:
            return WorkOrder.department_code == principal.department
        scopes = principal.scopes(STAFF_ROLES)
        return or_(*[WorkOrder.community_code.startswith(s[:12]) for s in scopes if len(s) <= 12]) if scopes else false()

    # --- the deadline sweeper ---------------------------------------------------------------------

    async def sweep(self, now: datetime) -> dict[str, int]:
        """Raises yellow and red warnings on open work orders and unfinished tasks as of `now`."""
        await self.code_moves.hold()
        changed = {"work_orders": 0, "tasks": 0}
        for order in await self.repo.open_work_orders():
            level = deadlines.warning_level(order.due_at, now, self.calendar).value
            if level != order.warning:
                order.warning = level
                await self._work_order_changed(order, "warning", now)
                changed["work_orders"] += 1
        for task in await self.repo.open_tasks():
            level = deadlines.warning_level(task.due_at, now, self.calendar).value
            if level != task.warning:
                task.warning = level
                matter = await self.repo.get_matter(task.matter_id)
                await self._task_warned(task, matter, level, now)
                changed["tasks"] += 1
        await self.session.flush()
        return changed

    # --- admission of department tasks ------------------------------------------------------------

    async def submit_department_task(self, ctx: Context, data: Any) -> DepartmentTask:
        """Admits a department's task into a community only when it cites the catalogue (准入制度)."""
        if ctx.principal.kind != "department" or not ctx.principal.department:
            raise Forbidden("department tasks are submitted by a department's integration")
        await self.code_moves.hold()
        community_code = await self.code_moves.current(data.community_code)
        community = await replica.get_unit(self.session, community_code)
        if community is None or community.retired or community.level != "community":
            raise RuleViolation("admission.community_unknown", f"community_code: {data.community_code} is not a current "
                                "community of the registry", field="community_code")
        if data.due_on is not None and data.due_on < local_date(ctx.now):
            raise RuleViolation("admission.due_in_past", "due_on: the deadline has passed already", field="due_on")
        verdict = admit(data.catalogue_code, _catalogue())
        task = DepartmentTask(task_id=uuid.uuid4(), department_code=ctx.principal.department, community_code=community_code,
                              catalogue_code=(data.catalogue_code or "").strip().upper() or None, title=data.title,
                              due_on=data.due_on, admitted=verdict.admitted, reason=verdict.reason, submitted_at=ctx.now)
        await self.repo.add(task)
        common = {"task_id": task.task_id, "department_code": task.department_code, "community_code": task.community_code,
                  "catalogue_code": task.catalogue_code, "at": ctx.now}
        if verdict.admitted:
            await publish(self.session, ev.TaskAdmitted(**common, due_on=task.due_on))
        else:
            code = "admission.catalogue_code_missing" if task.catalogue_code is None else "admission.not_in_catalogue"
            await publish(self.session, ev.TaskRefused(**common, reason_code=code))
        return task

    # --- statistics -------------------------------------------------------------------------------

    def stats_filters(self, principal: Principal, community_code: str | None, category: str | None,
                      key_project: bool | None) -> dict[str, Any]:
        where = ["true"]
        params: dict[str, Any] = {}
        if principal.kind != "service":
            scopes = principal.scopes(STAFF_ROLES)
            if not scopes:
                raise Forbidden("statistics are for community, street and district staff")
            where.append("unit_code LIKE ANY(CAST(:scopes AS text[]))")
            params["scopes"] = [s + "%" for s in scopes]
        if community_code:
            where.append("community_code = :community")
            params["community"] = community_code
        if category:
            where.append("category = :category")
            params["category"] = category
        if key_project is not None:
            where.append("key_project = :key_project")
            params["key_project"] = key_project
        return {"where": " AND ".join(where), "params": params}

    async def statistics(self, principal: Principal, community_code: str | None, category: str | None,
                         key_project: bool | None) -> dict[str, Any]:
        if community_code:
            community_code = await self.code_moves.current(community_code)  # named by its code from before a move
        filters = self.stats_filters(principal, community_code, category, key_project)
        # A state's stage depends on the community's template: by_state names it only for one community.
        template = (await self.template_of(community_code))[0] if community_code else None
        by_state = []
        for row in await self.repo.stage_statistics(filters):
            stage = template.stage_for(row.state) if template else None
            by_state.append({"state": row.state, "stage": stage.code if stage else None,
                             "stage_title": stage.title if stage else None, "entered": int(row.entered),
                             "current": int(row.current),
                             "median_days": round(float(row.median_days), 3) if row.median_days is not None else None})
        by_community = [{"community_code": r.key, "matters": int(r.matters), "key_projects": int(r.key_projects),
                         "open": int(r.open)} for r in await self.repo.group_counts("community_code", filters)]
        by_category = [{"category": r.key, "label": Category(r.key).label, "matters": int(r.matters),
                        "key_projects": int(r.key_projects), "open": int(r.open)}
                       for r in await self.repo.group_counts("category", filters)]
        known = templates()
        stage_of = [(t.code, str(state.value if hasattr(state, "value") else state), stage.code)
                    for t in known.values() for stage in t.stages for state in stage.states]
        order = {(t.code, stage.code): (t.code, n) for t in known.values() for n, stage in enumerate(t.stages)}
        by_stage = []
        for row in sorted(await self.repo.stage_stays(filters, stage_of, self.settings.default_template),
                          key=lambda r: order.get((r.template, r.stage), (r.template, 99))):
            stage = next((g for g in known[row.template].stages if g.code == row.stage), None) \
                if row.template in known else None
            by_stage.append({"template_code": row.template, "stage": row.stage, "stage_title": stage.title if stage else None,
                             "entered": int(row.entered), "current": int(row.current),
                             "median_days": round(float(row.median_days), 3) if row.median_days is not None else None})
        return {"template_code": template.code if template else None, "by_stage": by_stage, "by_state": by_state,
                "by_community": by_community, "by_category": by_category}

    # --- org units that moved ---------------------------------------------------------------------

    async def unit_moved(self, d: dict[str, Any]) -> None:
        """Re-codes this service's rows under a unit that moved, once the replica has recorded the move (same
        transaction): its matters, votes, work orders and the rest follow it to the new code, so the staff of its new
        parent and its own staff (whose grants the registry re-codes) read and act on them, and the old parent's no
        longer do.

        Every recorded move that now leads into the unit is applied, not only this one: a chain of moves (or a row
        written under an earlier code) ends at today's code. Applying it twice changes nothing more, since no row is
        left under an old code, and old codes are never reused.
        """
        await self.code_moves.lock_for_move()
        moved_from = replica.take_moved_from(self.session)
        for old, new in [*([moved_from] if moved_from else []), *await self.code_moves.moves_into(d["new_code"])]:
            await self._end_orders_leaving(old, new)
            await self.repo.recode(old, new)
        await self.session.flush()

    async def _end_orders_leaving(self, old: str, new: str) -> None:
        """Cancels the open work orders of matters that a unit's move takes into another community (a grid or building
        moved across): their department serves the community it is assigned to (部门包居), and the new community's staff
        dispatch to theirs, as when a matter is placed in another community. A community that moves keeps its orders."""
        now = datetime.now(UTC)
        for order, matter in await self.repo.open_work_orders_under(old):
            community = order.community_code
            if order.community_code != matter.community_code or len(old) <= len(community) \
                    or new[:len(community)] == community:
                continue
            order.status, order.warning = "cancelled", "none"
            await self._work_order_changed(order, "cancel", now)
