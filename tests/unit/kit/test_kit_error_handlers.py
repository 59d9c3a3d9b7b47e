"""The kit's error handlers answer every error as problem+json, a defect's too, keeping what an HTTP error's headers
tell the client."""

from __future__ import annotations

import asyncio

import httpx
import structlog
from fastapi import FastAPI
from fastapi.exceptions import ResponseValidationError
from pydantic import BaseModel
from structlog.testing import capture_logs

from youmin.kit import errors as errors_module
from youmin.kit.errors import describe_error, describe_trace, install_error_handlers
from youmin.kit.service import install_request_context


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


class Resident(BaseModel):
    name: str
    phone: str
    age: int


def _app_with_request_context() -> FastAPI:
    """An app with the kit's handlers and request context, installed in the order the service factory does."""
    app = FastAPI()
    install_error_handlers(app)
    install_request_context(app, "test")

    @app.get("/resident", response_model=Resident)
    async def resident() -> dict:
        # A defect: the record lacks a field the response model requires, and holds a name and a phone number.
        return {"name": "王秀英", "phone": "13912345678", "address": "幸福路 8 号"}

    @app.get("/peer-timeout")
    async def peer_timeout() -> dict:
        async with asyncio.timeout(0):
            await asyncio.sleep(1)
        return {}

    @app.get("/peer-refused")
    async def peer_refused() -> dict:
        raise ConnectionRefusedError(111, "Connect call failed ('10.0.0.9', 8080)")

    @app.get("/missing-file")
    async def missing_file() -> dict:
        raise FileNotFoundError(2, "No such file or directory", "/etc/youmin/absent.pem")

    return app


async def test_a_response_the_model_refuses_is_a_500_logged_once_without_the_records_values(monkeypatch):
    # The module's logger, once used by an earlier test, keeps the configuration it was first used with: a fresh one
    # is what capture_logs sees.
    monkeypatch.setattr(errors_module, "log", structlog.get_logger("youmin.errors"))
    # The default transport raises what the app raises on to the test, as a server would receive it.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app_with_request_context()),
                                 base_url="http://t") as client:
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            resp = await client.get("/resident", headers={"x-request-id": "req-1"})
    assert resp.status_code == 500
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"] == "/problems/internal"
    # Answered inside the request context: its request id on the answer and the log line, its status counted.
    assert resp.headers["x-request-id"] == "req-1"
    [error] = [e for e in logs if e["event"] == "request.unexpected_error"]
    assert error["request_id"] == "req-1"
    assert "ResponseValidationError" in error["error"] and "age" in error["error"] and "missing" in error["error"]
    assert [e["status"] for e in logs if e["event"] == "http.request"] == [500]
    logged = repr(logs)
    for value in ("王秀英", "13912345678", "幸福路"):
        assert value not in logged and value not in resp.text


def test_a_fastapi_validation_error_is_described_without_its_inputs():
    error = ResponseValidationError([{"type": "missing", "loc": ("response", "age"), "msg": "Field required",
                                      "input": {"name": "王秀英", "phone": "13912345678"}},
                                     {"type": "string_too_long", "loc": ("response", "name"),
                                      "msg": "String should have at most 2 characters", "input": "王秀英",
                                      "ctx": {"max_length": 2}}],
                                    endpoint_ctx={"path": "GET /resident"})
    described = describe_error(error)
    assert described == ("ResponseValidationError (GET /resident): response.age: Field required [missing]; "
                         "response.name: String should have at most 2 characters [string_too_long]")
    assert "王秀英" not in describe_trace(error) and "13912345678" not in describe_trace(error)


async def test_a_raw_network_error_or_timeout_of_another_peer_is_a_503_to_retry_and_a_file_error_a_500():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app_with_request_context()),
                                 base_url="http://t") as client:
        for path in ("/peer-timeout", "/peer-refused"):
            resp = await client.get(path)
            assert resp.status_code == 503, path
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert resp.headers["retry-after"] == "1"
            assert resp.json()["type"] == "/problems/temporarily-unavailable"
        missing = await client.get("/missing-file")
    assert missing.status_code == 500 and missing.json()["type"] == "/problems/internal"
