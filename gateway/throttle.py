"""Lock-out after repeated log-in failures, counted per phone and per client address."""

from __future__ import annotations

import hashlib
import ipaddress
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import LoginThrottle


def phone_subject(phone: str) -> str:
    """Returns the throttle key of a phone number (hashed: the table holds no phone numbers)."""
    return "phone:" + hashlib.sha256(phone.encode()).hexdigest()


def client_network(address: str) -> str:
    """The part of a client address that names one client: an IPv4 address, or an IPv6 address's /64 (one host is
    given a whole /64 and may use any address in it)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def ip_subject(address: str) -> str:
    """Returns the throttle key of a client address (its /64 for IPv6)."""
    return f"ip:{client_network(address)}"[:128]


async def locked_for(session: AsyncSession, subjects: list[str], now: datetime | None = None) -> int | None:
    """Returns the seconds left on the longest lock among the subjects, or None when none is locked."""
    now = now or datetime.now(UTC)
    rows = await session.scalars(select(LoginThrottle).where(LoginThrottle.subject.in_(subjects)))
    left = [(r.locked_until - now).total_seconds() for r in rows if r.locked_until and r.locked_until > now]
    return math.ceil(max(left)) if left else None


async def record_failure(
    session: AsyncSession, limits: dict[str, int], window: timedelta, now: datetime | None = None
) -> int | None:
    """Counts one failure against each subject; returns the lock's seconds when one is now locked."""
    now = now or datetime.now(UTC)
    locked: list[int] = []
    for subject, limit in limits.items():
        # One atomic upsert per subject, so concurrent failures are all counted; a stale window restarts.
        stmt = insert(LoginThrottle).values(subject=subject, failures=1, window_started_at=now)
        excluded = stmt.excluded
        stale = LoginThrottle.window_started_at < now - window
        stmt = stmt.on_conflict_do_update(
            index_elements=[LoginThrottle.subject],
            set_={
                "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
                "window_started_at": case((stale, excluded.window_started_at), else_=LoginThrottle.window_started_at),
            },
        ).returning(LoginThrottle.failures)
        failures = (await session.execute(stmt)).scalar_one()
        if failures >= limit:
            row = await session.get(LoginThrottle, subject, populate_existing=True)
            assert row is not None
            row.locked_until = now + window
            row.failures = 0
            row.window_started_at = now
            locked.append(math.ceil(window.total_seconds()))
    await session.flush()
    return max(locked) if locked else None


async def clear(session: AsyncSession, subject: str) -> None:
    """Forgets a subject's failures after a successful log-in."""
    row = await session.get(LoginThrottle, subject)
    if row is not None and (row.locked_until is None or row.locked_until <= datetime.now(UTC)):
        await session.delete(row)
        await session.flush()
