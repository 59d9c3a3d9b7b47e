"""Refresh-token rotation, reuse detection and log-out, against the gateway's own database."""

from __future__ import annotations

import uuid

import pytest

from gateway.auth import _issue
from gateway.registry_client import Identity
from youmin.kit.auth import Grant, decode_token
from youmin.kit.db import transaction

RESIDENT = Grant(role="resident", scope="370705001001001")


class StubRegistry:
    """Stands in for the registry's grants look-up: answers with the grants each known person holds now."""

    def __init__(self) -> None:
        self.grants: dict[str, list[Grant]] = {}

    async def current(self, person_id: str, request_id: str | None = None) -> Identity | None:
        grants = self.grants.get(person_id)
        return None if grants is None else Identity(person_id=person_id, grants=grants)


@pytest.fixture(autouse=True)
def registry(gateway_app) -> StubRegistry:
    gateway_app.state.registry = stub = StubRegistry()
    return stub


async def _log_in(app, person_id: str) -> dict:
    """Starts a log-in family the way /auth/login does once the registry has vouched for the person."""
    identity = Identity(person_id=person_id, grants=[RESIDENT])
    app.state.registry.grants[person_id] = [RESIDENT]
    async with transaction(app.state.sessions) as session:
        pair = await _issue(session, app.state.settings, identity)
    return pair.model_dump()


async def test_refresh_returns_a_new_pair_with_the_same_grants(gateway_app):
    client = gateway_app.state.test_client
    first = await _log_in(gateway_app, f"p-{uuid.uuid4().hex[:8]}")
    resp = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert resp.status_code == 200, resp.text
    second = resp.json()
    assert second["refresh_token"] != first["refresh_token"]
    principal = decode_token(gateway_app.state.settings, second["access_token"])
    assert principal.sub == first["person_id"]
    assert [g.model_dump() for g in principal.grants] == [{"role": "resident", "scope": "370705001001001"}]
    assert resp.headers["cache-control"] == "no-store"


async def test_reusing_a_used_refresh_token_revokes_the_whole_family(gateway_app):
    client = gateway_app.state.test_client
    first = await _log_in(gateway_app, f"p-{uuid.uuid4().hex[:8]}")
    second = (await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    reuse = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json()["type"] == "/problems/refresh-token-reused"
    # The thief's replay also kills the legitimate holder's newer token.
    after = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401


async def test_another_log_in_family_survives_a_reuse(gateway_app):
    client = gateway_app.state.test_client
    person = f"p-{uuid.uuid4().hex[:8]}"
    phone_a, phone_b = await _log_in(gateway_app, person), await _log_in(gateway_app, person)
    await client.post("/auth/refresh", json={"refresh_token": phone_a["refresh_token"]})
    await client.post("/auth/refresh", json={"refresh_token": phone_a["refresh_token"]})
    resp = await client.post("/auth/refresh", json={"refresh_token": phone_b["refresh_token"]})
    assert resp.status_code == 200


async def test_logout_revokes_the_family(gateway_app):
    client = gateway_app.state.test_client
    first = await _log_in(gateway_app, f"p-{uuid.uuid4().hex[:8]}")
    resp = await client.post("/auth/logout", json={"refresh_token": first["refresh_token"]})
    assert resp.status_code == 204
    assert (await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).status_code == 401


async def test_unknown_refresh_token_is_refused_as_problem_json(gateway_app):
    resp = await gateway_app.state.test_client.post("/auth/refresh", json={"refresh_token": "x" * 43})
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_login_with_malformed_phone_names_the_field(gateway_app):
    resp = await gateway_app.state.test_client.post("/auth/login", json={"phone": "12345", "password": "x"})
    assert resp.status_code == 422
    assert any(e["field"] == "phone" for e in resp.json()["errors"])


async def test_a_password_longer_than_the_registry_keeps_is_a_422_naming_it_not_a_failed_log_in(gateway_app):
    # The registry takes passwords of up to 200 characters: a longer one would be refused there and counted here as a
    # wrong password, towards the phone's lock-out.
    resp = await gateway_app.state.test_client.post("/auth/login", json={"phone": "13800000009", "password": "x" * 201})
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["password"]


async def test_a_log_out_during_a_refresh_also_revokes_the_token_that_refresh_issues(gateway_app, registry):
    import asyncio

    client = gateway_app.state.test_client
    person = f"p-{uuid.uuid4().hex[:8]}"
    first = await _log_in(gateway_app, person)
    entered, release = asyncio.Event(), asyncio.Event()
    plain = registry.current

    async def slow_current(person_id: str, request_id: str | None = None):
        entered.set()
        await release.wait()  # the registry answers slowly: the refresh holds its transaction open meanwhile
        return await plain(person_id, request_id)

    registry.current = slow_current
    refreshing = asyncio.create_task(client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}))
    await entered.wait()
    logging_out = asyncio.create_task(client.post("/auth/logout", json={"refresh_token": first["refresh_token"]}))
    await asyncio.sleep(0.3)  # the log-out waits for the refresh of the same log-in
    assert not logging_out.done()
    release.set()
    refreshed, logged_out = await refreshing, await logging_out
    registry.current = plain
    assert refreshed.status_code == 200 and logged_out.status_code == 204
    again = await client.post("/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert again.status_code == 401
