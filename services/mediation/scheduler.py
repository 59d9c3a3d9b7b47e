"""The ladder's scheduler: runs the sweep on a timer inside the service (any replica may run it)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from prometheus_client import Gauge

from services.mediation.service import sweep
from youmin.kit.calendar import report_missing_years
from youmin.kit.db import transaction
from youmin.kit.logging import get_logger
from youmin.kit.errors import describe_error

log = get_logger("youmin.mediation.scheduler")
CALENDAR_MISSING = Gauge("youmin_mediation_calendar_missing_years",
                         "Years from today to 45 days ahead whose holidays the working-day calendar does not list")


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
    reported: set[int] = set()
    while True:
        try:
            report_missing_years(app.state.mediation.calendar, app.state.clock(), reported, gauge=CALENDAR_MISSING,
                                 log=log, event="mediation.calendar_year_missing", setting="MEDIATION_CALENDAR_PATH")
            await sweep_until_done(app)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next tick retries; the error is logged
            log.error("mediation.sweep_failed", error=describe_error(exc))
        await asyncio.sleep(app.state.settings.sweep_interval_seconds)
