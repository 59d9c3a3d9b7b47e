"""The gateway: authentication, coarse scope, routing, hardening, one OpenAPI document."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from gateway.openapi import merged_openapi
from gateway.proxy import make_client, router as proxy_router, service_ready
from gateway.settings import Settings
from youmin.kit.errors import problem
from youmin.kit.service import create_service_app

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the gateway."""
    settings = settings or Settings()
    app = create_service_app(settings, title="Youmin gateway", routers=[proxy_router], openapi_url=None)
    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with inner_lifespan(app_):
            app_.state.http = make_client(settings.upstream_timeout_seconds, settings.upstream_connect_timeout_seconds)
            app_.state.ready_checks = {
                name: (lambda u=url: service_ready(app_.state.http, u)) for name, url in settings.service_urls().items()
            }
            try:
                yield
            finally:
                await app_.state.http.aclose()

    app.router.lifespan_context = lifespan

    @app.middleware("http")
    async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request.state.request_id)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            response: Response = problem(413, "Payload too large", f"the body exceeds {settings.max_body_bytes} bytes",
                                         "/problems/payload-too-large")
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await merged_openapi(request.app))

    return app
