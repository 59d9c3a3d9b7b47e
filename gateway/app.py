"""The gateway: authentication, coarse scope, routing, hardening, one OpenAPI document."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.middleware import Middleware
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import apikeys, throttle
from gateway.auth import router as auth_router
from gateway.liaison import router as liaison_router
from gateway.open311 import router as open311_router
from gateway.openapi import merged_openapi
from gateway.proxy import FastPath, Upstream, no_cookies, router as proxy_router, service_ready
from gateway.ratelimit import RateLimiter, TokenBuckets, key_bucket
from gateway.registry_client import RegistryClient
from gateway.retention import run_retention
from gateway.settings import Settings
from gateway.sms import HttpSender, make_sender
from gateway.webhooks import WORK_ORDER_CHANGED, Clock, make_consumer_handler, run_worker
from youmin.kit.auth import bearer, decode_token
from youmin.kit.errors import DomainError, problem
from youmin.kit.service import Background, ConsumerSpec, create_service_app

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
# Only the public surfaces may be cached; everything else carries personal or operational data.
NO_STORE_PREFIXES = ("/auth/", "/api/", "/liaison/")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _rate_keys(request: Request, settings: Settings) -> list[tuple[str, str]]:
    """The buckets a request draws from: its address, and its user or its department key when it has one."""
    keys = [("ip", throttle.client_network(request.client.host) if request.client else "unknown")]
    api_key = request.headers.get("x-api-key") or request.query_params.get("api_key")
    if api_key and apikeys.key_id_of(api_key):
        keys.append(("key", key_bucket(api_key)))  # not verified yet: the bucket of the whole key presented
    # Not an alternative to the key: the key is not verified yet, and a made-up one must not spare a user's bucket.
    if (token := bearer(request)) is not None:
        try:
            principal = decode_token(settings, token)
        except DomainError:
            return keys
        # The proxy reuses the verified principal instead of decoding the token again.
        request.state.verified_token = (token, principal)
        keys.append(("user", principal.sub))
    return keys


async def _read_capped(receive: Receive, limit: int) -> Message | None:
    """Reads a body sent without Content-Length into one message; None as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message  # the client went away: the route sees the disconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def _replaying(first: Message, receive: Receive) -> Receive:
    """A receive that answers `first` once, then hands over to the server's receive."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


# No route takes a longer path and query (what a browser or proxy takes is about this much; httpx refuses past 64 KiB).
MAX_URL_BYTES = 8192


class GuardMiddleware:
    """Body-size limit, URL-length limit, rate limits and security headers, as plain ASGI (no per-request task); the
    request id is the request context's (youmin.kit.service.RequestContextMiddleware), outside it."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def _too_large(self) -> JSONResponse:
        return problem(413, "Payload too large", f"the body exceeds {self.settings.max_body_bytes} bytes",
                       "/problems/payload-too-large")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings
        request = Request(scope)
        path = scope["path"]
        no_store = path.startswith(NO_STORE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if no_store and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            await self._too_large()(scope, receive, send_with_headers)
            return
        if len(scope.get("raw_path") or path.encode()) + len(scope.get("query_string", b"")) > MAX_URL_BYTES:
            await problem(414, "URI too long", f"the path and query exceed {MAX_URL_BYTES} bytes",
                          "/problems/uri-too-long")(scope, receive, send_with_headers)
            return
        if len(request.headers.getlist("authorization")) > 1:
            # Checked here is the first; a service reading another would act for someone else than was checked.
            await problem(400, "Bad request", "authorization: give one Authorization header, not several",
                          "/problems/validation", field="authorization")(scope, receive, send_with_headers)
            return
        if settings.rate_limit_enabled and path not in ("/healthz", "/readyz", "/metrics"):
            hit = scope["app"].state.rate_limiter.check(_rate_keys(request, settings))
            if hit:
                kind, seconds = hit
                response = problem(429, "Too many requests", f"the {kind} rate limit is exhausted; retry in {seconds} s",
                                   "/problems/rate-limited", limit=kind)
                response.headers["Retry-After"] = str(seconds)
                await response(scope, receive, send_with_headers)
                return
        if length is None and scope["method"] in BODY_METHODS:
            # A chunked body has no length to check up front: it is read here, and refused as soon as it passes the
            # limit, before any route buffers it.
            first = await _read_capped(receive, settings.max_body_bytes)
            if first is None:
                await self._too_large()(scope, receive, send_with_headers)
                return
            receive = _replaying(first, receive)
        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the gateway."""
    settings = settings or Settings()
    holder: dict[str, FastAPI] = {}
    consumer = ConsumerSpec(name="gateway-webhooks", topics=["matters.matters"],
                            handlers={WORK_ORDER_CHANGED: make_consumer_handler(lambda: holder["app"])})
    worker = Background(name="gateway-webhook-delivery", run=run_worker, enabled=lambda s: s.webhook_enabled)
    retention = Background(name="gateway-retention", run=run_retention, enabled=lambda s: s.retention_sweep_seconds > 0)
    app = create_service_app(
        settings, title="Youmin gateway", routers=[auth_router, liaison_router, open311_router, proxy_router],
        consumers=[consumer], background=[worker, retention], openapi_url=None,
        state={"clock": Clock(), "webhook_wakeup": asyncio.Event(), "rate_limiter": RateLimiter(settings),
               "otp_buckets": TokenBuckets(max(1, settings.otp_requests_per_address_hour // 6),
                                           settings.otp_requests_per_address_hour / 3600),
               "sms_sender": make_sender(settings.sms_sender, settings.environment, settings.sms_url,
                                         settings.sms_token)},
    )
    holder["app"] = app
    # One access line per request is enough; httpx's own line per upstream call is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        app_.state.upstream = Upstream(settings.upstream_timeout_seconds, settings.upstream_connect_timeout_seconds)
        app_.state.http = httpx.AsyncClient(
            cookies=no_cookies(),
            timeout=httpx.Timeout(settings.upstream_timeout_seconds, connect=settings.upstream_connect_timeout_seconds),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10, keepalive_expiry=2.0),
        )
        app_.state.webhook_http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                                                   cookies=no_cookies())
        app_.state.registry = RegistryClient(app_.state.http, settings.registry_url, settings)
        if isinstance(app_.state.sms_sender, HttpSender):
            app_.state.sms_sender.client = app_.state.http
        app_.state.ready_checks = {
            name: (lambda u=url: service_ready(app_.state.http, u)) for name, url in settings.service_urls().items()
        }
        try:
            async with inner_lifespan(app_):
                yield
        finally:
            if isinstance(app_.state.sms_sender, HttpSender):
                await app_.state.sms_sender.drain()
            await app_.state.upstream.aclose()
            await app_.state.http.aclose()
            await app_.state.webhook_http.aclose()

    app.router.lifespan_context = lifespan

    # Inside the request context (request id, access log, latency histogram: a request the guard refuses, a 429 say,
    # is logged and counted like any other), then the guard, then the proxied routes, which skip FastAPI's router:
    # innermost of the middleware, so request ids, access logs, rate limits, security headers and CORS apply to them
    # as to every other route.
    app.user_middleware.extend([Middleware(GuardMiddleware, settings=settings), Middleware(FastPath)])

    # CORS for the portal's origin only; other origins get no CORS headers, so browsers refuse them.
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                       allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                       allow_headers=["authorization", "content-type", "x-request-id", "x-api-key"],
                       expose_headers=["X-Request-ID", "Retry-After", "ETag"], max_age=600)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await merged_openapi(request.app))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """The API reference of the whole system (the gateway's routes and every service's) to try out."""
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Youmin API")

    return app
