"""The mediation service against the run's real PostgreSQL and broker, with a clock the tests move."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.mediation.app import create_app
from services.mediation.service import SweepReport, sweep
from services.mediation.settings import Settings
from youmin.kit import replica
from youmin.kit.auth import Grant, mint_token
from youmin.kit.db import transaction
from youmin.testing import running

from mediation_places import Place, cloud_event, fresh_place, registry_events


class Clock:
    """A clock the test sets and moves; the service reads it instead of the wall clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Harness:
    """The running service, its clock and helpers to act as people."""

    app: Any
    client: httpx.AsyncClient
    clock: Clock

    def token(self, sub: str, *grants: tuple[str, str]) -> dict[str, str]:
        token = mint_token(self.app.state.settings, sub, [Grant(role=r, scope=s) for r, s in grants])
        return {"authorization": f"Bearer {token}"}

    def staff(self, role: str, scope: str) -> dict[str, str]:
        return self.token(f"staff-{uuid.uuid4().hex[:8]}", (role, scope))

    def mediator(self, person_id: str, scope: str) -> dict[str, str]:
        return self.token(person_id, ("mediator", scope))

    async def place(self) -> Place:
        """Builds a fresh place straight into the replica (pure setup, no broker)."""
        place = fresh_place()
        async with transaction(self.app.state.sessions) as session:
            for event in registry_events(place):
                await replica.apply(session, cloud_event(event))
        return place

    async def sweep(self, now: datetime | None = None) -> SweepReport:
        """Runs the escalation sweep at the given (or the clock's) time until nothing more is due."""
        total = SweepReport()
        while True:
            async with transaction(self.app.state.sessions) as session:
                report = await sweep(session, now or self.clock(), self.app.state.mediation, batch_size=200)
            for key, value in vars(report).items():
                setattr(total, key, getattr(total, key) + value)
            if report.examined < 200:
                return total

    async def open_case(self, place: Place, headers: dict[str, str] | None = None, **overrides: Any) -> dict:
        body = {
            "place_code": place.grid, "dispute_type": "neighbour",
            "description": "楼上漏水，张三与李四协商未果。",
            "parties": [{"person_id": place.residents["a"], "role": "applicant"},
                        {"person_id": place.residents["b"], "role": "respondent"}],
            **overrides,
        }
        resp = await self.client.post("/api/v1/mediation/cases", json=body,
                                      headers=headers or self.staff("grid_manager", place.grid))
        assert resp.status_code == 201, resp.text
        return resp.json()

    async def get(self, case_id: str, headers: dict[str, str]) -> httpx.Response:
        return await self.client.get(f"/api/v1/mediation/cases/{case_id}", headers=headers)

    async def post(self, case_id: str, action: str, body: dict | None, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(f"/api/v1/mediation/cases/{case_id}/{action}", json=body, headers=headers)

    @staticmethod
    def assent(case: dict) -> dict:
        """What an agreement records besides its terms: every party's assent (or signature) and the mediator's."""
        return {"signed_party_ids": [p["party_id"] for p in case["parties"]], "mediator_signed": True}

    async def consent_all(self, case: dict, headers: dict[str, str]) -> dict:
        resp = None
        for party in case["parties"]:
            resp = await self.post(case["id"], "consents", {"party_id": party["party_id"], "decision": "given"}, headers)
            assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
async def harness(infra) -> AsyncIterator[Harness]:
    clock = Clock()
    settings = Settings(service_database_url=infra.database_url("mediation"), kafka_bootstrap_servers=infra.bootstrap,
                        environment="test", relay_poll_seconds=0.1, sweep_enabled=False, consumer_stall_seconds=30)
    app = create_app(settings, clock=clock)
    async with running(app) as client:
        yield Harness(app=app, client=client, clock=clock)


@pytest.fixture
async def h(harness: Harness) -> Harness:
    harness.clock.set(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    return harness
