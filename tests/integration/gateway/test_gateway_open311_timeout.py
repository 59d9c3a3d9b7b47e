"""An Open311 POST whose matter the matters service raised but answered for only after the gateway gave up on it
answers 201 for that matter (found by the token the gateway gave it), so the client has no reason to raise it again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from gateway import apikeys
from youmin.infra import free_port
from youmin.kit.db import transaction
from youmin.testing import InProcessServer, eventually, running


class SlowMatters:
    """A matters service that raises (commits) each matter at once, or not at all, and answers only when released."""

    def __init__(self) -> None:
        self.by_token: dict[str, dict] = {}
        self.raises = True
        self.commits_on_release = False
        self.released = asyncio.Event()
        app = FastAPI()

        @app.post("/api/v1/matters/")
        async def raise_matter(request: Request) -> Response:
            body = await request.json()
            matter = {"matter_id": str(uuid.uuid4()), "external_token": body["external_token"], "state": "raised"}
            if self.raises:
                self.by_token[matter["external_token"]] = matter
            # The gateway has given up long before this (its upstream timeout is 0.3 s).
            await asyncio.wait_for(self.released.wait(), 10)
            if self.commits_on_release:
                self.by_token[matter["external_token"]] = matter
            return JSONResponse(matter, status_code=201)

        @app.get("/api/v1/matters/by-token/{token}")
        async def by_token(token: str) -> Response:
            matter = self.by_token.get(token)
            if matter is None:
                return JSONResponse({"detail": f"no matter with token {token}"}, status_code=404)
            return JSONResponse({"matter_id": matter["matter_id"], "external_token": token, "status": "open"})

        self.server = InProcessServer(app, free_port())


@pytest.fixture
async def matters() -> AsyncIterator[SlowMatters]:
    fake = SlowMatters()
    await fake.server.start()
    try:
        yield fake
    finally:
        fake.released.set()
        await fake.server.stop()


async def _post(app, client) -> object:
    async with transaction(app.state.sessions) as session:
        key = await apikeys.create_key(session, f"dept-{uuid.uuid4().hex[:8]}")
    return await client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "public_safety", "description": "井盖缺失", "address_id": "370705001001"})


async def test_a_create_answered_after_the_timeout_is_a_201_for_the_matter_it_raised(make_gateway, matters):
    app = make_gateway(matters_url=matters.server.url, upstream_timeout_seconds=0.3)
    async with running(app) as client:
        resp = await _post(app, client)
    assert resp.status_code == 201, resp.text
    [created] = resp.json()
    [matter] = matters.by_token.values()  # exactly one matter exists
    assert created["token"] == matter["external_token"]
    assert created["service_request_id"] == matter["matter_id"]


async def test_a_create_that_timed_out_before_raising_a_matter_stays_a_504_naming_its_token(make_gateway, matters):
    matters.raises = False
    app = make_gateway(matters_url=matters.server.url, upstream_timeout_seconds=0.3)
    async with running(app) as client:
        resp = await _post(app, client)
    assert resp.status_code == 504, resp.text
    [error] = resp.json()
    assert error["code"] == 504 and "GET /open311/v2/tokens/" in error["description"]
    assert matters.by_token == {}


async def test_a_create_committed_after_the_gateway_gave_up_is_found_by_the_token_its_504_named(make_gateway, matters):
    # As the matters service does: it commits just before it answers, so when the gateway gives up the matter is
    # not there yet. The 504 names the token; asked for by it, the request is found once the service is done.
    matters.raises = False
    matters.commits_on_release = True
    app = make_gateway(matters_url=matters.server.url, upstream_timeout_seconds=0.3)
    async with running(app) as client:
        resp = await _post(app, client)
        assert resp.status_code == 504, resp.text
        token = resp.json()[0]["description"].split("under token ")[1].split(":")[0]
        matters.released.set()


        async def found():
            answer = await client.get(f"/open311/v2/tokens/{token}.json")
            return answer if answer.status_code == 200 else None

        answer = await eventually(found, timeout=10)
    [matter] = matters.by_token.values()  # one matter, found by its token: nothing to send again
    assert answer.json()[0]["service_request_id"] == matter["matter_id"]


async def test_a_create_that_could_not_reach_the_matters_service_stays_a_502(make_gateway):
    app = make_gateway(matters_url=f"http://127.0.0.1:{free_port()}")
    async with running(app) as client:
        resp = await _post(app, client)
    assert resp.status_code == 502, resp.text
    assert resp.json()[0]["code"] == 502
