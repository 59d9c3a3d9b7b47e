"""The body-size limit holds for chunked uploads (no Content-Length), on proxied routes and the gateway's own."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI, Request

from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.testing import InProcessServer, running

LIMIT = 1000
CHUNK = 100


class Chunks:
    """A chunked request body of `count` chunks that records how many of them the gateway pulled."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pulled = 0
        self.data = bytes(range(256)) * (count * CHUNK // 256 + 1)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(self.count):
            self.pulled += 1
            yield self.data[i * CHUNK:(i + 1) * CHUNK]

    @property
    def body(self) -> bytes:
        return self.data[:self.count * CHUNK]


@pytest.fixture(scope="module")
async def echo() -> AsyncIterator[tuple[str, list[dict]]]:
    """A stand-in registry that records each body it receives; yields its URL and the record."""
    received: list[dict] = []
    app = FastAPI()

    @app.api_route("/api/v1/registry/echo", methods=["GET", "POST"])
    async def echo_body(request: Request) -> dict:
        body = await request.body()
        received.append({"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()})
        return received[-1]

    server = InProcessServer(app, free_port())
    await server.start()
    try:
        yield server.url, received
    finally:
        await server.stop()


def _bearer(app) -> dict[str, str]:
    token = mint_token(app.state.settings, "uploader", [Grant(role="resident", scope="370705001001001")])
    return {"authorization": f"Bearer {token}", "content-type": "application/octet-stream"}


async def test_chunked_upload_over_the_limit_is_refused_with_413_before_reaching_the_service(echo, make_gateway):
    url, received = echo
    app = make_gateway(registry_url=url, max_body_bytes=LIMIT)
    body = Chunks(100)
    async with running(app) as client:
        resp = await client.post("/api/v1/registry/echo", content=body, headers=_bearer(app))
    assert resp.request.headers.get("transfer-encoding") == "chunked" and "content-length" not in resp.request.headers
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"] == "/problems/payload-too-large"
    # Reading stopped at the chunk that passed the limit; the service saw nothing.
    assert body.pulled == LIMIT // CHUNK + 1
    assert received == []


async def test_chunked_upload_over_the_limit_to_a_gateway_route_is_refused_with_413(make_gateway):
    app = make_gateway(max_body_bytes=LIMIT)
    body = Chunks(100)
    async with running(app) as client:
        resp = await client.post("/auth/login", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["type"] == "/problems/payload-too-large"
    assert body.pulled == LIMIT // CHUNK + 1


async def test_chunked_upload_within_the_limit_reaches_the_service_intact(echo, make_gateway):
    url, received = echo
    app = make_gateway(registry_url=url, max_body_bytes=LIMIT)
    body = Chunks(LIMIT // CHUNK)
    async with running(app) as client:
        resp = await client.post("/api/v1/registry/echo", content=body, headers=_bearer(app))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"bytes": LIMIT, "sha256": hashlib.sha256(body.body).hexdigest()}


async def test_chunked_body_within_the_limit_is_parsed_by_a_gateway_route(make_gateway):
    app = make_gateway(max_body_bytes=LIMIT)

    async def login_body() -> AsyncIterator[bytes]:
        yield b'{"phone": "12345", '
        yield b'"password": "x"}'

    async with running(app) as client:
        resp = await client.post("/auth/login", content=login_body(), headers={"content-type": "application/json"})
    # The route saw the whole JSON document: it names the one invalid field.
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["phone"]


async def test_a_get_body_is_neither_read_past_the_limit_nor_sent_on(echo, make_gateway):
    url, received = echo
    app = make_gateway(registry_url=url, max_body_bytes=LIMIT)
    body = Chunks(100)
    async with running(app) as client:
        resp = await client.request("GET", "/api/v1/registry/echo", content=body, headers=_bearer(app))
    assert resp.status_code == 200, resp.text
    assert resp.json()["bytes"] == 0  # the service got the GET without the body
    assert body.pulled <= LIMIT // CHUNK + 1


async def test_an_overlong_url_is_a_414_not_a_500_and_reaches_no_service(echo, make_gateway):
    url, received = echo
    app = make_gateway(registry_url=url)
    before = len(received)
    async with running(app) as client:
        for target in ("/api/v1/registry/echo?q=" + "长" * 5_000, "/public/v1/items?unit=370705&q=" + "x" * 60_000,
                       "/api/v1/registry/" + "a/" * 5000):
            resp = await client.get(target, headers=_bearer(app))
            assert resp.status_code == 414 and resp.headers["content-type"] == "application/problem+json", resp.text
        ok = await client.get("/api/v1/registry/echo?q=" + "x" * 1000, headers=_bearer(app))
        assert ok.status_code == 200
    assert len(received) == before + 1


async def test_two_authorization_headers_are_refused_naming_the_header(echo, make_gateway):
    url, received = echo
    app = make_gateway(registry_url=url)
    before = len(received)
    other = mint_token(app.state.settings, "someone-else", [Grant(role="district_staff", scope="370705")])
    async with running(app) as client:
        resp = await client.get("/api/v1/registry/echo", headers=[("authorization", _bearer(app)["authorization"]),
                                                                  ("authorization", f"Bearer {other}")])
    assert resp.status_code == 400 and resp.json()["field"] == "authorization", resp.text
    assert len(received) == before
