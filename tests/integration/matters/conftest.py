"""Fixtures of the matters service's integration tests: one running app, a controllable clock, fresh org codes."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import text

from services.matters.app import create_app
from services.matters.settings import Settings
from services.registry import events as reg
from youmin.kit import replica
from youmin.kit.auth import Grant, mint_token
from youmin.kit.db import transaction
from youmin.kit.events import Envelope, Event, decode_record
from youmin.testing import running

TODAY = date(2026, 11, 28)


@dataclass
class Clock:
    """The service's clock in tests: set it, no sleeping."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class MattersHarness:
    app: object
    client: httpx.AsyncClient
    settings: Settings

    def token(self, sub: str, grants: list[tuple[str, str]], *, kind: str = "user", department: str | None = None) -> str:
        return mint_token(self.settings, sub, [Grant(role=r, scope=s) for r, s in grants], kind=kind, department=department)

    def headers(self, sub: str, grants: list[tuple[str, str]], **kw) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(sub, grants, **kw)}"}

    def staff(self, scope: str, sub: str | None = None) -> dict[str, str]:
        return self.headers(sub or f"staff-{uuid.uuid4().hex[:6]}", [("community_staff", scope)])

    def resident(self, person_id: str, household_code: str) -> dict[str, str]:
        return self.headers(person_id, [("resident", household_code)])

    def department(self, code: str) -> dict[str, str]:
        return self.headers(f"dept-{code}", [], kind="department", department=code)

    async def seed(self, *events: Event) -> None:
        """Applies registry events to the replica directly, in one transaction (pure setup)."""
        async with transaction(self.app.state.sessions) as session:
            for event in events:
                env = Envelope.of(event)
                await replica.apply(session, decode_record(env.headers(), env.key.encode(), env.value()))

    async def sql(self, query: str, **params) -> list:
        async with transaction(self.app.state.sessions) as session:
            return list(await session.execute(text(query), params))

    new_community = staticmethod(lambda: new_community())
    household = staticmethod(lambda community, n: household(community, n))
    households_events = staticmethod(lambda *a, **kw: households_events(*a, **kw))

    async def raise_matter(self, community: str, *, title: str = "小区东门路灯不亮", unit_code: str | None = None,
                           category: str = "city_management", **extra) -> dict:
        """Raises a matter as community staff recording a visit; returns the response body."""
        body = {"title": title, "description": "居民反映夜间出行不便", "category": category,
                "unit_code": unit_code or community, **extra}
        resp = await self.client.post("/api/v1/matters/", json=body, headers=self.staff(community))
        assert resp.status_code == 201, resp.text
        return resp.json()

    async def move(self, matter_id: str, scope: str, *actions: str | dict) -> dict:
        """Applies transitions as staff, failing on any refusal."""
        body = None
        for action in actions:
            payload = action if isinstance(action, dict) else {"action": action}
            resp = await self.client.post(f"/api/v1/matters/{matter_id}/transitions", json=payload, headers=self.staff(scope))
            assert resp.status_code == 200, resp.text
            body = resp.json()
        return body

    async def events_of(self, key: str) -> list[tuple[str, dict]]:
        """The outbox rows keyed by an aggregate id, in order: (type, data)."""
        rows = await self.sql("SELECT type, data FROM outbox_event WHERE key = :k ORDER BY id", k=key)
        return [(r.type, r.data) for r in rows]


def new_community() -> str:
    """A fresh 12-digit community code (the database is shared by the whole test run)."""
    return f"370705{random.randrange(10**6):06d}"


def household(community: str, n: int) -> str:
    """The nth household of a community: grid 001, building 001, unit 01, household n."""
    return f"{community}00100101{n:04d}"


@dataclass
class Household:
    code: str
    representative: str
    members: list[str]


def households_events(community: str, count: int, *, adults_each: int = 1, start: int = 1) -> tuple[list[Household], list[Event]]:
    """Builds `count` households with a representative and `adults_each` adults each."""
    made, events = [], []
    for n in range(start, start + count):
        code = household(community, n)
        members = [str(uuid.uuid4()) for _ in range(adults_each)]
        for person in members:
            events.append(reg.ResidencyChanged(person_id=person, household_code=code, adult=True, effective_on=TODAY))
        events.append(reg.HouseholdRepresentativeSet(household_code=code, representative_person_id=members[0],
                                                     proxy_person_ids=[], effective_on=TODAY))
        made.append(Household(code, members[0], members))
    return made, events


@pytest.fixture(scope="session")
async def matters(infra) -> AsyncIterator[MattersHarness]:
    # moves_read_seconds=0: a test reads tokens' scopes with the moves it has just sent.
    settings = Settings(service_database_url=infra.database_url("matters"), kafka_bootstrap_servers=infra.bootstrap,
                        moves_read_seconds=0,
                        environment="test", relay_poll_seconds=0.1, sweep_enabled=False, consumer_stall_seconds=30)
    app = create_app(settings)
    async with running(app) as client:
        yield MattersHarness(app=app, client=client, settings=settings)


@pytest.fixture
def clock(matters: MattersHarness) -> Iterable[Clock]:
    """Replaces the service's clock for one test."""
    original = matters.app.state.clock
    fake = Clock()
    matters.app.state.clock = fake
    yield fake
    matters.app.state.clock = original


