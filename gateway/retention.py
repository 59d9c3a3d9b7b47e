"""Deletes what the gateway keeps only for a while, so its tables do not grow for ever (some rows are written by
anonymous requests: a code asked for an unknown phone, a failed log-in)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import delete, or_

from gateway.models import LoginThrottle, OneTimeCode, RefreshToken, WebhookDelivery
from gateway.settings import Settings
from youmin.kit.db import transaction
from youmin.kit.errors import describe_error
from youmin.kit.logging import get_logger

log = get_logger(__name__)


def _statements(settings: Settings, now: datetime) -> dict[str, object]:
    return {
        # Kept two days: the daily limit of codes per phone counts the last 24 hours.
        "one_time_code": delete(OneTimeCode).where(OneTimeCode.created_at < now - timedelta(days=2)),
        # Long expired: a token presented after its expiry is refused whether its row is there or not.
        "refresh_token": delete(RefreshToken).where(RefreshToken.expires_at < now - timedelta(days=90)),
        # A count of failures whose window ended a day ago, and no lock still running.
        "login_throttle": delete(LoginThrottle).where(
            LoginThrottle.window_started_at < now - timedelta(days=1),
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now)),
        # A department's delivery log (and its attempts, by cascade) for `webhook_log_days`; pending ones stay.
        "webhook_delivery": delete(WebhookDelivery).where(
            WebhookDelivery.status != "pending",
            WebhookDelivery.created_at < now - timedelta(days=settings.webhook_log_days)),
    }


async def sweep_once(app: FastAPI) -> dict[str, int]:
    """Deletes the rows past their keeping, in one transaction; returns how many per table."""
    settings: Settings = app.state.settings
    async with transaction(app.state.sessions) as session:
        return {table: (await session.execute(statement)).rowcount
                for table, statement in _statements(settings, app.state.clock.now()).items()}


async def run_retention(app: FastAPI) -> None:
    """Sweeps every `retention_sweep_seconds` until cancelled."""
    settings: Settings = app.state.settings
    while True:
        try:
            deleted = await sweep_once(app)
            if any(deleted.values()):
                log.info("retention.swept", **deleted)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - tried again at the next sweep
            log.warning("retention.failed", error=describe_error(exc))
        await asyncio.sleep(settings.retention_sweep_seconds)
