"""Every query of the matters service."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import (
    Integer,
    Text,
    and_,
    any_,
    bindparam,
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
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.matters.models import (
    Ballot,
    BallotReceipt,
    CommunityTemplate,
    DepartmentTask,
    ImplementationTask,
    Matter,
    MatterTransition,
    MeetingRequest,
    OfflineTally,
    Rating,
    TaskProgress,
    TaskSpending,
    Vote,
    VoteElector,
    VoteOnlineCount,
    WorkOrder,
    WorkOrderChange,
)
from services.matters.rules.lifecycle import TERMINAL_STATES, Action
from youmin.kit import replica as replica_kit
from youmin.kit.db import driver_connection
from youmin.kit.events import Event
from youmin.kit.outbox import OUTBOX_NOTIFIED, outbox_args, outbox_ctes


OPEN_WORK_ORDER_STATUSES = ("dispatched", "signed")
# The orders through which a department reads their matter: not those it sent back as misrouted, nor cancelled ones.
READING_WORK_ORDER_STATUSES = (*OPEN_WORK_ORDER_STATUSES, "answered")


def _household_casters(code: str) -> str:
    """SQL for who may cast the household `code`'s one vote: its representative and recorded proxies, else (it has
    recorded neither) each of its adults."""
    return f"""coalesce(
        (SELECT array_remove(ARRAY[hh.representative_person_id::text], NULL) || coalesce(hh.proxy_person_ids::text[], '{{}}')
         FROM replica_household hh WHERE hh.household_code = {code}
         AND (hh.representative_person_id IS NOT NULL OR cardinality(hh.proxy_person_ids) > 0)),
        ARRAY(SELECT r.person_id::text FROM replica_resident r WHERE r.household_code = {code} AND r.adult ORDER BY 1))"""


def _like_prefix(code: str) -> str:
    return code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def recoded(column: Any, new: str, old: str) -> Any:
    """SQL for a code column under `old` re-prefixed with `new` (the rest of the code kept)."""
    return literal(new, Text) + func.substr(column, len(old) + 1)


# The Jaccard similarity of the distinct bigram sets, as rules.routing._jaccard computes it (0 if either is empty).
# The statement runs prepared, on every creation. Its plan must read the community's newest live matters from an
# index in order and stop at the candidate limit, whatever the community's size: the community and the limit are
# therefore written into the statement when it runs (literal_execute, quoted by SQLAlchemy), and so are the
# terminal states. With them bound, PostgreSQL could settle on one generic plan for every community: sorting all
# of a busy community's matters (13 ms per creation at 12,000 of them) or walking the whole district's matters by
# date to find a quiet community's few.
# The timeline entry of the residents' requests for a residents' meeting on a matter reaching the share at which the
# meeting must be called (not a lifecycle move: the state stays); its details name the community whose residents asked.
MEETING_DEMANDED = "meeting_demanded"

_TERMINAL_SQL = ", ".join(f"'{s.value}'" for s in sorted(TERMINAL_STATES))


def _alike(*, community: str, mine: str, threshold: str, candidates: str, top: str, exclude: str = "") -> str:
    """The SELECT of a community's live matters whose titles look like one with the bigram codes `mine` (int[], compared
    by intarray's intersection): (matter_id, title, score, created_at, unit_code, proposer_sub), most similar first.
    The arguments are SQL text (parameters or literals)."""
    return f"""
        SELECT matter_id, title, score, created_at, unit_code, proposer_sub FROM (
            SELECT c.matter_id, c.title, c.created_at, c.unit_code, c.proposer_sub,
                   CASE WHEN c.n = 0 OR c.m = 0 THEN 0.0
                        ELSE c.common::float8 / (c.n + c.m - c.common) END AS score
            FROM (
                SELECT m.matter_id, m.title, m.created_at, m.unit_code, m.proposer_sub, cardinality(m.title_bigrams) AS n,
                       cardinality({mine}) AS m,
                       icount(m.title_bigrams & {mine}) AS common
                FROM matter m
                WHERE m.community_code = {community} AND m.state NOT IN ({_TERMINAL_SQL}) {exclude}
                ORDER BY m.created_at DESC
                LIMIT {candidates}
            ) AS c
        ) AS s
        WHERE score >= {threshold} AND score > 0
        ORDER BY score DESC, created_at DESC
        LIMIT {top}"""


_SIMILAR = text(
    "SELECT matter_id, title, score, unit_code, proposer_sub FROM ("
    + _alike(community=":community", mine="CAST(:mine AS int[])", threshold=":threshold", candidates=":candidates",
             top=":top", exclude="AND m.matter_id IS DISTINCT FROM CAST(:exclude AS uuid)")
    + ") AS found ORDER BY score DESC, created_at DESC"
).bindparams(bindparam("community", type_=Text(), literal_execute=True),
             bindparam("candidates", type_=Integer(), literal_execute=True)).columns(
    matter_id=UUID(as_uuid=True))


# Raising a matter, in one statement on the request's asyncpg connection (see youmin.kit.db.driver_connection): its
# duplicate suggestions (_SIMILAR, read before the new matter is written: a statement's CTEs share one snapshot, so it
# is not its own duplicate), the matter, its first timeline entry, its event in the outbox, and the community's chosen
# template. The community
# is written into the text for _SIMILAR's reason (a plan of its own), after checking it is digits.
_RAISE_COLUMNS = ("matter_id", "community_code", "unit_code", "scope_level", "title", "title_bigrams", "description",
                  "category", "nature", "key_project", "major", "state", "raised_via", "proposer_sub", "proposer_kind",
                  "proposer_household_code", "department_code", "external_token", "latitude", "longitude",
                  "address_string", "created_at", "state_entered_at")
_P = {name: f"${n}" for n, name in enumerate((*_RAISE_COLUMNS, "details", "threshold", "unmoved"), start=1)}
# `held` takes the shared lock on code moves (hold_code_moves, migration matters_0016) and counts the moves recorded
# since under the codes the caller took as today's (`unmoved`): the matter, its timeline entry and its event are
# written only if there are none. The function reads the moves in a snapshot taken once the lock is granted.
_UNMOVED = "(SELECT moves FROM held) = 0"
_RAISE = f"""
    WITH held AS MATERIALIZED (SELECT count(*) AS moves FROM hold_code_moves(CAST({_P['unmoved']} AS text[])))
    , alike AS ({_alike(community="'{community}'", mine=f"CAST({_P['title_bigrams']} AS int[])",
                           threshold=_P['threshold'], candidates="{candidates}", top="{top}")}
    ), raised AS (
        INSERT INTO matter ({", ".join(_RAISE_COLUMNS)})
        SELECT {", ".join(_P[name] for name in _RAISE_COLUMNS)} WHERE {_UNMOVED}
    ), timeline AS (
        INSERT INTO matter_transition (matter_id, from_state, to_state, action, actor_sub, details, at)
        SELECT {_P['matter_id']}, NULL, {_P['state']}, 'raise', {_P['proposer_sub']}, {_P['details']}, {_P['created_at']}
        WHERE {_UNMOVED}
    ), {outbox_ctes(len(_P) + 1, when=_UNMOVED)}
    SELECT (SELECT moves FROM held) AS moves,
           (SELECT template_code FROM community_template WHERE community_code = {_P['community_code']}) AS template_code,
           {OUTBOX_NOTIFIED} AS notified,
           coalesce(a.ids, '{{{{}}}}') AS ids, coalesce(a.titles, '{{{{}}}}') AS titles,
           coalesce(a.scores, '{{{{}}}}') AS scores, coalesce(a.units, '{{{{}}}}') AS units,
           coalesce(a.proposers, '{{{{}}}}') AS proposers
    FROM (SELECT array_agg(matter_id ORDER BY score DESC, created_at DESC, matter_id) AS ids,
                 array_agg(title ORDER BY score DESC, created_at DESC, matter_id) AS titles,
                 array_agg(score ORDER BY score DESC, created_at DESC, matter_id) AS scores,
                 array_agg(unit_code ORDER BY score DESC, created_at DESC, matter_id) AS units,
                 array_agg(proposer_sub ORDER BY score DESC, created_at DESC, matter_id) AS proposers
          FROM alike) AS a
