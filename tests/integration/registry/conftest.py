"""Fixtures of the registry's integration tests: the service in-process over the run's PostgreSQL and broker."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date

import asyncpg
import httpx
import pytest

from services.registry.app import create_app
from services.registry.settings import Settings
from youmin.kit.auth import Grant, mint_token
from youmin.kit.pii import id_check_char
from youmin.kit.relay import asyncpg_dsn
from youmin.testing import running

DISTRICT = "370705"
TREE_BEGAN = "2020-01-01"  # the district and streets the tests' communities (from 2026-01-01) are created under


@dataclass
class Registry:
    """The running registry: a client, its settings and token helpers."""

    client: httpx.AsyncClient
    settings: Settings
    app: object
    _used: set[str] = field(default_factory=set)
    _ensured: set[str] = field(default_factory=set)

    def token(self, role: str, scope: str, sub: str | None = None, kind: str = "user") -> str:
        return mint_token(self.settings, sub or f"test-{uuid.uuid4().hex[:8]}", [Grant(role=role, scope=scope)], kind=kind)

    def auth(self, role: str, scope: str, sub: str | None = None, kind: str = "user") -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(role, scope, sub, kind)}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.auth("admin", DISTRICT)

    async def create_unit(self, code: str, name: str, **kw) -> httpx.Response:
        return await self.client.post("/api/v1/registry/units", json={"code": code, "name": name, **kw},
                                      headers=self.admin)

    async def ensure_unit(self, code: str, name: str, effective_on: str | None = None) -> None:
        if code in self._ensured:
            return
        response = await self.create_unit(code, name, **({"effective_on": effective_on} if effective_on else {}))
        assert response.status_code in (201, 422), response.text
        if response.status_code == 422:
            assert response.json()["rule"] == "code.duplicate", response.text
            if effective_on:
                # Created earlier in the run without a date (tests of other services make the district and streets
                # today): a child dated before its parent began is refused, so the test tree above begins earlier.
                conn = await self.db()
                try:
                    await conn.execute("UPDATE org_unit SET effective_on = $2 WHERE code = $1 AND effective_on > $2",
                                       code, date.fromisoformat(effective_on))
                finally:
                    await conn.close()
        self._ensured.add(code)

    async def fresh_community(self) -> str:
        """Creates a community no other test uses (under a random street) and returns its code."""
        await self.ensure_unit(DISTRICT, "奎文区", effective_on=TREE_BEGAN)
        for _ in range(50):
            street = f"{DISTRICT}{random.randint(20, 99):03d}"
            # Segments 198 and 199 stay free: tests name them as communities that do not exist.
            community = f"{street}{random.randint(1, 197):03d}"
            if community in self._used:
                continue
            await self.ensure_unit(street, f"测试街道{street[-3:]}", effective_on=TREE_BEGAN)
            response = await self.create_unit(community, f"测试社区{community[-6:]}", effective_on="2026-01-01")
            if response.status_code == 201:
                self._used.add(community)
                return community
        raise AssertionError("no free community code")

    async def fresh_grid(self) -> str:
        community = await self.fresh_community()
        grid = f"{community}001"
        assert (await self.create_unit(grid, "第一网格", effective_on="2026-01-01")).status_code == 201
        return grid

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(self.settings.db_url()))


async def new_household(registry, grid: str, serial: str = "0101") -> str:
    """A household (with its building and unit) in a grid; one made already by an earlier test is taken as it is."""
    code = f"{grid}00101{serial}"
    for unit_code, name in ((grid + "001", "1号楼"), (grid + "00101", "1单元"), (code, serial)):
        response = await registry.create_unit(unit_code, name)
        assert response.status_code == 201 or (response.status_code == 422
                                               and response.json()["rule"] == "code.duplicate"), response.text
    return code


def registry_settings(infra, **overrides) -> Settings:
    return Settings(service_database_url=infra.database_url("registry"), kafka_bootstrap_servers=infra.bootstrap,
                    environment="test", relay_poll_seconds=0.1, **overrides)


@pytest.fixture(scope="session")
async def registry(infra) -> AsyncIterator[Registry]:
    settings = registry_settings(infra)
    app = create_app(settings)
    async with running(app) as client:
        yield Registry(client=client, settings=settings, app=app)


def new_id_number(adult: bool = True) -> str:
    """Returns a valid resident ID number (random, so tests do not collide)."""
    year = random.randint(1950, 2000) if adult else random.randint(2015, 2020)
    body = f"{random.choice(['370702', '370703', '370704', '370705'])}{year}{random.randint(1, 12):02d}" \
           f"{random.randint(1, 28):02d}{random.randint(0, 999):03d}"
    return body + id_check_char(body)


def new_phone() -> str:
    return f"1{random.choice('3456789')}{random.randint(0, 10**9 - 1):09d}"
