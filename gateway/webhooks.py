"""Department webhooks: deliveries from work-order changes, HMAC-SHA256 signatures, retries with backoff.

A delivery is claimed by pushing its next attempt past a lease before the HTTP call, so replicas of the
gateway never send one delivery twice at the same time, and a crash mid-call only delays a retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from cloudevents.core.base import BaseCloudEvent
from fastapi import FastAPI
from sqlalchemy import exists, select, tuple_, update
from sqlalchemy.orm import aliased
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from gateway.settings import Settings
from youmin.kit.db import transaction
from youmin.kit.logging import get_logger
from youmin.kit.errors import describe_error

log = get_logger("gateway.webhooks")

WORK_ORDER_CHANGED = "gov.youmin.matters.workorder.changed.v1"
SIGNATURE_HEADER = "X-Youmin-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Returns the signature header value: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = 300) -> bool:
    """Checks a signature header the way a receiver should (constant-time, with a replay window)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def new_secret() -> str:
    """Returns a fresh signing secret."""
    return "whsec_" + secrets.token_urlsafe(32)


NAT64 = ipaddress.ip_network("64:ff9b::/96")
GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
# IPv6 ranges that carry (or translate to) an IPv4 address, or reach one through a local gateway: a delivery there
# may end inside the network whatever the IPv6 address looks like (local NAT64, 6to4, Teredo).
TRANSLATED_V6 = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("2002::/16"),
                 ipaddress.ip_network("2001::/32"))


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None)
        if embedded is not None:
            return embedded.is_global
        # Only global unicast, and none of the ranges that lead back to IPv4.
        return ip in GLOBAL_UNICAST_V6 and ip.is_global and not any(ip in net for net in TRANSLATED_V6)
    return ip.is_global


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL with its host replaced by the address that was checked, and what keeps the
    request addressed to the named host (Host header, TLS server name)."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