"""


@dataclass(frozen=True, slots=True)
class Similar:
    """A live matter whose title looks like another's (a duplicate suggestion), and whose it is."""

    matter_id: uuid.UUID
    title: str
    score: float
    unit_code: str
    proposer_sub: str


@dataclass(frozen=True, slots=True)
class BallotVote:
    """What casting a ballot reads of its vote."""

    vote_id: uuid.UUID
    status: str
    secret: bool
    opens_at: datetime
    closes_at: datetime | None


@dataclass(frozen=True, slots=True)
class Elector:
    """An elector whose vote a caller may cast: a person's own (voter_key is the person), or a household's."""

    voter_key: str
    household_code: str | None


# The caster's electors are looked up by the caster index alone, in every vote (a person casts in a handful), and
# then this vote's are kept. Given the vote's id beside it, the planner would read the vote's every elector through
# the primary key for each ballot whenever the table's statistics predate a large electorate (just frozen, the
# ballots come at once): 5 ms a ballot at 5,000 electors, until autovacuum analysed the table.
def _cast_by_me(person: str) -> str:
    """The CTE `cast_by_me` of the electors (vote_id, voter_key, household_code) whose vote `person` (SQL text) may
    cast, in every vote, read by the caster index alone."""
    return ("cast_by_me AS MATERIALIZED (SELECT vote_id, voter_key, household_code FROM vote_elector "
            f"WHERE caster_ids @> ARRAY[CAST({person} AS text)])")


# The vote's shared lock, then the vote and the caster's electors read once it is granted: the function
# ballot_vote_held (migration matters_0017), columns (vote_id, status, secret, opens_at, closes_at, voter_keys,
# household_codes).
_BALLOT_VOTE = "SELECT * FROM ballot_vote_held($1, $2)"
# A ballot in one statement that is its own transaction, for a caster whose vote is theirs alone to cast (one elector:
# themselves, or one household they represent): the read above, then the ballot written as _CAST_BALLOT writes it,
# only if the vote is open at the time given and the caster has exactly that one elector in it.
_CAST_AS_ONLY_ELECTOR = """
    WITH v AS MATERIALIZED (SELECT * FROM ballot_vote_held($1, $2)),
    chosen AS MATERIALIZED (
        SELECT v.vote_id, v.voter_keys[1] AS voter_key, v.secret FROM v
        WHERE v.status = 'open' AND $4 >= v.opens_at AND (v.closes_at IS NULL OR $4 <= v.closes_at)
          AND cardinality(v.voter_keys) = 1
    ), counted AS (
        INSERT INTO ballot (vote_id, voter_key, cast_by, via, choice, receipt_digest, cast_at)
        SELECT c.vote_id, c.voter_key, $2, 'online', CASE WHEN c.secret THEN NULL ELSE $3 END,
               CASE WHEN c.secret THEN NULL ELSE $5 END, $4
        FROM chosen c
        ON CONFLICT (vote_id, voter_key) DO NOTHING
        RETURNING vote_id
    ), receipt AS (
        INSERT INTO ballot_receipt (receipt_digest, vote_id, choice)
        SELECT $5, c.vote_id, CASE WHEN c.secret THEN NULL ELSE $3 END FROM chosen c WHERE EXISTS (SELECT 1 FROM counted)
    ), boxed AS (
        INSERT INTO ballot_box (vote_id, choice) SELECT vote_id, $3 FROM counted
    )
    SELECT v.*, EXISTS (SELECT 1 FROM counted) AS counted FROM v
"""
_CAST_BALLOT = """
    WITH counted AS (
        INSERT INTO ballot (vote_id, voter_key, cast_by, via, choice, receipt_digest, cast_at)
        VALUES ($1, $2, $3, 'online', $4, $5, $6)
        ON CONFLICT (vote_id, voter_key) DO NOTHING
        RETURNING vote_id
    ), receipt AS (
        INSERT INTO ballot_receipt (receipt_digest, vote_id, choice) SELECT $7, vote_id, $4 FROM counted
    ), boxed AS (
        INSERT INTO ballot_box (vote_id, choice) SELECT vote_id, $8 FROM counted
    )
    SELECT EXISTS (SELECT 1 FROM counted)
"""


def _ballot_vote(row: asyncpg.Record | None) -> tuple[BallotVote | None, list[Elector]]:
    if row is None:
        return None, []
    vote = BallotVote(row["vote_id"], row["status"], row["secret"], row["opens_at"], row["closes_at"])
    return vote, [Elector(k, h) for k, h in zip(row["voter_keys"], row["household_codes"], strict=True)]


