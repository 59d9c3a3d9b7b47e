"""The gateway relays a request to its service as the client sent it (method, encoded path, query, the forwarded
headers, a UTF-8 value byte for byte, body) and the answer back (status, headers but the hop-by-hop ones, body); a
service that does not answer in time is a 504 problem, one that cannot be reached a 502."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI, Request, Response

from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.testing import InProcessServer, running

seen: list[dict] = []


def _upstream() -> FastAPI:
    app = FastAPI()

    @app.api_route("/api/v1/matters/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(path: str, request: Request) -> Response:
        if path == "slow":
            await asyncio.sleep(3)  # the gateway has given up by then; nothing is recorded
            return Response(status_code=204)
        seen.append({"method": request.method, "raw_path": request.scope["raw_path"],
                     "query": request.scope["query_string"], "headers": list(request.scope["headers"]),
                     "body": await request.body()})
        response = Response(b"\x00\xffanswer", status_code=207, media_type="application/octet-stream")
        response.raw_headers += [(b"x-upstream", "回答".encode("utf-8")), (b"set-cookie", b"s=1; Path=/"),
                                 (b"connection", b"keep-alive")]
        return response

    return app


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[str]:
    server = InProcessServer(_upstream(), free_port())
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


def _resident(app) -> dict[str, str]:
    return {"authorization": "Bearer " + mint_token(app.state.settings, "u", [Grant(role="resident", scope="370705001001")])}


async def test_a_request_and_its_answer_are_relayed_as_they_were_sent(make_gateway, upstream):
    app = make_gateway(matters_url=upstream)
    seen.clear()
    async with running(app) as client:
        user_agent = "巡查终端/2.1".encode("utf-8")
        resp = await client.post(
            "/api/v1/matters/%23x%3F/%25y", params=[("q", "1"), ("q", "二")], content=b"\x01\x02body",
            headers={**_resident(app), "content-type": "application/x-test", "user-agent": user_agent,
                     "x-not-forwarded": "1", "cookie": "c=1", "x-request-id": "relay-test-1", "accept": "application/json",
                     "accept-encoding": "gzip"})
        assert resp.status_code == 207, resp.text
        assert resp.content == b"\x00\xffanswer"
        answer_headers = dict(resp.headers.raw)
        assert answer_headers[b"x-upstream"] == "回答".encode("utf-8")
        assert answer_headers[b"set-cookie"] == b"s=1; Path=/"
        assert b"connection" not in answer_headers  # hop by hop: the service's connection, not the client's

        # A second call carries no cookie the first answer set: the shared client keeps none.
        await client.get("/api/v1/matters/again", headers=_resident(app))

    first, second = seen
    assert first["method"] == "POST"
    # "#x?" and "%y" stay inside their segments: percent-encoded again, not read as a fragment, a query or an escape.
    assert first["raw_path"] == b"/api/v1/matters/%23x%3F/%25y"
    assert first["query"] == "q=1&q=二".encode("utf-8").replace("二".encode("utf-8"), b"%E4%BA%8C")
    assert first["body"] == b"\x01\x02body"
    headers = dict(first["headers"])
    assert headers[b"user-agent"] == user_agent
    assert headers[b"content-type"] == b"application/x-test"
    assert headers[b"x-request-id"] == b"relay-test-1"
    assert b"x-forwarded-for" in headers
    assert b"x-not-forwarded" not in headers and b"cookie" not in headers
    assert headers[b"accept"] == b"application/json"
    # The gateway asks for no compression of its own: it relays bodies as they are.
    assert b"accept-encoding" not in headers
    assert b"cookie" not in dict(second["headers"])


async def test_a_service_that_does_not_answer_in_time_is_a_504_problem(make_gateway, upstream):
    app = make_gateway(matters_url=upstream, upstream_timeout_seconds=0.3)
    async with running(app) as client:
        resp = await client.get("/api/v1/matters/slow", headers=_resident(app))
    assert resp.status_code == 504, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"].endswith("/problems/upstream-timeout")


async def test_a_service_that_cannot_be_reached_is_a_502_problem(make_gateway):
    app = make_gateway(matters_url=f"http://127.0.0.1:{free_port()}")
    async with running(app) as client:
        resp = await client.post("/api/v1/matters/x", headers=_resident(app), json={})
    assert resp.status_code == 502, resp.text
    assert resp.json()["type"].endswith("/problems/upstream-unavailable")


async def test_the_relay_adds_no_header_the_client_did_not_send(make_gateway, upstream):
    app = make_gateway(matters_url=upstream)
    seen.clear()
    async with running(app) as client:
        request = client.build_request("POST", "/api/v1/matters/bare", content=b"raw", headers=_resident(app))
        for name in ("accept", "content-type", "user-agent", "accept-encoding"):
            request.headers.pop(name, None)
        resp = await client.send(request)
        assert resp.status_code == 207, resp.text
    headers = dict(seen[0]["headers"])
    assert seen[0]["body"] == b"raw"
    for name in (b"accept", b"content-type", b"user-agent", b"accept-encoding"):
        assert name not in headers, (name, headers)
