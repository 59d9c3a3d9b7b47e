"""The ladder's scheduler: runs the sweep on a timer inside the service (any replica may run it)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from services.mediation.service import sweep
from youmin.kit.db import transaction
from youmin.kit.logging import get_logger
from youmin.kit.errors import describe_error

log = get_logger("youmin.mediation.scheduler")


async def sweep_until_done(app: FastAPI) -> int:
    """Sweeps batch after batch until nothing more is due; returns how many cases it examined."""
    settings = app.state.settings
    total = 0
    while True:
        async with transaction(app.state.sessions) as session:
            report = await sweep(session, app.state.clock(), app.state.mediation, batch_size=settings.sweep_batch_size)
        total += report.examined
        if report.examined:
            log.info("mediation.sweep", **vars(report))
        if report.examined < settings.sweep_batch_size:
            return total


async def sweeper(app: FastAPI) -> None:
    """Runs the sweep every `sweep_interval_seconds` until cancelled; a failed sweep is logged and retried."""
    while True:
        try:
            await sweep_until_done(app)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next tick retries; the error is logged
            log.error("mediation.sweep_failed", error=describe_error(exc))
        await asyncio.sleep(app.state.settings.sweep_interval_seconds)
