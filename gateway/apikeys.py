"""Department API keys: `ym_<key id>_<secret>`, stored as a SHA-256 hash of the whole key."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import ApiKey

PREFIX = "ym"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(session: AsyncSession, department_code: str) -> str:
    """Creates a key for a department and returns it; it is shown once and never stored in clear."""
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
    session.add(ApiKey(key_id=key_id, department_code=department_code, key_hash=_hash(key)))
    await session.flush()
    return key


async def verify_key(session: AsyncSession, key: str) -> str | None:
    """Returns the department code of a valid, unrevoked key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    row = await session.scalar(select(ApiKey).where(ApiKey.key_id == parts[1], ApiKey.revoked_at.is_(None)))
    if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    return row.department_code


async def revoke_key(session: AsyncSession, key_id: str) -> bool:
    """Revokes a key by its id; returns whether one was revoked."""
    row = await session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    return True
