"""Routing to the services over pooled aiohttp connections; 502/504 as problem+json.

The relay sends each request on aiohttp's client session, as it came (only the headers it forwards), and reads the
answer in full. An httpx request on aiohttp's transport cost the gateway half as much CPU again per request (httpx's
request, URL and response objects around aiohttp's), and httpx's own pool several times that. The gateway's
occasional calls of its own (log-in lookups, readiness, the OpenAPI merge, webhooks) use a plain httpx client.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from yarl import URL

from youmin.kit.auth import bearer, current_principal
from starlette.types import ASGIApp, Receive, Scope, Send

from youmin.kit.errors import DomainError, Forbidden, domain_problem, problem

# Headers a client may pass to a service, and a service back to the client.
FORWARD_REQUEST = ("authorization", "content-type", "accept", "accept-language", "if-none-match", "if-modified-since", "user-agent")
# The request id is the gateway's own (the service echoes the one the gateway sent it): the gateway's request context
# sets it once on every response.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length",
              "content-encoding", "server", "date", "x-request-id"}

router = APIRouter()


def no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: a shared client must not carry one caller's cookies into another's call."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class Upstream:
    """The way to the services: aiohttp's connection pool (create inside the running event loop)."""

    def __init__(self, timeout: float, connect_timeout: float) -> None:
        self.session = aiohttp.ClientSession(
            # Idle connections are dropped before the services' keep-alive timeout (uvicorn: 5 s) can close them
            # under us.
            connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=2.0, enable_cleanup_closed=True),
            # The gateway relays bodies as they are; it neither asks for compression, decompresses nor keeps cookies,
            # and adds no header of its own: no Accept or Content-Type the client did not send.
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )
        # sock_connect bounds opening a connection, sock_read the wait for each part of the answer, connect the wait
        # for a pooled connection.
        self.timeout = aiohttp.ClientTimeout(connect=timeout, sock_connect=connect_timeout, sock_read=timeout)

    async def call(self, method: str, url: str, params: list[tuple[str, str]] | None, headers: dict[str, str],
                   content: bytes | None) -> Answer:
        """Sends a request with only the headers given (and Host, Content-Length); returns the answer read in full.
        `url` is percent-encoded already; `headers` are as Starlette decoded them (latin-1)."""
        async with self.session.request(method, URL(url, encoded=True), params=params or None,
                                        headers={name: _as_sent(value) for name, value in headers.items()},
                                        data=content, allow_redirects=False, timeout=self.timeout) as response:
            body = await response.read()
            kept = [(k.lower(), v) for k, v in response.raw_headers if k.lower().decode("latin-1") not in HOP_BY_HOP]
            return Answer(response.status, kept, body)

    async def aclose(self) -> None:
        await self.session.close()


def _as_sent(value: str) -> str:
    """A header value as aiohttp should write it to send the client's bytes on: Starlette decodes the bytes as latin-1
    and aiohttp encodes what it sends as UTF-8, so bytes that are UTF-8 (as apps write names in a User-Agent) are
    decoded as UTF-8. Other bytes above ASCII cannot go on unchanged; they go on as their latin-1 characters."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


@dataclass(frozen=True, slots=True)
class Answer:
    """A service's answer, read in full."""

    status_code: int
    headers: list[tuple[bytes, bytes]]  # as the service sent them, hop-by-hop fields left out
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.content)


async def upstream(
    request: Request, service: str, method: str, path: str, *, headers: dict[str, str], content: bytes | None = None,
    params: list[tuple[str, str]] | None = None,
) -> Answer | Response:
    """Calls a service; returns its answer, or a 502/504 problem when it cannot be reached."""
    # The path goes on percent-encoded, so a "#", "?" or "%" that a segment carries stays inside that segment.
    url = f"{request.app.state.settings.service_urls()[service]}{quote(path, safe='/')}"
    upstream_: Upstream = request.app.state.upstream
    headers = {**headers, "x-request-id": request.state.request_id,
               "x-forwarded-for": request.client.host if request.client else ""}
    # aiohttp itself sends an idempotent request again when a pooled connection turns out closed by the service.
    try:
        # The client's timeouts bound connecting and each read; this bounds the whole answer (a service that
        # trickles its body would otherwise hold the request for as long as it likes).
        async with asyncio.timeout(request.app.state.settings.upstream_timeout_seconds):
            return await upstream_.call(method, url, params, headers, content)
    except (aiohttp.ClientError, OSError) as exc:  # OSError: TimeoutError too
        # aiohttp's timeouts (connecting, reading) are TimeoutErrors as well as ClientErrors.
        if isinstance(exc, TimeoutError) or isinstance(exc.__cause__, TimeoutError):
            return problem(504, "Gateway timeout", f"the {service} service did not answer in time",
                           "/problems/upstream-timeout")
        return problem(502, "Bad gateway", f"the {service} service is unavailable", "/problems/upstream-unavailable")


