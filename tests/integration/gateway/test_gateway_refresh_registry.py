"""A refresh re-reads the person's roles from the registry (running in the test), and access tokens expire on time."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from fastapi import FastAPI, Response
from sqlalchemy import select

from gateway.auth import _issue
from gateway.models import RefreshToken
from gateway.registry_client import Identity
from services.registry.app import create_app as create_registry
from services.registry.settings import Settings as RegistrySettings
from youmin.infra import free_port
from youmin.kit.auth import Grant, decode_token, mint_token
from youmin.kit.db import transaction
from youmin.kit.errors import install_error_handlers
from youmin.kit.pii import id_check_char
from youmin.testing import InProcessServer, running

DISTRICT = "370705"
API = "/api/v1/registry"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
async def registry(infra) -> AsyncIterator[httpx.AsyncClient]:
    """The registry served on a loopback port; yields a client for it."""
    settings = RegistrySettings(service_database_url=infra.database_url("registry"), kafka_bootstrap_servers=infra.bootstrap,
                                environment="test", relay_enabled=False, consumers_enabled=False)
    server = InProcessServer(create_registry(settings), free_port())
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            yield client
    finally:
        await server.stop()


def _auth(settings, role: str, scope: str, kind: str = "user") -> dict[str, str]:
    return {"authorization": f"Bearer {mint_token(settings, 'test-admin', [Grant(role=role, scope=scope)], kind=kind)}"}


def _id_number() -> str:
    body = f"{DISTRICT}{random.randint(1950, 2000)}{random.randint(1, 12):02d}{random.randint(1, 28):02d}" \
           f"{random.randint(0, 999):03d}"
    return body + id_check_char(body)


async def _ensure_unit(registry: httpx.AsyncClient, admin: dict, code: str, name: str) -> None:
    resp = await registry.post(f"{API}/units", json={"code": code, "name": name}, headers=admin)
    assert resp.status_code == 201 or resp.json().get("rule") == "code.duplicate", resp.text


async def _staff_member(registry: httpx.AsyncClient, settings) -> tuple[str, str, str, dict[str, str]]:
    """Registers a person with a password and two roles at a street; returns phone, person id, street, grant ids."""
    admin = _auth(settings, "admin", DISTRICT)
    street = f"{DISTRICT}{random.randint(20, 99):03d}"
    await _ensure_unit(registry, admin, DISTRICT, "奎文区")
    await _ensure_unit(registry, admin, street, f"测试街道{street[-3:]}")
    phone = f"139{random.randint(0, 10**8 - 1):08d}"
    resp = await registry.post(f"{API}/people", json={"name": "测试干部", "id_number": _id_number(), "phone": phone},
                               headers=admin)
    assert resp.status_code == 201, resp.text
    person_id = resp.json()["person_id"]
    resp = await registry.put("/internal/v1/registry/credentials", json={"person_id": person_id, "password": PASSWORD},
                              headers=_auth(settings, "gateway", DISTRICT, kind="service"))
    assert resp.status_code == 204, resp.text
    grant_ids = {}
    for role in ("street_staff", "mediator"):
        resp = await registry.post(f"{API}/grants", json={"person_id": person_id, "role": role, "scope_code": street},
                                   headers=admin)
        assert resp.status_code == 201, resp.text
        grant_ids[role] = resp.json()["grant_id"]
    return phone, person_id, street, grant_ids


def _grants(settings, access_token: str) -> list[tuple[str, str]]:
    return sorted((g.role, g.scope) for g in decode_token(settings, access_token).grants)


async def test_refresh_after_a_role_is_revoked_in_the_registry_drops_that_role(registry, make_gateway):
    app = make_gateway(registry_url=str(registry.base_url).rstrip("/"))
    async with running(app) as client:
        settings = app.state.settings
        phone, person_id, street, grant_ids = await _staff_member(registry, settings)
        login = await client.post("/auth/login", json={"phone": phone, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert _grants(settings, login.json()["access_token"]) == [("mediator", street), ("street_staff", street)]

        revoked = await registry.post(f"{API}/grants/{grant_ids['street_staff']}/revoke",
                                      headers=_auth(settings, "admin", DISTRICT))
        assert revoked.status_code == 200, revoked.text

        refreshed = await client.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["person_id"] == person_id
        assert _grants(settings, refreshed.json()["access_token"]) == [("mediator", street)]


async def test_refresh_for_a_person_the_registry_does_not_know_is_401_and_ends_the_log_in(registry, make_gateway):
    app = make_gateway(registry_url=str(registry.base_url).rstrip("/"))
    async with running(app) as client:
        # A log-in family for a person id the registry has no record of.
        identity = Identity(person_id=str(uuid.uuid4()), grants=[Grant(role="street_staff", scope="370705001")])
        async with transaction(app.state.sessions) as session:
            pair = await _issue(session, app.state.settings, identity)
        resp = await client.post("/auth/refresh", json={"refresh_token": pair.refresh_token})
        assert resp.status_code == 401
        assert resp.headers["content-type"].startswith("application/problem+json")
        async with transaction(app.state.sessions) as session:
            family = (await session.scalars(select(RefreshToken).where(RefreshToken.person_id == identity.person_id))).all()
        assert family and all(t.revoked_at is not None for t in family)


async def test_refresh_while_the_registry_is_unreachable_is_503_and_keeps_the_token_usable(make_gateway):
    app = make_gateway()  # the registry URL points at a closed port
    async with running(app) as client:
        identity = Identity(person_id=str(uuid.uuid4()), grants=[])
        async with transaction(app.state.sessions) as session:
            pair = await _issue(session, app.state.settings, identity)
        down = await client.post("/auth/refresh", json={"refresh_token": pair.refresh_token})
        assert down.status_code == 503
        async with transaction(app.state.sessions) as session:
            token = (await session.scalars(select(RefreshToken).where(RefreshToken.person_id == identity.person_id))).one()
        assert token.used_at is None and token.revoked_at is None


def _registry_without_the_grants_route() -> FastAPI:
    """An older registry: it renders errors as problem+json but has no internal grants route."""
    app = FastAPI()
    install_error_handlers(app)
    return app


def _upstream_answering_404(media_type: str, body: str) -> FastAPI:
    """A proxy (or other upstream) answering 404 to every path."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT"])
    async def anything(path: str) -> Response:
        return Response(body, status_code=404, media_type=media_type)

    return app


