"""The kit's error handlers answer every error as problem+json, a defect's too, keeping what an HTTP error's headers
tell the client."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from youmin.kit.errors import install_error_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/broken")
    async def broken() -> dict:
        raise RuntimeError("a defect, with 张三's phone 13800000000 in its message")

    @app.get("/only-get")
    async def only_get() -> dict:
        return {}

    return app


async def test_an_unexpected_error_is_a_problem_json_500_that_does_not_echo_the_message():
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.get("/broken")
    assert resp.status_code == 500
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"].endswith("/problems/internal")
    assert "13800000000" not in resp.text and "张三" not in resp.text


async def test_a_405_keeps_its_allow_header():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as client:
        resp = await client.post("/only-get")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET"
    assert resp.headers["content-type"].startswith("application/problem+json")
