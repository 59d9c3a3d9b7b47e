"""Background jobs: the deadline sweeper (yellow and red warnings on work orders and implementation tasks; votes closed
once their window and its grace for paper tallies have passed) and the ballot-box mixer (online choices into their
votes' totals)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.matters.repository import MattersRepository
from services.matters.service import VOTE_WINDOW, Context, MattersService
from services.matters.settings import Settings
from youmin.kit.calendar import WorkCalendar, configured_calendar, report_missing_years
from youmin.kit.db import transaction
from youmin.kit.logging import get_logger
from youmin.kit.service import Background
from youmin.kit.errors import Conflict, describe_error

log = get_logger("youmin.matters.scheduler")

CALENDAR_MISSING = Gauge("youmin_matters_calendar_missing_years",
                         "Years from today to 45 days ahead whose holidays the working-day calendar does not list")


async def sweep_deadlines(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime, calendar: WorkCalendar | None = None
) -> dict[str, int]:
    """Raises the warnings due as of `now` in one transaction; returns how many changed."""
    async with transaction(sessions) as session:
        return await MattersService(session, settings, calendar).sweep(now)


async def close_due_votes(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime, calendar: WorkCalendar | None = None
) -> int:
    """Closes the votes whose window and grace for paper tallies (vote_close_grace_hours) have passed as of `now`, each
    in a transaction of its own, and decides their matters; returns how many it closed. A vote staff closed meanwhile
    is left as they closed it."""
    async with transaction(sessions) as session:
        due = await MattersRepository(session).votes_due_to_close(now - timedelta(hours=settings.vote_close_grace_hours))
    closed = 0
    for vote_id in due:
        try:
            async with transaction(sessions) as session:
                await MattersService(session, settings, calendar).close_vote(Context(principal=VOTE_WINDOW, now=now),
                                                                             vote_id, on_schedule=True)
            closed += 1
        except Conflict:
            continue
        except Exception as exc:  # noqa: BLE001 - one vote that cannot be closed now does not hold the others back
            log.warning("matters.vote_close_failed", vote_id=str(vote_id), error=describe_error(exc))
    return closed


def check_calendar(calendar: WorkCalendar, now: datetime, reported: set[int]) -> list[int]:
    """Reports the years soon needed whose holidays the calendar does not list (youmin.kit.calendar)."""
    return report_missing_years(calendar, now, reported, gauge=CALENDAR_MISSING, log=log,
                                event="matters.calendar_year_missing", setting="MATTERS_CALENDAR_PATH")


async def _run(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    reported: set[int] = set()
    while True:
        try:
            now = app.state.clock()
            check_calendar(getattr(app.state, "calendar", None) or configured_calendar(settings.calendar_path), now,
                           reported)
            changed = await sweep_deadlines(app.state.sessions, settings, now, getattr(app.state, "calendar", None))
            if any(changed.values()):
                log.info("matters.deadlines_swept", **changed)
            closed = await close_due_votes(app.state.sessions, settings, now, getattr(app.state, "calendar", None))
            if closed:
                log.info("matters.votes_closed_on_schedule", votes=closed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the sweeper retries on its next round
            log.warning("matters.sweep_failed", error=describe_error(exc))
        await asyncio.sleep(settings.sweep_seconds)


def utc_now() -> datetime:
    """The service's clock (tests replace app.state.clock)."""
    return datetime.now(UTC)


DEADLINE_SWEEPER = Background(name="matters-deadline-sweeper", run=_run, enabled=lambda s: getattr(s, "sweep_enabled", True))


async def mix_ballots(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Empties every vote's ballot box into its totals, in a transaction of its own; returns the ballots moved."""
    async with transaction(sessions) as session:
        return await MattersRepository(session).mix_ballots()


async def _mix(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    while True:
        try:
            await mix_ballots(app.state.sessions)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next round mixes what is left; the tally mixes in any case
            log.warning("matters.mix_failed", error=describe_error(exc))
        await asyncio.sleep(settings.ballot_mix_seconds)


BALLOT_MIXER = Background(name="matters-ballot-mixer", run=_mix)