def relay(answer: Answer | Response) -> Response:
    """Turns a service's answer into the gateway's response."""
    if isinstance(answer, Response):
        return answer
    response = Response(answer.content, status_code=answer.status_code)
    response.raw_headers = [*response.raw_headers, *answer.headers]
    return response


async def forward(request: Request, service: str, path: str, *, method: str | None = None) -> Response:
    """Sends the request to a service (as `method`, else the request's own) and relays its answer."""
    # The path arrives decoded ("%2e%2e" is ".."), and the upstream URL would resolve dot segments: a route must
    # never reach outside its prefix (/public/v1/../../metrics was the service's /metrics, with the caller's token).
    if any(segment in (".", "..") for segment in path.split("/")):
        return problem(404, "Not found", "no such path", "/problems/not-found")
    headers = {k: v for k, v in request.headers.items() if k in FORWARD_REQUEST}
    # A GET or HEAD body has no meaning: it is neither read nor sent on (the size limit guards the other methods).
    body = b"" if request.method in ("GET", "HEAD") else await request.body()
    return relay(await upstream(request, service, method or request.method, path, headers=headers, content=body or None,
                                params=request.query_params.multi_items()))


@router.api_route("/api/v1/{service}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def api_root(service: str, request: Request) -> Response:
    """Routes a service's collection root (/api/v1/matters) like any other path below it."""
    return await api(service, "", request)


@router.api_route("/api/v1/{service}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def api(service: str, path: str, request: Request) -> Response:
    """Routes /api/v1/<service>/... after verifying the bearer token."""
    if service not in request.app.state.settings.service_urls():
        return problem(404, "Not found", f"no service named {service}", "/problems/not-found")
    verified = getattr(request.state, "verified_token", None)
    principal = verified[1] if verified and verified[0] == bearer(request) else current_principal(request)
    # Coarse scope: only people's tokens pass here; departments use /liaison/v1, services talk internally.
    if principal.kind != "user":
        raise Forbidden(f"a {principal.kind} token cannot call /api/v1; departments use /liaison/v1")
    request.state.principal = principal
    return await forward(request, service, f"/api/v1/{service}/{path}" if path else f"/api/v1/{service}")


@router.api_route("/public/v1/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def public(path: str, request: Request) -> Response:
    """Routes the public disclosure API (no login); HEAD is answered with the GET's status and headers."""
    if request.method != "HEAD":
        return await forward(request, "disclosure", f"/public/v1/{path}")
    answer = await forward(request, "disclosure", f"/public/v1/{path}", method="GET")
    headless = Response(status_code=answer.status_code)
    headless.raw_headers = [(k, v) for k, v in answer.raw_headers]  # Content-Length stays the GET body's
    return headless


@router.get("/", include_in_schema=False)
async def portal_home(request: Request) -> Response:
    """Serves the public portal's home page (rendered by the disclosure service)."""
    return await forward(request, "disclosure", "/portal/")


@router.get("/portal/{path:path}", include_in_schema=False)
async def portal(path: str, request: Request) -> Response:
    """Serves the public portal's pages and assets (rendered by the disclosure service)."""
    return await forward(request, "disclosure", f"/portal/{path}")


async def service_ready(client: httpx.AsyncClient, url: str) -> str:
    """Returns "ok" when a service's /readyz answers ready."""
    try:
        resp = await client.get(f"{url}/readyz", timeout=3)
        return "ok" if resp.status_code == 200 else f"not ready ({resp.status_code})"
    except (httpx.HTTPError, OSError, asyncio.TimeoutError):
        return "unreachable"


class FastPath:
    """Serves the proxied routes as plain ASGI, ahead of FastAPI's router and its per-request machinery.

    It sits inside the gateway's request-id, rate-limit, security-header and CORS middleware, and calls the same
    route functions as the router; anything it does not take (other methods, other paths) goes on to FastAPI,
    which answers as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes = {route.name: route for route in router.routes if isinstance(route, APIRoute)}

    def _match(self, method: str, path: str) -> tuple[APIRoute, Any] | None:
        if path.startswith("/api/v1/") and method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            service, slash, rest = path[8:].partition("/")
            if not service:
                return None
            if not slash:
                return self.routes["api_root"], lambda request: api_root(service, request)
            return self.routes["api"], lambda request: api(service, rest, request)
        if path.startswith("/public/v1/") and method in ("GET", "HEAD"):
            return self.routes["public"], lambda request: public(path[11:], request)
        if method == "GET":
            if path == "/":
                return self.routes["portal_home"], portal_home
            if path.startswith("/portal/"):
                return self.routes["portal"], lambda request: portal(path[8:], request)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self._match(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if matched is None:
            await self.app(scope, receive, send)
            return
        route, handle = matched
        scope["route"] = route  # names the route in the latency histogram, as the router would
        request = Request(scope, receive)
        try:
            response = await handle(request)
        except DomainError as exc:
            response = domain_problem(exc)
        await response(scope, receive, send)