class MattersRepository:
    """Queries over one session; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- matters ----------------------------------------------------------------------------------

    async def add(self, obj: Any) -> None:
        self.session.add(obj)
        await self.session.flush()

    async def get_matter(self, matter_id: uuid.UUID, *, lock: bool = False) -> Matter | None:
        stmt = select(Matter).where(Matter.matter_id == matter_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def matter_by_token(self, token: str) -> Matter | None:
        return (await self.session.execute(select(Matter).where(Matter.external_token == token))).scalar_one_or_none()

    async def similar_matters(
        self, community_code: str, exclude: uuid.UUID | None, bigrams: list[int], threshold: float, *,
        candidates: int = 200, top: int = 10,
    ) -> list[Similar]:
        """Returns the community's live matters whose titles look like one with these bigram
        codes (rules.routing.bigram_codes).

        Of the `candidates` newest live matters, those scoring at or above the threshold (and above 0) come back,
        most similar first and newest first among equals: rules.routing.suggest_duplicates, computed where the
        titles are, so only the matches leave the database.
        """
        rows = await self.session.execute(_SIMILAR, {
            "community": community_code, "exclude": exclude,
            "mine": bigrams, "threshold": threshold, "candidates": candidates, "top": top,
        })
        return [Similar(row.matter_id, row.title, row.score, row.unit_code, row.proposer_sub) for row in rows]

    async def insert_raised(self, matter: Matter, details: dict[str, Any], event: Event, threshold: float, *,
                            unmoved: Sequence[str] = (), connection: asyncpg.Connection | None = None,
                            candidates: int = 200, top: int = 10) -> tuple[list[Similar], str | None] | None:
        """Writes a new matter, its "raise" entry on the timeline and its event (to the outbox), unless a unit under a
        code of `unmoved` (codes taken as today's) has moved since; returns the community's similar live matters as
        similar_matters finds them (before this one is written) and the community's chosen template code, if any; or
        None, with nothing written, when such a move is recorded.

        `connection` (youmin.kit.db.autocommit_connection) runs the statement as a transaction of its own; else it
        runs in the session's."""
        if not re.fullmatch(r"[0-9]{6,12}", matter.community_code):  # written into the statement's text
            raise ValueError(f"not a community code: {matter.community_code!r}")
        conn = connection or await driver_connection(self.session)
        row = await conn.fetchrow(
            _RAISE.format(community=matter.community_code, candidates=int(candidates), top=int(top)),
            *(getattr(matter, name) for name in _RAISE_COLUMNS), json.dumps(details, ensure_ascii=False), threshold,
            replica_kit.code_prefixes(unmoved), *outbox_args(event)[1],
        )
        if row["moves"]:
            return None
        found = [Similar(*columns) for columns in zip(row["ids"], row["titles"], row["scores"], row["units"],
                                                      row["proposers"], strict=True)]
        return found, row["template_code"]

    async def list_matters(
        self,
        *,
        visibility: Any,
        category: str | None = None,
        status: str | None = None,
        state: str | None = None,
        community_code: str | None = None,
        key_project: bool | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        ids: Sequence[uuid.UUID] | None = None,
        q: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Matter], int]:
        conditions = [visibility]
        terminal = [s.value for s in TERMINAL_STATES]
        if category:
            conditions.append(Matter.category == category)
        if status == "open":
            conditions.append(Matter.state.not_in(terminal))
        elif status == "closed":
            conditions.append(Matter.state.in_(terminal))
        if state:
            conditions.append(Matter.state == state)
        if community_code:
            conditions.append(Matter.community_code == community_code)
        if key_project is not None:
            conditions.append(Matter.key_project == key_project)
        if start:
            conditions.append(Matter.created_at >= start)
        if end:
            conditions.append(Matter.created_at <= end)
        if ids:
            conditions.append(Matter.matter_id.in_(list(ids)))
        if q:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(or_(Matter.title.ilike(f"%{escaped}%"), Matter.description.ilike(f"%{escaped}%")))
        total = await self.session.scalar(select(func.count()).select_from(Matter).where(*conditions))
        rows = await self.session.execute(
            select(Matter).where(*conditions).order_by(Matter.created_at.desc(), Matter.matter_id).limit(limit).offset(offset)
        )
        return list(rows.scalars()), int(total or 0)

    async def timeline(self, matter_id: uuid.UUID) -> list[MatterTransition]:
        rows = await self.session.execute(
            select(MatterTransition).where(MatterTransition.matter_id == matter_id).order_by(MatterTransition.transition_id)
        )
        return list(rows.scalars())

    async def vote_ids(self, matter_id: uuid.UUID, *, counted_only: bool = False) -> list[uuid.UUID]:
        """A matter's votes, oldest first; `counted_only`: not those called off (cancelled)."""
        query = select(Vote.vote_id).where(Vote.matter_id == matter_id)
        if counted_only:
            query = query.where(Vote.status != "cancelled")
        rows = await self.session.execute(query.order_by(Vote.opens_at))
        return list(rows.scalars())

    async def work_order_ids(self, matter_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.session.execute(
            select(WorkOrder.work_order_id).where(WorkOrder.matter_id == matter_id).order_by(WorkOrder.dispatched_at)
        )
        return list(rows.scalars())

    async def department_matter_ids(self, department_code: str) -> Any:
        """A subquery of matters dispatched to a department."""
        return select(WorkOrder.matter_id).where(WorkOrder.department_code == department_code)

    async def template_choice(self, community_code: str) -> CommunityTemplate | None:
        return await self.session.get(CommunityTemplate, community_code)

    async def choose_template(self, community_code: str, template_code: str, chosen_by: str) -> None:
        stmt = insert(CommunityTemplate).values(community_code=community_code, template_code=template_code, chosen_by=chosen_by)
        stmt = stmt.on_conflict_do_update(
            index_elements=[CommunityTemplate.community_code],
            set_={"template_code": stmt.excluded.template_code, "chosen_by": stmt.excluded.chosen_by, "chosen_at": func.now()},
        )
        await self.session.execute(stmt)

    # --- votes ------------------------------------------------------------------------------------

    async def with_open_votes(self, matter_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Those of the matters that have a vote open."""
        if not matter_ids:
            return set()
        rows = await self.session.execute(select(Vote.matter_id).where(Vote.matter_id.in_(matter_ids),
                                                                       Vote.status == "open"))
        return set(rows.scalars())

    async def open_vote_of(self, matter_id: uuid.UUID) -> Vote | None:
        rows = await self.session.execute(select(Vote).where(Vote.matter_id == matter_id, Vote.status == "open"))
        return rows.scalars().first()

    async def get_vote(self, vote_id: uuid.UUID, *, lock: str | None = None) -> Vote | None:
        """Reads a vote; "share" lets ballots run together, "update" (closing) waits for them and stops new ones.

        The shared side is a transaction-level advisory lock rather than FOR SHARE: it writes nothing to the
        vote's row, so many concurrent ballots do not contend on one tuple.
        """
        if lock is not None:
            await self.lock_vote(vote_id, shared=lock == "share")
        stmt = select(Vote).where(Vote.vote_id == vote_id)
        if lock == "update":
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def lock_vote(self, vote_id: uuid.UUID, *, shared: bool) -> None:
        """Takes a vote's transaction lock: shared by its ballots, exclusive for closing it or re-coding its electors."""
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await self.session.execute(text(f"SELECT {fn}(hashtext('matters.vote:' || :v))"), {"v": str(vote_id)})

    async def lock_electorates(self, *, shared: bool) -> None:
        """Orders the freezing of an electorate (shared) against a change of who casts a household's vote (exclusive):
        either the vote is frozen from the replica as changed, or the change finds the vote committed and follows."""
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await self.session.execute(text(f"SELECT {fn}(hashtext('matters.electorates'))"))

    async def freeze_electorate(self, vote_id: uuid.UUID, scope_code: str, base: str) -> int:
        """Copies the electorate under a scope from the registry replica into vote_elector; returns its size.
        A retired household (and whoever is still recorded in it) is not part of it, nor a household with nobody who
        can cast its vote (no adult, no representative or proxy: the residents' meeting is of those 18 and over).
        A household's vote is cast by its representative or a recorded proxy; one that has recorded neither is cast by
        any of its adults (the first ballot is the household's)."""
        prefix = _like_prefix(scope_code)
        if base == "household_representatives":
            sql = f"""
                INSERT INTO vote_elector (vote_id, voter_key, household_code, caster_ids)
                SELECT :vote_id, h.code, h.code, {_household_casters("h.code")}
                FROM (SELECT household_code AS code FROM replica_resident WHERE household_code LIKE :p AND adult
                      UNION SELECT household_code FROM replica_household WHERE household_code LIKE :p
                      AND (representative_person_id IS NOT NULL OR cardinality(proxy_person_ids) > 0)) AS h
                WHERE NOT EXISTS (SELECT 1 FROM replica_unit u WHERE u.code = h.code AND u.retired)
            """
        elif base == "group_representatives":
            sql = """
                INSERT INTO vote_elector (vote_id, voter_key, household_code, caster_ids)
                SELECT DISTINCT :vote_id, g.person_id::text, NULL, ARRAY[g.person_id::text]
                FROM replica_grant g
                WHERE g.active AND g.role = 'resident_representative' AND g.scope_code LIKE :p
            """
        else:
            sql = """
                INSERT INTO vote_elector (vote_id, voter_key, household_code, caster_ids)
                SELECT :vote_id, r.person_id::text, r.household_code, ARRAY[r.person_id::text]
                FROM replica_resident r WHERE r.adult AND r.household_code LIKE :p
                AND NOT EXISTS (SELECT 1 FROM replica_unit u WHERE u.code = r.household_code AND u.retired)
            """
        result = await self.session.execute(text(sql), {"vote_id": vote_id, "p": prefix})
        return int(result.rowcount or 0)

    async def refresh_household_casters(self, household_code: str) -> int:
        """After a household names another representative or proxies, or an adult moves in or out of one that named
        neither: in its open household votes, those are who may cast its one vote (the households and their number
        stay as frozen; a ballot already cast stays). Returns how many electors changed."""
        result = await self.session.execute(text(
            f"""
            UPDATE vote_elector e SET caster_ids = {_household_casters(":code")}
            FROM vote v
            WHERE v.vote_id = e.vote_id AND v.status = 'open' AND e.voter_key = e.household_code
              AND e.household_code = :code
            """), {"code": household_code})
        return int(result.rowcount or 0)

    async def household_of(self, person_id: str) -> str | None:
        """The household the replica records a person in, if any."""
        return (await self.session.execute(text("SELECT household_code FROM replica_resident WHERE person_id = :p"),
                                           {"p": person_id})).scalar_one_or_none()

    async def votes_open_to(self, person_id: str, now: datetime) -> list[Vote]:
        """The votes taking ballots at `now` in whose electorate a person may cast something, oldest first."""
        # The person's electors in every vote first, by the caster index alone (see _BALLOT_VOTE).
        casts = Vote.vote_id.in_(select(VoteElector.vote_id).where(VoteElector.caster_ids.contains([person_id])))
        rows = await self.session.execute(
            select(Vote).where(Vote.status == "open", Vote.opens_at <= now,
                               or_(Vote.closes_at.is_(None), Vote.closes_at > now), casts)
            .order_by(Vote.opens_at, Vote.vote_id))
        return list(rows.scalars())

    async def casts_on_matter(self, matter_id: uuid.UUID, person_id: str) -> bool:
        """Whether a person may cast a vote (their own, or a household's as its representative or proxy) in one of a
        matter's votes, by the caster index alone (see _BALLOT_VOTE)."""
        return bool(await self.session.scalar(text(
            f"WITH {_cast_by_me(':p')} SELECT EXISTS (SELECT 1 FROM cast_by_me c JOIN vote v USING (vote_id) "
            "WHERE v.matter_id = :m)"), {"p": person_id, "m": matter_id}))

    async def cast_voter_keys(self, vote_id: uuid.UUID, voter_keys: list[str]) -> set[str]:
        """Those of the electors given whose vote is cast."""
        if not voter_keys:
            return set()
        rows = await self.session.execute(
            select(Ballot.voter_key).where(Ballot.vote_id == vote_id, Ballot.voter_key.in_(voter_keys)))
        return set(rows.scalars())

    async def electors_for_caster(self, vote_id: uuid.UUID, person_id: str) -> list[Elector]:
        """The electors of a vote whose vote the person may cast, looked up by the caster index alone (_BALLOT_VOTE)."""
        rows = await self.session.execute(text(
            f"WITH {_cast_by_me(':p')} SELECT voter_key, household_code FROM cast_by_me WHERE vote_id = :v "
            "ORDER BY voter_key"),
            {"p": person_id, "v": vote_id})
        return [Elector(row.voter_key, row.household_code) for row in rows]

    async def ballot_vote(self, vote_id: uuid.UUID, person_id: str) -> tuple[BallotVote | None, list[Elector]]:
        """For casting a ballot: takes the vote's shared lock (get_vote's "share"), then reads the vote and the electors
        whose vote the person may cast (their own, or households' as representative or proxy), on the request's asyncpg
        connection, in one round trip. The read is made once the lock is granted (ballot_vote_held): it sees a close
        that the lock waited for."""
        row = await (await driver_connection(self.session)).fetchrow(_BALLOT_VOTE, vote_id, person_id)
        return _ballot_vote(row)

    async def cast_as_only_elector(self, connection: asyncpg.Connection, vote_id: uuid.UUID, person_id: str,
                                   choice: str, digest: str, cast_at: datetime,
                                   ) -> tuple[BallotVote | None, list[Elector], bool]:
        """ballot_vote, and the ballot written as cast_ballot writes it if the vote is open at `cast_at` and the person
        casts for one elector only, in one statement on `connection` (youmin.kit.db.autocommit_connection): its own
        transaction. Returns what ballot_vote returns, and whether the ballot counted."""
        row = await connection.fetchrow(_CAST_AS_ONLY_ELECTOR, vote_id, person_id, choice, cast_at, digest)
        return *_ballot_vote(row), bool(row and row["counted"])

    async def cast_ballot(self, vote_id: uuid.UUID, voter_key: str, cast_by: str, choice: str, digest: str,
                          cast_at: datetime, *, secret: bool) -> bool:
        """Records an elector's online ballot once: participation in ballot (the primary key (vote, elector) makes a
        second attempt a no-op), the receipt's digest in ballot_receipt and the choice in the ballot box; for a secret
        ballot neither the choice nor the receipt is kept with the participation. The totals row is written only by
        the mixer and the closing tally (mix_ballots), never by the voter's own transaction. Returns whether this
        attempt counted."""
        conn = await driver_connection(self.session)
        return await conn.fetchval(_CAST_BALLOT, vote_id, voter_key, cast_by, None if secret else choice,
                                   None if secret else digest, cast_at, digest, choice)

    async def mix_ballots(self, vote_id: uuid.UUID | None = None) -> int:
        """Empties the ballot box (one vote's, or every vote's) into the votes' totals; returns the ballots moved."""
        where = "WHERE vote_id = :vote_id" if vote_id is not None else ""
        result = await self.session.execute(text(
            f"""
            WITH taken AS (DELETE FROM ballot_box {where} RETURNING vote_id, choice),
            summed AS (SELECT vote_id, count(*) FILTER (WHERE choice = 'for') AS f,
                              count(*) FILTER (WHERE choice = 'against') AS a,
                              count(*) FILTER (WHERE choice = 'abstain') AS s, count(*) AS n
                       FROM taken GROUP BY vote_id),
            added AS (
                INSERT INTO vote_online_count (vote_id, votes_for, votes_against, abstain)
                SELECT vote_id, f, a, s FROM summed ORDER BY vote_id
                ON CONFLICT (vote_id) DO UPDATE SET votes_for = vote_online_count.votes_for + EXCLUDED.votes_for,
                    votes_against = vote_online_count.votes_against + EXCLUDED.votes_against,
                    abstain = vote_online_count.abstain + EXCLUDED.abstain
                RETURNING 1)
            SELECT coalesce(sum(n), 0) FROM summed
            """), {"vote_id": vote_id} if vote_id is not None else {})
        return int(result.scalar_one())

    async def receipt_by_digest(self, digest: str) -> BallotReceipt | None:
        return await self.session.get(BallotReceipt, digest)

    async def participated(self, vote_id: uuid.UUID) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Ballot).where(Ballot.vote_id == vote_id)) or 0)

    async def unknown_electors(self, vote_id: uuid.UUID, keys: list[str]) -> list[str]:
        rows = await self.session.execute(
            # One array parameter, as many keys as a sign-in sheet has (an IN list binds one parameter per key, and a
            # statement takes at most 32,767).
            select(VoteElector.voter_key).where(VoteElector.vote_id == vote_id,
                                                VoteElector.voter_key == any_(bindparam("keys", keys, type_=ARRAY(Text), unique=True)))
        )
        known = set(rows.scalars())
        return [k for k in keys if k not in known]

    async def insert_offline_ballots(self, vote_id: uuid.UUID, keys: list[str], cast_by: str, at: datetime) -> list[str]:
        """Records offline participation; returns the keys that were recorded (others had voted already)."""
        result = await self.session.execute(
            text(
                """
                INSERT INTO ballot (vote_id, voter_key, cast_by, via, cast_at)
                SELECT :vote_id, k, :cast_by, 'offline', :at FROM unnest(CAST(:keys AS text[])) AS k
                ON CONFLICT (vote_id, voter_key) DO NOTHING
                RETURNING voter_key
                """
            ),
            {"vote_id": vote_id, "keys": keys, "cast_by": cast_by, "at": at},
        )
        return [row.voter_key for row in result]

    async def counts(self, vote_id: uuid.UUID) -> dict[str, int]:
        """Counts online choices (emptying the vote's ballot box into its totals first) and offline tallies together."""
        await self.mix_ballots(vote_id)
        online = (await self.session.execute(
            select(VoteOnlineCount.votes_for, VoteOnlineCount.votes_against, VoteOnlineCount.abstain)
            .where(VoteOnlineCount.vote_id == vote_id)
        )).first() or (0, 0, 0)
        totals = {"for": int(online[0]), "against": int(online[1]), "abstain": int(online[2])}
        offline = (
            await self.session.execute(
                select(
                    func.coalesce(func.sum(OfflineTally.votes_for), 0),
                    func.coalesce(func.sum(OfflineTally.votes_against), 0),
                    func.coalesce(func.sum(OfflineTally.abstain), 0),
                ).where(OfflineTally.vote_id == vote_id)
            )
        ).one()
        totals["for"] += int(offline[0])
        totals["against"] += int(offline[1])
        totals["abstain"] += int(offline[2])
        return totals

    # --- tasks and ratings ------------------------------------------------------------------------

    async def get_task(self, task_id: uuid.UUID, *, lock: bool = False) -> ImplementationTask | None:
        stmt = select(ImplementationTask).where(ImplementationTask.task_id == task_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def tasks_of(self, matter_id: uuid.UUID) -> list[ImplementationTask]:
        rows = await self.session.execute(
            select(ImplementationTask).where(ImplementationTask.matter_id == matter_id).order_by(ImplementationTask.created_at)
        )
        return list(rows.scalars())

    async def department_tasks_carried(self, department_code: str, finished: bool | None, limit: int,
                                       offset: int) -> tuple[list[tuple[ImplementationTask, str]], int]:
        """A page of the implementation tasks a department carries out, newest first, each with its matter's
        community, and how many there are in all; `finished`: only those done (or only those not)."""
        conditions = [ImplementationTask.responsible_kind == "department",
                      ImplementationTask.responsible_code == department_code]
        if finished:
            conditions.append(ImplementationTask.completed_at.is_not(None))
        elif finished is not None:
            # Open: still to be carried out, of a matter that has not ended (a withdrawn matter's task is not).
            conditions += [ImplementationTask.completed_at.is_(None),
                           Matter.state.not_in([s.value for s in TERMINAL_STATES])]
        total = await self.session.scalar(
            select(func.count()).select_from(ImplementationTask)
            .join(Matter, Matter.matter_id == ImplementationTask.matter_id).where(*conditions))
        rows = await self.session.execute(
            select(ImplementationTask, Matter.community_code)
            .join(Matter, Matter.matter_id == ImplementationTask.matter_id)
            .where(*conditions)
            .order_by(ImplementationTask.created_at.desc(), ImplementationTask.task_id.desc())
            .limit(limit).offset(offset)
        )
        return [(task, community) for task, community in rows.tuples()], int(total or 0)

    async def spending_of(self, task_ids: list[uuid.UUID]) -> list[TaskSpending]:
        rows = await self.session.execute(
            select(TaskSpending).where(TaskSpending.task_id.in_(task_ids)).order_by(TaskSpending.spending_id)
        )
        return list(rows.scalars())

    async def progress_of(self, task_ids: list[uuid.UUID]) -> list[TaskProgress]:
        rows = await self.session.execute(
            select(TaskProgress).where(TaskProgress.task_id.in_(task_ids)).order_by(TaskProgress.progress_id)
        )
        return list(rows.scalars())

    async def insert_rating(self, values: dict[str, Any]) -> bool:
        stmt = insert(Rating).values(**values).on_conflict_do_nothing()
        result = await self.session.execute(stmt.returning(Rating.rater_sub))
        return result.first() is not None

    async def meeting_demanded(self, matter_id: uuid.UUID, community_code: str) -> bool:
        """Whether the residents of a community (the matter's, today) reached the share of requests at which their
        meeting must be called on the matter: a demand made in a community the matter was placed out of is theirs."""
        return bool(await self.session.scalar(select(exists().where(
            MatterTransition.matter_id == matter_id, MatterTransition.action == MEETING_DEMANDED,
            MatterTransition.details["community_code"].astext == community_code))))

    async def residency(self, person_id: str) -> tuple[str, bool] | None:
        """A person's household code and whether they are an adult, as the registry replica has them."""
        try:
            uuid.UUID(person_id)
        except ValueError:
            return None
        row = (await self.session.execute(text(
            "SELECT household_code, adult FROM replica_resident WHERE person_id = CAST(:p AS uuid)"
            " AND household_code IS NOT NULL"), {"p": person_id})).first()
        return (row.household_code, row.adult) if row else None

    async def insert_meeting_request(self, values: dict[str, Any]) -> bool:
        """Records a resident's request for a residents' meeting on a matter; False if they asked already."""
        stmt = insert(MeetingRequest).values(**values).on_conflict_do_nothing()
        return (await self.session.execute(stmt.returning(MeetingRequest.person_sub))).first() is not None

    async def meeting_requests(self, matter_id: uuid.UUID, community_code: str, person_sub: str) -> tuple[int, int, bool]:
        """The adults and households (through an adult of theirs) of a community who asked for a meeting on a
        matter, as the registry replica has them today (one who moved away, or asked before turning 18, is not
        counted: one who has turned 18 since is), and whether `person_sub` asked."""
        row = (await self.session.execute(text(
            "SELECT count(r.person_id) FILTER (WHERE r.adult),"
            " count(DISTINCT r.household_code) FILTER (WHERE r.adult),"
            " count(*) FILTER (WHERE q.person_sub = :me)"
            " FROM meeting_request q LEFT JOIN replica_resident r"
            "  ON r.person_id::text = q.person_sub AND r.household_code LIKE :p"
            " WHERE q.matter_id = :m"), {"m": matter_id, "p": _like_prefix(community_code), "me": person_sub})).one()
        return int(row[0]), int(row[1]), bool(row[2])

    async def community_residents(self, community_code: str) -> tuple[int, int]:
        """The adults of a community and its households (with a resident), as the registry replica has them."""
        row = (await self.session.execute(text(
            "SELECT count(*) FILTER (WHERE adult), count(DISTINCT household_code) FROM replica_resident"
            " WHERE household_code LIKE :p"), {"p": _like_prefix(community_code)})).one()
        return int(row[0]), int(row[1])

    async def scores(self, matter_id: uuid.UUID, evaluation_round: int) -> list[int]:
        rows = await self.session.execute(
            select(Rating.score).where(Rating.matter_id == matter_id, Rating.evaluation_round == evaluation_round)
        )
        return list(rows.scalars())

    async def votes_due_to_close(self, closed_before: datetime) -> list[uuid.UUID]:
        """The open votes whose window ended before a time, oldest first."""
        rows = await self.session.execute(
            select(Vote.vote_id).where(Vote.status == "open", Vote.closes_at < closed_before)
            .order_by(Vote.closes_at, Vote.vote_id))
        return list(rows.scalars())

    async def open_tasks(self) -> list[ImplementationTask]:
        """The unfinished tasks of matters that have not ended, locked (those another sweep holds are skipped)."""
        rows = await self.session.execute(
            select(ImplementationTask)
            .join(Matter, Matter.matter_id == ImplementationTask.matter_id)
            .where(ImplementationTask.completed_at.is_(None),
                   Matter.state.not_in([s.value for s in TERMINAL_STATES]))
            .with_for_update(of=ImplementationTask, skip_locked=True)
        )
        return list(rows.scalars())

    # --- work orders ------------------------------------------------------------------------------

    async def get_work_order(self, work_order_id: uuid.UUID, *, lock: bool = False) -> WorkOrder | None:
        stmt = select(WorkOrder).where(WorkOrder.work_order_id == work_order_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def open_work_orders(self) -> list[WorkOrder]:
        """The open work orders the deadline sweep looks at, locked (those another sweep holds are skipped)."""
        rows = await self.session.execute(
            select(WorkOrder).join(Matter, Matter.matter_id == WorkOrder.matter_id)
            .where(WorkOrder.status.in_(OPEN_WORK_ORDER_STATUSES), Matter.state.not_in([s.value for s in TERMINAL_STATES]))
            .order_by(WorkOrder.department_code, WorkOrder.work_order_id)
            .with_for_update(of=WorkOrder, skip_locked=True)
        )
        return list(rows.scalars())

    # The open orders below are read and changed in department order, as the deadline sweep changes them: each
    # change takes its department's feed lock (record_change), and two holders taking two departments' locks in
    # opposite orders would deadlock.
    async def open_work_orders_of(self, matter_id: uuid.UUID) -> list[WorkOrder]:
        rows = await self.session.execute(
            select(WorkOrder).where(WorkOrder.matter_id == matter_id, WorkOrder.status.in_(OPEN_WORK_ORDER_STATUSES))
            .order_by(WorkOrder.department_code, WorkOrder.work_order_id).with_for_update()
        )
        return list(rows.scalars())

    async def open_work_orders_under(self, unit_code: str) -> list[tuple[WorkOrder, Matter]]:
        """The open work orders of the matters at or under a unit, with their matters (locked, in a stable order)."""
        rows = await self.session.execute(
            select(WorkOrder, Matter).join(Matter, Matter.matter_id == WorkOrder.matter_id)
            .where(Matter.unit_code.like(_like_prefix(unit_code)), WorkOrder.status.in_(OPEN_WORK_ORDER_STATUSES))
            .order_by(WorkOrder.department_code, WorkOrder.work_order_id).with_for_update(of=WorkOrder)
        )
        return [(order, matter) for order, matter in rows.tuples()]

    async def open_work_order_of(self, matter_id: uuid.UUID, department_code: str) -> WorkOrder | None:
        rows = await self.session.execute(
            select(WorkOrder).where(WorkOrder.matter_id == matter_id, WorkOrder.department_code == department_code,
                                    WorkOrder.status.in_(OPEN_WORK_ORDER_STATUSES)).limit(1)
        )
        return rows.scalar_one_or_none()

    async def list_work_orders(self, visibility: Any, department: str | None, status: str | None, limit: int, offset: int) -> list[WorkOrder]:
        conditions = [visibility]
        if department:
            conditions.append(WorkOrder.department_code == department)
        if status:
            conditions.append(WorkOrder.status == status)
        rows = await self.session.execute(
            select(WorkOrder).where(*conditions).order_by(WorkOrder.dispatched_at.desc(), WorkOrder.work_order_id)
            .limit(limit).offset(offset)
        )
        return list(rows.scalars())

    async def record_change(self, order: WorkOrder, action: str, at: datetime) -> None:
        """Appends to the department's feed.

        A transaction-scoped lock per department makes one department's changes commit in sequence
        order, so a reader that sees seq N has already been able to see every earlier seq of that
        department: the feed never skips a row that commits late.
        """
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('matters.work_order_change:' || :d))"), {"d": order.department_code}
        )
        await self.session.execute(
            insert(WorkOrderChange).values(
                work_order_id=order.work_order_id,
                matter_id=order.matter_id,
                department_code=order.department_code,
                community_code=order.community_code,
                action=action,
                status=order.status,
                due_at=order.due_at,
                warning=order.warning,
                at=at,
            )
        )

    async def feed(self, department_code: str, after: int, limit: int) -> list[Any]:
        """Returns a department's committed changes after a cursor.

        No transaction-id horizon here: record_change takes the department's lock before drawing a
        sequence number and keeps it to commit, so a department's rows become visible in sequence order.
        Filtering by a horizon as well would hide a committed row behind an unrelated running transaction
        while letting a later one through, and the cursor would then pass the hidden row for good.
        """
        rows = await self.session.execute(
            text(
                """
                SELECT c.seq, c.work_order_id, c.matter_id, c.department_code, c.community_code, c.action, c.status,
                       c.due_at, c.warning, c.at, m.title, m.category
                FROM work_order_change c JOIN matter m ON m.matter_id = c.matter_id
                WHERE c.department_code = :d AND c.seq > :after
                ORDER BY c.seq
                LIMIT :limit
                """
            ),
            {"d": department_code, "after": after, "limit": limit},
        )
        return list(rows)

    # --- department tasks and statistics ----------------------------------------------------------

    async def burden(self, scopes: list[str] | None, start: datetime | None, end: datetime | None) -> list[Any]:
        rows = await self.session.execute(
            text(
                """
                SELECT community_code, to_char(submitted_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,
                       count(*) FILTER (WHERE admitted) AS admitted, count(*) FILTER (WHERE NOT admitted) AS refused
                FROM department_task
                WHERE (CAST(:all AS boolean) OR community_code LIKE ANY(CAST(:prefixes AS text[])))
                  AND (CAST(:start AS timestamptz) IS NULL OR submitted_at >= :start)
                  AND (CAST(:end AS timestamptz) IS NULL OR submitted_at < :end)
                GROUP BY 1, 2 ORDER BY 1, 2
                """
            ),
            {"all": scopes is None, "prefixes": [_like_prefix(s) for s in scopes or []], "start": start, "end": end},
        )
        return list(rows)

    async def department_tasks(self, visibility: Any, limit: int) -> list[DepartmentTask]:
        rows = await self.session.execute(
            select(DepartmentTask).where(visibility).order_by(DepartmentTask.submitted_at.desc()).limit(limit)
        )
        return list(rows.scalars())

    async def stage_statistics(self, filters: dict[str, Any]) -> list[Any]:
        rows = await self.session.execute(
            text(
                f"""
                WITH m AS (SELECT matter_id, state FROM matter WHERE {filters['where']}),
                steps AS (
                    SELECT t.matter_id, t.transition_id, t.to_state, t.at,
                           lag(t.to_state) OVER (PARTITION BY t.matter_id ORDER BY t.transition_id) AS previous
                    FROM matter_transition t JOIN m USING (matter_id)
                ),
                -- A stay in a state runs until the matter enters another: an entry that keeps the state (placing a
                -- matter in triage, a re-routing, filing a covenant) does not end it.
                stays AS (
                    SELECT matter_id, to_state AS state, at,
                           lead(at) OVER (PARTITION BY matter_id ORDER BY transition_id) AS left_at
                    FROM steps WHERE previous IS DISTINCT FROM to_state
                )
                SELECT s.state,
                       count(DISTINCT s.matter_id) AS entered,
                       (SELECT count(*) FROM m WHERE m.state = s.state) AS current,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.left_at - s.at) / 86400.0)
                           FILTER (WHERE s.left_at IS NOT NULL) AS median_days
                FROM stays s GROUP BY s.state ORDER BY s.state
                """
            ),
            filters["params"],
        )
        return list(rows)

    async def stage_stays(self, filters: dict[str, Any], stage_of: list[tuple[str, str, str]],
                          default_template: str) -> list[Any]:
        """Per (template, stage): the matters that entered it, those in it now, and the median days of a stay in it.

        `stage_of` lists (template, state, stage). A stay in a stage runs from the transition into it until the first
        transition into another stage (or a state outside every stage): moves between its states, a re-routing and
        placing in triage do not end it.
        """
        rows = await self.session.execute(
            text(
                f"""
                WITH m AS (SELECT matter_id, state, community_code FROM matter WHERE {filters['where']}),
                mt AS (SELECT m.matter_id, m.state, coalesce(ct.template_code, :default_template) AS template
                       FROM m LEFT JOIN community_template ct USING (community_code)),
                map AS (SELECT * FROM unnest(CAST(:map_templates AS text[]), CAST(:map_states AS text[]),
                                             CAST(:map_stages AS text[])) AS x(template, state, stage)),
                steps AS (
                    SELECT t.matter_id, t.transition_id, t.at, mt.template,
                           coalesce(map.stage, '~' || t.to_state) AS stage  -- '~': a state outside every stage
                    FROM matter_transition t JOIN mt USING (matter_id)
                    LEFT JOIN map ON map.template = mt.template AND map.state = t.to_state),
                changes AS (
                    SELECT *, lag(stage) OVER (PARTITION BY matter_id ORDER BY transition_id) AS previous FROM steps),
                stays AS (
                    SELECT matter_id, template, stage, at,
                           lead(at) OVER (PARTITION BY matter_id ORDER BY transition_id) AS left_at
                    FROM changes WHERE previous IS DISTINCT FROM stage),
                now_in AS (
                    SELECT mt.template, map.stage, count(*) AS current
                    FROM mt JOIN map ON map.template = mt.template AND map.state = mt.state GROUP BY 1, 2)
                SELECT s.template, s.stage, count(DISTINCT s.matter_id) AS entered, coalesce(max(n.current), 0) AS current,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.left_at - s.at) / 86400.0)
                           FILTER (WHERE s.left_at IS NOT NULL) AS median_days
                FROM stays s LEFT JOIN now_in n ON n.template = s.template AND n.stage = s.stage
                WHERE s.stage NOT LIKE '~%' GROUP BY s.template, s.stage
                """
            ),
            {**filters["params"], "default_template": default_template,
             "map_templates": [t for t, _, _ in stage_of], "map_states": [s for _, s, _ in stage_of],
             "map_stages": [g for _, _, g in stage_of]},
        )
        return list(rows)

    async def group_counts(self, column: str, filters: dict[str, Any]) -> list[Any]:
        terminal = [s.value for s in TERMINAL_STATES]
        rows = await self.session.execute(
            text(
                f"""
                SELECT {column} AS key, count(*) AS matters, count(*) FILTER (WHERE key_project) AS key_projects,
                       count(*) FILTER (WHERE state <> ALL(CAST(:terminal AS text[]))) AS open
                FROM matter WHERE {filters['where']} GROUP BY 1 ORDER BY 1
                """
            ),
            {**filters["params"], "terminal": terminal},
        )
        return list(rows)

    async def set_task_warning(self, task_id: uuid.UUID, warning: str) -> None:
        await self.session.execute(update(ImplementationTask).where(ImplementationTask.task_id == task_id).values(warning=warning))

    # --- org units that moved ---------------------------------------------------------------------

    async def recode(self, old: str, new: str) -> None:
        """Moves every row at or under a code that moved to the new code: matters (unit, community, the proposer's
        household, the units a placement names), votes with their electorates and ballots, work orders and their feed,
        tasks a community is responsible for, department tasks and template choices.

        A matter's community is its unit's at the community's length: when a unit below a community moves (a grid to
        another community), the matter goes to the new community; the work orders sent from the first stay with it.
        """
        pattern = _like_prefix(old)
        # A household votes under its code. The open votes it is an elector of wait for their ballots in flight and hold
        # new ones back until the move commits: a ballot cast under the old code meanwhile would stay there, and the
        # household could vote again under the new one.
        open_votes = await self.session.scalars(
            select(Vote.vote_id).where(Vote.status == "open", Vote.vote_id.in_(
                select(VoteElector.vote_id).where(VoteElector.household_code.like(pattern)))).order_by(Vote.vote_id))
        for vote_id in open_votes.all():
            await self.lock_vote(vote_id, shared=False)
        # A vote that froze a household under both codes (the replica briefly knew it so) keeps both electors as frozen.
        other = aliased(VoteElector)
        key_taken = exists().where(other.vote_id == VoteElector.vote_id,
                                   other.voter_key == recoded(VoteElector.voter_key, new, old))
        household_key = and_(VoteElector.household_code.like(pattern), VoteElector.voter_key == VoteElector.household_code)
        moving_keys = select(VoteElector.vote_id, VoteElector.voter_key).where(household_key, ~key_taken)
        await self.session.execute(
            update(Ballot).where(tuple_(Ballot.vote_id, Ballot.voter_key).in_(moving_keys))
            .values(voter_key=recoded(Ballot.voter_key, new, old)).execution_options(synchronize_session=False))
        await self.session.execute(
            update(VoteElector).where(VoteElector.household_code.like(pattern), ~and_(household_key, key_taken))
            .values(household_code=recoded(VoteElector.household_code, new, old),
                    voter_key=case((VoteElector.voter_key == VoteElector.household_code,
                                    recoded(VoteElector.voter_key, new, old)), else_=VoteElector.voter_key))
            .execution_options(synchronize_session=False))
        await self.session.execute(
            update(Vote).where(Vote.scope_code.like(pattern)).values(scope_code=recoded(Vote.scope_code, new, old))
            .execution_options(synchronize_session=False))

        unit_moves = and_(Matter.unit_code.like(pattern),
                          func.left(Matter.unit_code, func.length(Matter.community_code)) == Matter.community_code)
        # An order stays with the community that sent it (to the department assigned to it, 部门包居), under that
        # community's code today; a matter that a unit's move takes into another community has had its open orders
        # cancelled (MattersService.unit_moved), as when it is placed there.
        await self.session.execute(
            update(WorkOrder).where(WorkOrder.community_code.like(pattern))
            .values(community_code=recoded(WorkOrder.community_code, new, old))
            .execution_options(synchronize_session=False))
        await self.session.execute(
            update(Matter).where(or_(Matter.community_code.like(pattern), Matter.unit_code.like(pattern)))
            .values(
                unit_code=case((Matter.unit_code.like(pattern), recoded(Matter.unit_code, new, old)),
                               else_=Matter.unit_code),
                community_code=case(
                    (Matter.community_code.like(pattern), recoded(Matter.community_code, new, old)),
                    (unit_moves, func.left(recoded(Matter.unit_code, new, old), func.length(Matter.community_code))),
                    else_=Matter.community_code),
            )
            .execution_options(synchronize_session=False))
        await self.session.execute(
            update(Matter).where(Matter.proposer_household_code.like(pattern))
            .values(proposer_household_code=recoded(Matter.proposer_household_code, new, old))
            .execution_options(synchronize_session=False))
        await self.session.execute(
            update(MeetingRequest).where(MeetingRequest.household_code.like(pattern))
            .values(household_code=recoded(MeetingRequest.household_code, new, old))
            .execution_options(synchronize_session=False))
        demanded_in = MatterTransition.details["community_code"].astext
        await self.session.execute(
            update(MatterTransition).where(MatterTransition.action == MEETING_DEMANDED, demanded_in.like(pattern))
            .values(details=func.jsonb_set(MatterTransition.details, literal_column("'{community_code}'"),
                                           func.to_jsonb(recoded(demanded_in, new, old))))
            .execution_options(synchronize_session=False))
        for key in ("from_unit_code", "to_unit_code"):  # a placement's timeline entry names the units
            placed = MatterTransition.details[key].astext
            await self.session.execute(
                update(MatterTransition).where(MatterTransition.action == Action.PLACE.value, placed.like(pattern))
                .values(details=func.jsonb_set(MatterTransition.details, literal_column(f"'{{{key}}}'"),
                                               func.to_jsonb(recoded(placed, new, old))))
                .execution_options(synchronize_session=False))

        await self.session.execute(
            update(WorkOrderChange).where(WorkOrderChange.community_code.like(pattern))
            .values(community_code=recoded(WorkOrderChange.community_code, new, old))
            .execution_options(synchronize_session=False))
        await self.session.execute(
            update(ImplementationTask)
            .where(ImplementationTask.responsible_kind == "community", ImplementationTask.responsible_code.like(pattern))
            .values(responsible_code=recoded(ImplementationTask.responsible_code, new, old))
            .execution_options(synchronize_session=False))
        await self.session.execute(
            update(DepartmentTask).where(DepartmentTask.community_code.like(pattern))
            .values(community_code=recoded(DepartmentTask.community_code, new, old))
            .execution_options(synchronize_session=False))
        # A template chosen under the new code was chosen after the move (codes are never reused): it stays.
        chosen = aliased(CommunityTemplate)
        await self.session.execute(
            delete(CommunityTemplate).where(
                CommunityTemplate.community_code.like(pattern),
                exists().where(chosen.community_code == recoded(CommunityTemplate.community_code, new, old)))
            .execution_options(synchronize_session=False))
        await self.session.execute(
            update(CommunityTemplate).where(CommunityTemplate.community_code.like(pattern))
            .values(community_code=recoded(CommunityTemplate.community_code, new, old))
            .execution_options(synchronize_session=False))


