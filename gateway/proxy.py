"""Routing to the services with pooled httpx connections; 502/504 as problem+json."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Request, Response

from youmin.kit.auth import bearer, current_principal
from youmin.kit.errors import Forbidden, problem

# Headers a client may pass to a service, and a service back to the client.
FORWARD_REQUEST = ("authorization", "content-type", "accept", "accept-language", "if-none-match", "if-modified-since", "user-agent")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length",
              "content-encoding", "server", "date"}

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

router = APIRouter()


def make_client(timeout: float, connect_timeout: float) -> httpx.AsyncClient:
    """Creates the pooled upstream client."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        # Idle connections are dropped before the services' keep-alive timeout (uvicorn: 5 s) can close them under us.
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=2.0),
    )


async def upstream(
    request: Request, service: str, method: str, path: str, *, headers: dict[str, str], content: bytes | None = None,
    params: list[tuple[str, str]] | None = None,
) -> httpx.Response | Response:
    """Calls a service; returns its response, or a 502/504 problem when it cannot be reached."""
    base = request.app.state.settings.service_urls()[service]
    client: httpx.AsyncClient = request.app.state.http
    headers = {**headers, "x-request-id": request.state.request_id,
               "x-forwarded-for": request.client.host if request.client else ""}
    try:
        try:
            return await client.request(method, f"{base}{path}", params=params, headers=headers, content=content)
        except httpx.RemoteProtocolError:
            # A pooled connection the service had just closed: an idempotent request is safe to send again.
            if method not in IDEMPOTENT:
                raise
            return await client.request(method, f"{base}{path}", params=params, headers=headers, content=content)
    except httpx.TimeoutException:
        return problem(504, "Gateway timeout", f"the {service} service did not answer in time", "/problems/upstream-timeout")
    except (httpx.TransportError, OSError):
        return problem(502, "Bad gateway", f"the {service} service is unavailable", "/problems/upstream-unavailable")


def relay(answer: httpx.Response | Response) -> Response:
    """Turns a service's answer into the gateway's response."""
    if isinstance(answer, Response):
        return answer
    out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
    return Response(answer.content, status_code=answer.status_code, headers=out_headers)


async def forward(request: Request, service: str, path: str) -> Response:
    """Sends the request to a service and relays its answer."""
    headers = {k: v for k, v in request.headers.items() if k in FORWARD_REQUEST}
    body = await request.body()
    return relay(await upstream(request, service, request.method, path, headers=headers, content=body or None,
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
    if any(segment in (".", "..") for segment in path.split("/")):
        return problem(404, "Not found", "no such path", "/problems/not-found")
    request.state.principal = principal
    return await forward(request, service, f"/api/v1/{service}/{path}" if path else f"/api/v1/{service}")


@router.api_route("/public/v1/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def public(path: str, request: Request) -> Response:
    """Routes the public disclosure API (no login)."""
    return await forward(request, "disclosure", f"/public/v1/{path}")


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
