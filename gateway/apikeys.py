"""Department API keys: `ym_<key id>_<secret>`, stored as a SHA-256 hash of the whole key."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import ApiKey, WebhookSubscription

PREFIX = "ym"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(session: AsyncSession, department_code: str, label: str | None = None) -> str:
    """Creates a key for a department and returns it; it is shown once and never stored in clear."""
    key, _ = await issue_key(session, department_code, label)
    return key


async def issue_key(session: AsyncSession, department_code: str, label: str | None = None) -> tuple[str, ApiKey]:
    """Creates a key and returns it in clear with its stored row."""
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
    row = ApiKey(key_id=key_id, department_code=department_code, key_hash=_hash(key), label=label,
                 created_at=datetime.now(UTC))
    session.add(row)
    await session.flush()
    return key, row


def key_id_of(key: str) -> str | None:
    """Returns the public id part of a key (safe to log and to rate-limit by)."""
    parts = key.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None


async def verify_key(session: AsyncSession, key: str) -> str | None:
    """Returns the department code of a valid, unrevoked key, else None."""
    row = await live_key(session, key)
    return row.department_code if row is not None else None


async def live_key(session: AsyncSession, key: str) -> ApiKey | None:
    """Returns the stored row of a valid, unrevoked key, else None."""
    key_id = key_id_of(key)
    if key_id is None or len(key_id) > 16:
        return None
    row = await session.scalar(select(ApiKey).where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None)))
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    return row


async def revoke_key(session: AsyncSession, key_id: str) -> bool:
    """Revokes a key by its id; returns whether one was revoked. The row is locked as rotation locks it: a key being
    rotated meanwhile is found revoked (replaced), and the caller revokes its successor.

    The webhook subscriptions the key made stop with it (a leaked key's subscription would otherwise keep receiving
    the department's work-order changes), and so do all of the department's once it has no live key left; a live key
    of the department re-enables one (see gateway.liaison.enable)."""
    department = await session.scalar(select(ApiKey.department_code).where(ApiKey.key_id == key_id))
    if department is None:
        return False
    # All of the department's keys, in one order: two revocations at once (of its last two keys) take turns, and
    # the second sees the first's, so that one of them finds no live key left.
    await lock_department_keys(session, department)
    row = await session.get(ApiKey, key_id, populate_existing=True)
    if row is None or row.revoked_at is not None:
        return False
    now = datetime.now(UTC)
    row.revoked_at = now
    await session.flush()
    live = await session.scalar(select(ApiKey.key_id).where(
        ApiKey.department_code == row.department_code, ApiKey.revoked_at.is_(None)).limit(1))
    made_by = (WebhookSubscription.department_code == row.department_code if live is None
               else WebhookSubscription.key_id == key_id)
    reason = (f"the department's last API key ({key_id}) was revoked" if live is None
              else f"the API key that made it ({key_id}) was revoked")
    # One disabled after failures is now stopped by the revocation (re-enabling it takes a live key); one held by
    # district staff stays theirs.
    await session.execute(
        update(WebhookSubscription)
        .where(made_by, WebhookSubscription.disabled_by.is_distinct_from("district"))
        .values(disabled_at=func.coalesce(WebhookSubscription.disabled_at, now), disabled_by="key_revoked",
                disabled_reason=f"{reason}; re-enable it with a live key of the department, or delete it"))
    return True


async def lock_department_keys(session: AsyncSession, department_code: str) -> None:
    """Locks a department's keys, in key order, until the transaction ends: what revokes a key, or takes one as live
    for a subscription, holds them (so a revocation cannot miss a subscription being tied to its key meanwhile)."""
    await session.execute(select(ApiKey.key_id).where(ApiKey.department_code == department_code)
                          .order_by(ApiKey.key_id).with_for_update())


async def rotate_key(session: AsyncSession, key_id: str) -> tuple[str, ApiKey] | None:
    """Replaces a live key by a new one for the same department (the old one stops working at once)."""
    # populate_existing: the key the caller authenticated with is in the session already, read before this lock; a
    # rotation or revocation that committed meanwhile must be seen.
    department = await session.scalar(select(ApiKey.department_code).where(ApiKey.key_id == key_id))
    if department is None:
        return None
    await lock_department_keys(session, department)
    row = await session.get(ApiKey, key_id, populate_existing=True)
    if row is None or row.revoked_at is not None:
        return None
    key, new = await issue_key(session, row.department_code, row.label)
    row.revoked_at = datetime.now(UTC)
    row.replaced_by = new.key_id
    await session.flush()
    # The subscriptions the old key made are the new key's: a rotation is not a revocation.
    await session.execute(update(WebhookSubscription).where(WebhookSubscription.key_id == key_id)
                          .values(key_id=new.key_id))
    return key, new


async def list_keys(session: AsyncSession, department_code: str) -> list[ApiKey]:
    """Lists a department's keys, newest first (hashes are never returned)."""
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.department_code == department_code).order_by(ApiKey.created_at.desc())
    )
    return list(rows)
