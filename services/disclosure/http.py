"""Public HTTP plumbing: ETag revalidation, a short in-process response cache, per-client rate limits."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request, Response

from youmin.kit.errors import DomainError, problem


class BadQuery(DomainError):
    """A query parameter has a bad value; `errors` names it."""

    status, type, title = 422, "/problems/validation", "Validation failed"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


@dataclass(frozen=True)
class Rendered:
    """A rendered public response: body, media type and its entity tag."""

    body: bytes
    media_type: str
    etag: str


def entity_tag(body: bytes) -> str:
    """Returns a strong entity tag of a body."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Tells whether an If-None-Match header matches an entity tag (weak comparison, RFC 9110)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in wanted


class ResponseCache:
    """Keeps rendered public responses for a fraction of a second, so bursts do not all hit PostgreSQL."""

    def __init__(self, seconds: float, max_entries: int = 4096) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Rendered]] = {}

    def get(self, key: str) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, rendered: Rendered) -> None:
        if self.seconds <= 0:
            return
        if len(self._entries) >= self.max_entries:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[key] = (time.monotonic() + self.seconds, rendered)

    def clear(self) -> None:
        self._entries.clear()


def cache_key(path: str, params: list[tuple[str, str]]) -> str:
    """Returns the cache key of a request: its path and its parameters, encoded (a value holding "&" or "=" is not
    read as two parameters) and ordered by name, but the values of a repeated name in the order given (the last one
    is the one a handler reads), so two requests answered differently never share a key."""
    return path + "?" + urlencode(sorted(params, key=lambda pair: pair[0]))


async def cached_response(
    request: Request,
    render: Callable[[], Awaitable[tuple[bytes, str]]],
    *,
    max_age: int,
    headers: dict[str, str] | None = None,
) -> Response:
    """Answers a public GET from the short cache or by rendering, with ETag, Cache-Control and 304."""
    cache: ResponseCache = request.app.state.public_cache
    key = cache_key(request.url.path, request.query_params.multi_items())
    rendered = cache.get(key)
    if rendered is None:
        body, media_type = await render()
        rendered = Rendered(body, media_type, entity_tag(body))
        cache.put(key, rendered)
    common = {"ETag": rendered.etag, "Cache-Control": f"public, max-age={max_age}", "Vary": "Accept-Encoding, Origin",
              **(headers or {})}
    if etag_matches(request.headers.get("if-none-match"), rendered.etag):
        return Response(status_code=304, headers=common)
    return Response(rendered.body, media_type=rendered.media_type, headers=common)


class RateLimiter:
    """A token bucket per client: `rate` requests a second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str, now: float | None = None) -> float:
        """Takes a token; returns 0 when allowed, else the seconds to wait before retrying."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            if len(self._buckets) >= self.max_clients and client not in self._buckets:
                self._buckets.clear()
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0


def client_of(headers: dict[str, str], peer: str | None) -> str:
    """Returns the client a request counts against: X-Forwarded-For (set by the gateway), else the peer."""
    first = headers.get("x-forwarded-for", "").split(",")[0].strip()
    return first or peer or "unknown"


class PublicRateLimit:
    """ASGI middleware: answers 429 with Retry-After when a client exceeds its rate on the public paths."""

    def __init__(self, app, limiter: RateLimiter, prefixes: tuple[str, ...] = ("/public/", "/portal/")) -> None:
        self.app = app
        self.limiter = limiter
        self.prefixes = prefixes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"}
        peer = scope.get("client")
        wait = self.limiter.take(client_of(headers, peer[0] if peer else None))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        response = problem(429, "Too many requests",
                           f"rate limit of {self.limiter.rate:g} requests/s exceeded; retry in {retry_after}s",
                           "/problems/rate-limited", retry_after=retry_after)
        response.headers["Retry-After"] = str(retry_after)
        await response(scope, receive, send)
