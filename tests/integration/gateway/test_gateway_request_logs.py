"""The request id reaches the structured log lines written while the gateway serves a request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

import gateway.auth
from gateway.auth import _issue
from gateway.registry_client import Identity
from youmin.kit.db import transaction
from youmin.kit.logging import get_logger
from youmin.testing import running


@contextmanager
def rendered_log_lines() -> Iterator[list[dict]]:
    """Records each structured log line as the configured pipeline renders it (JSON), still writing it as usual."""
    processors = structlog.get_config()["processors"]
    lines: list[dict] = []

    def record(_logger: object, _method: str, rendered: str) -> str:
        lines.append(json.loads(rendered))
        return rendered

    processors.append(record)
    try:
        yield lines
    finally:
        processors.remove(record)


class NobodyRegistry:
    """A registry that no longer knows anyone."""

    async def current(self, person_id: str, request_id: str | None = None) -> Identity | None:
        return None


async def test_log_lines_written_during_a_request_carry_its_request_id(make_gateway, monkeypatch):
    app = make_gateway()  # configures logging
    # A module logger first used under an earlier test's app keeps that app's pipeline; this test starts it afresh.
    monkeypatch.setattr(gateway.auth, "log", get_logger("gateway.auth"))
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    async with running(app) as client:
        app.state.registry = NobodyRegistry()
        identity = Identity(person_id=str(uuid.uuid4()), grants=[])
        async with transaction(app.state.sessions) as session:
            pair = await _issue(session, app.state.settings, identity)
        with rendered_log_lines() as lines:
            resp = await client.post("/auth/refresh", json={"refresh_token": pair.refresh_token},
                                     headers={"x-request-id": request_id})
    assert resp.status_code == 401
    assert resp.headers["x-request-id"] == request_id
    # The line the auth code writes carries the id without being handed it; so does the access line.
    refused = [line for line in lines if line["event"] == "auth.refresh_person_unknown"]
    access = [line for line in lines if line["event"] == "http.request" and line["path"] == "/auth/refresh"]
    assert [line["request_id"] for line in refused] == [request_id]
    assert [line["request_id"] for line in access] == [request_id]
    assert refused[0]["person_id"] == identity.person_id and refused[0]["level"] == "warning"


async def test_a_request_the_guard_refuses_is_logged_and_counted_with_its_request_id(make_gateway):
    from prometheus_client import REGISTRY

    app = make_gateway(rate_limit_ip_capacity=1, rate_limit_ip_per_second=0.01)

    def refused_count() -> float:
        return REGISTRY.get_sample_value("youmin_http_request_seconds_count", {
            "service": "gateway", "method": "GET", "route": "unmatched", "status": "429"}) or 0.0

    before = refused_count()
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    async with running(app) as client:
        await client.get("/open311/v2/services.json")
        with rendered_log_lines() as lines:
            resp = await client.get("/open311/v2/services.json", headers={"x-request-id": request_id})
    assert resp.status_code == 429
    assert resp.headers.get_list("x-request-id") == [request_id]  # one header, the caller's id
    access = [line for line in lines if line["event"] == "http.request"]
    assert [(line["request_id"], line["status"], line["path"]) for line in access] == [
        (request_id, 429, "/open311/v2/services.json")]
    assert refused_count() == before + 1


def test_a_vote_receipt_is_left_out_of_the_access_log():
    from youmin.kit.service import loggable_path

    assert loggable_path("/api/v1/matters/votes/0b4c/receipts/Q2xhaW1lZA") == "/api/v1/matters/votes/0b4c/receipts/…"
    assert loggable_path("/api/v1/matters/votes/0b4c/ballots") == "/api/v1/matters/votes/0b4c/ballots"