@pytest.mark.parametrize("upstream", [
    _registry_without_the_grants_route,
    lambda: _upstream_answering_404("text/html", "<html><body><h1>404 Not Found</h1></body></html>"),
    lambda: _upstream_answering_404("application/problem+json",
                                    '{"type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "x"}'),
], ids=["older-registry", "proxy-html", "other-problem-type"])
async def test_refresh_answered_by_a_404_that_is_not_person_unknown_is_503_and_keeps_the_token_usable(upstream, make_gateway):
    server = InProcessServer(upstream(), free_port())
    await server.start()
    try:
        app = make_gateway(registry_url=server.url)
        async with running(app) as client:
            identity = Identity(person_id=str(uuid.uuid4()), grants=[])
            async with transaction(app.state.sessions) as session:
                pair = await _issue(session, app.state.settings, identity)
            resp = await client.post("/auth/refresh", json={"refresh_token": pair.refresh_token})
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"].startswith("application/problem+json")
            async with transaction(app.state.sessions) as session:
                token = (await session.scalars(select(RefreshToken).where(RefreshToken.person_id == identity.person_id))).one()
            assert token.used_at is None and token.revoked_at is None
    finally:
        await server.stop()


async def test_access_token_lives_for_the_configured_minutes(registry, make_gateway):
    app = make_gateway(registry_url=str(registry.base_url).rstrip("/"), access_token_minutes=7)
    async with running(app) as client:
        phone, *_ = await _staff_member(registry, app.state.settings)
        login = await client.post("/auth/login", json={"phone": phone, "password": PASSWORD})
        assert login.status_code == 200, login.text
        refreshed = await client.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
    for pair in (login.json(), refreshed.json()):
        claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 7 * 60
        assert pair["expires_in"] == 7 * 60