async def resolve_target(url: str, allow_private: bool) -> Target | None:
    """Resolves a webhook URL to one checked address, or None when it is refused (loopback, private, link-local
    unless allowed: no SSRF into the cluster).

    A host name counts by every address it resolves to, and the delivery connects to the address that was checked,
    so a name that resolves elsewhere a moment later (DNS rebinding) changes nothing.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host or (not allow_private and (host == "localhost" or host.endswith((".localhost", ".internal")))):
        return None
    try:
        addresses = [ipaddress.ip_address(host)]
        literal = True
    except ValueError:
        literal = False
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return None  # a name that does not resolve is no address to send to
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not addresses or not (allow_private or all(_public(ip) for ip in addresses)):
        return None
    if literal:
        return Target(url, {}, {})
    first = min(addresses, key=lambda ip: ip.version)  # IPv4 first: receivers are reached by it most surely
    address = str(first) if first.version == 4 else f"[{first}]"
    netloc = address + (f":{parts.port}" if parts.port else "")
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = host + (f":{parts.port}" if parts.port else "")
    return Target(pinned, {"host": host_header}, {"sni_hostname": host} if parts.scheme == "https" else {})


async def url_allowed(url: str, allow_private: bool) -> bool:
    """Tells whether a webhook URL may be subscribed (see resolve_target)."""
    return await resolve_target(url, allow_private) is not None


@dataclass
class Clock:
    """The worker's notion of now; tests move it forward instead of sleeping through backoffs."""

    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        """Returns the current time (plus any offset a test added)."""
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        """Moves the clock forward."""
        self.offset += timedelta(seconds=seconds)


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Returns the wait before the next attempt: base * 2^(attempts-1), capped, with a little jitter."""
    delay = min(settings.webhook_backoff_base_seconds * 2 ** max(attempts - 1, 0), settings.webhook_backoff_max_seconds)
    return delay * (1 + secrets.randbelow(100) / 1000)


async def enqueue(session: AsyncSession, department_code: str, event_id: str, event_type: str, payload: dict,
                  now: datetime) -> int:
    """Queues one delivery per subscription of the department; returns how many. A subscription disabled after
    repeated failures queues too (nothing is sent to it until it is enabled again): the department's endpoint
    misses no change while it is being fixed."""
    subscriptions = await session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.department_code == department_code))
    count = 0
    for sub in subscriptions:
        session.add(WebhookDelivery(id=uuid.uuid4(), subscription_id=sub.id, event_id=event_id, event_type=event_type,
                                    payload=payload, status="pending", attempts=0, next_attempt_at=now, created_at=now))
        count += 1
    await session.flush()
    return count


def make_consumer_handler(app_ref: Callable[[], FastAPI]):
    """Builds the consumer handler turning work-order changes into deliveries."""

    async def on_work_order_changed(session: AsyncSession, event: BaseCloudEvent) -> None:
        data = event.get_data() or {}
        department = data.get("department_code")
        if not department:
            return
        app = app_ref()
        payload = {"id": event.get_id(), "type": event.get_type(), "time": _iso(event.get_time()), "data": data}
        if await enqueue(session, str(department), event.get_id(), event.get_type(), payload, app.state.clock.now()):
            app.state.webhook_wakeup.set()

    return on_work_order_changed


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)


async def _claim(app: FastAPI, limit: int) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
    settings: Settings = app.state.settings
    now = app.state.clock.now()
    lease = timedelta(seconds=settings.webhook_timeout_seconds + 30)
    async with transaction(app.state.sessions) as session:
        # A change older than the age limit (queued while the subscription was disabled, say) is no longer sent: the
        # department catches up from its feed, which keeps every change.
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status == "pending",
                   WebhookDelivery.created_at < now - timedelta(hours=settings.webhook_max_age_hours))
            .values(status="expired", last_error="older than the delivery age limit; read the feed"))
        # A subscription's changes go out one at a time, in the order they happened: only its oldest pending delivery
        # is due, and the next waits for it (delivered, abandoned or expired). Sent side by side, or retried while a
        # later one got through, "signed" could reach the department after "answered".
        earlier = aliased(WebhookDelivery)
        rows = (await session.execute(
            select(WebhookDelivery, WebhookSubscription)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                   WebhookSubscription.disabled_at.is_(None),
                   ~exists().where(earlier.subscription_id == WebhookDelivery.subscription_id,
                                   earlier.status == "pending",
                                   tuple_(earlier.created_at, earlier.id)
                                   < tuple_(WebhookDelivery.created_at, WebhookDelivery.id)))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.created_at)
            .limit(limit).with_for_update(of=WebhookDelivery, skip_locked=True)
        )).all()
        for delivery, _ in rows:
            delivery.next_attempt_at = now + lease
        return [(d, s) for d, s in rows]


async def _send(app: FastAPI, delivery: WebhookDelivery, sub: WebhookSubscription) -> tuple[int | None, str | None, int]:
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(app.state.clock.now().timestamp())
    headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(sub.secret, timestamp, body),
               "X-Youmin-Event": delivery.event_type, "X-Youmin-Delivery": str(delivery.id),
               "User-Agent": "Youmin-Webhooks/1"}
    started = time.perf_counter()
    settings = app.state.settings
    # The whole delivery (the name's look-up, the request, the answer's status) within the timeout, whatever the
    # receiver does: httpx's timeouts are per read, and a receiver answering a byte every few seconds would hold the
    # pass (and every other department's deliveries) past the claim's lease, to be claimed and sent again.
    try:
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            target = await resolve_target(sub.url, settings.webhook_allow_private_urls
                                          or settings.environment != "production")
            if target is None:
                return None, "refused: the URL does not point to a public address", 0
            # The answer's body is not read: its status is the receipt.
            async with app.state.webhook_http.stream("POST", target.url, content=body,
                                                     headers={**headers, **target.headers},
                                                     extensions=target.extensions) as resp:
                error = None if resp.is_success else f"HTTP {resp.status_code}"
                return resp.status_code, error, int((time.perf_counter() - started) * 1000)
    except TimeoutError:
        error = f"timed out: no answer within {settings.webhook_timeout_seconds:g} s"
        return None, error, int((time.perf_counter() - started) * 1000)
    except (httpx.HTTPError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], int((time.perf_counter() - started) * 1000)


async def _record(app: FastAPI, delivery_id: uuid.UUID, status_code: int | None, error: str | None, ms: int) -> None:
    settings: Settings = app.state.settings
    now = app.state.clock.now()
    async with transaction(app.state.sessions) as session:
        delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            return
        sub = await session.get(WebhookSubscription, delivery.subscription_id, with_for_update=True)
        delivery.attempts += 1
        delivery.last_status_code = status_code
        delivery.last_error = error
        session.add(WebhookAttempt(delivery_id=delivery.id, attempt=delivery.attempts, attempted_at=now,
                                   status_code=status_code, error=error, duration_ms=ms))
        if error is None:
            delivery.status, delivery.delivered_at = "delivered", now
            if sub is not None:
                sub.consecutive_failures = 0
            return
        if delivery.attempts >= settings.webhook_max_attempts:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(settings, delivery.attempts))
        if sub is not None:
            sub.consecutive_failures += 1
            if sub.disabled_at is None and sub.consecutive_failures >= settings.webhook_disable_after_failures:
                sub.disabled_at, sub.disabled_by = now, "failures"
                sub.disabled_reason = f"{sub.consecutive_failures} failed deliveries in a row (last: {error})"
                log.warning("webhook.subscription_disabled", subscription_id=str(sub.id),
                            department=sub.department_code, failures=sub.consecutive_failures)


async def deliver_due(app: FastAPI, limit: int = 50) -> int:
    """Runs one pass: sends every due delivery once; returns how many were attempted."""
    claimed = await _claim(app, limit)

    async def one(delivery: WebhookDelivery, sub: WebhookSubscription) -> None:
        status_code, error, ms = await _send(app, delivery, sub)
        await _record(app, delivery.id, status_code, error, ms)
        log.info("webhook.attempted", delivery_id=str(delivery.id), status_code=status_code, error=error)

    await asyncio.gather(*(one(d, s) for d, s in claimed))
    return len(claimed)


async def run_worker(app: FastAPI) -> None:
    """Delivers due webhooks until cancelled; wakes on new deliveries or every poll interval."""
    settings: Settings = app.state.settings
    wakeup: asyncio.Event = app.state.webhook_wakeup
    while True:
        try:
            if await deliver_due(app):
                continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep delivering after a database hiccup
            log.warning("webhook.worker_failed", error=describe_error(exc))
        try:  # not wait_for, which on Python 3.11 can lose a cancellation that comes with a wake-up
            async with asyncio.timeout(settings.webhook_poll_seconds):
                await wakeup.wait()
        except TimeoutError:
            pass
        wakeup.clear()