class CodeMoveRepository:
    """The moves of org units, as the registry replica recorded them (old code -> today's code).

    A use case that writes codes holds a shared transaction lock from its start, and a move takes it exclusively before
    re-coding: a row written under a code just before the move commits is either seen and re-coded by it, or written
    after it under the code `current` gives then; never left behind under the old one. (Ballots wait on their vote's
    lock instead, see MattersRepository.recode: voters do not all queue on one lock.)
    """

    LOCK = text("SELECT pg_advisory_xact_lock_shared(hashtext('matters.code_moves'))")
    EXCLUSIVE_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('matters.code_moves'))")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def hold(self) -> None:
        """Holds a move's re-coding back until this transaction ends. Taken before the transaction locks any row: a
        move holding the lock exclusively may be waiting for that row."""
        await (await driver_connection(self.session)).execute(self.LOCK.text)

    async def hold_current_of(self, codes: Iterable[str]) -> dict[str, str]:
        """hold() and then current_of(), in one round trip: the database function hold_code_moves (migration
        matters_0016) takes the same lock, then reads the moves in a snapshot of its own, taken once the lock is
        granted (a move that committed while this waited is read)."""
        codes = list(dict.fromkeys(codes))
        moves = dict(await (await driver_connection(self.session)).fetch(
            "SELECT old_code, new_code FROM hold_code_moves(CAST($1 AS text[]))", replica_kit.code_prefixes(codes)))
        return {code: today(code, moves) for code in codes}

    async def lock_for_move(self) -> None:
        """Waits for the writers holding codes, and holds new ones back until the move commits."""
        await self.session.execute(self.EXCLUSIVE_LOCK)

    async def current(self, code: str) -> str:
        """Returns the code a unit has today: a code at or under a unit that moved since is re-coded (a caller may name
        a unit by the code it had when the caller's token or form was made)."""
        return (await self.current_of([code]))[code]

    async def current_of(self, codes: Iterable[str]) -> dict[str, str]:
        """Returns the code each of several codes has today, in one look-up."""
        return await replica_kit.codes_today(await driver_connection(self.session), codes)

    async def all_moves(self) -> dict[str, str]:
        """Returns every recorded move, old code -> today's code."""
        return await replica_kit.all_moves(self.session)


    async def moves_into(self, code: str) -> list[tuple[str, str]]:
        """Returns every recorded move into a unit's code, longest old code first (see youmin.kit.replica.moves_into)."""
        return await replica_kit.moves_into(self.session, code)



today = replica_kit.code_today  # a code as it is today, given the recorded moves


class RecentMoves:
    """The recorded moves as read at most `ttl` seconds ago, for reading a token's scopes as today's codes without a
    look-up per request (moves are rare). A move is seen by readers within `ttl`; writes look codes up under the lock
    that holds moves back (CodeMoveRepository)."""

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self.read_at = float("-inf")
        self.moves: dict[str, str] = {}

    async def get(self, session: AsyncSession) -> dict[str, str]:
        """Returns the moves, read afresh when the last read is older than `ttl`."""
        if time.monotonic() - self.read_at > self.ttl:
            self.moves = await CodeMoveRepository(session).all_moves()
            self.read_at = time.monotonic()
        return self.moves
