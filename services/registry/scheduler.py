"""The registry's background jobs: publishing the residents who come of age, and sweeping interrupted imports.

Whether a resident may vote (18+) travels on residency.changed; the birth date never leaves the registry. So the
registry itself tells the other services' replicas, on the day, that someone has turned 18.

An import whose process or database connection ended mid-file could not write its outcome; the sweeper (at start-up,
then every `import_sweep_seconds`) marks such a job failed, telling it from a live import by the lock the importing
session holds (see importer.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.events import ResidencyChanged
from services.registry.service import RegistryService
from youmin.kit.calendar import local_date
from youmin.kit.db import transaction
from youmin.kit.logging import get_logger
from youmin.kit.outbox import publish
from youmin.kit.pii import is_adult
from youmin.kit.service import Background
from youmin.kit.errors import describe_error

log = get_logger("youmin.registry.scheduler")
BATCH = 1000

_COME_OF_AGE = text(
    """
    WITH due AS (
        SELECT p.person_id FROM person p JOIN person_personal pp ON pp.person_id = p.person_id
        WHERE NOT p.adult AND pp.birth_date <= CAST(:cutoff AS date)
        LIMIT :batch FOR UPDATE OF p SKIP LOCKED),
    marked AS (UPDATE person p SET adult = true FROM due WHERE p.person_id = due.person_id
               RETURNING p.person_id, p.household_id)
    SELECT m.person_id, u.code FROM marked m LEFT JOIN org_unit u ON u.unit_id = m.household_id
    """
)


def eighteen_years_before(today: date) -> date:
    """The latest birth date of someone who is 18 on `today`, as youmin.kit.pii.is_adult counts it (born on
    29 February: 18 on 28 February of a common year)."""
    try:
        cutoff = today.replace(year=today.year - 18)
    except ValueError:  # today is 29 February; eighteen years earlier had none
        cutoff = today.replace(year=today.year - 18, day=28)
    while is_adult(cutoff + timedelta(days=1), today):
        cutoff += timedelta(days=1)
    return cutoff


async def publish_coming_of_age(sessions: async_sessionmaker[AsyncSession], today: date) -> int:
    """Marks and publishes everyone who is 18 by `today` and was not yet published as an adult; returns how many."""
    total = 0
    while True:
        async with transaction(sessions) as session:
            rows = (await session.execute(_COME_OF_AGE, {"cutoff": eighteen_years_before(today),
                                                         "batch": BATCH})).all()
            events = [ResidencyChanged(person_id=person_id, household_code=code, adult=True, effective_on=today)
                      for person_id, code in rows if code is not None]
            await publish(session, *events)
        total += len(rows)
        if len(rows) < BATCH:
            return total


async def _run(app: FastAPI) -> None:
    while True:
        try:
            published = await publish_coming_of_age(app.state.sessions, local_date(datetime.now(UTC)))
            if published:
                log.info("registry.came_of_age", people=published)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("registry.coming_of_age_failed", error=describe_error(exc))
        await asyncio.sleep(app.state.settings.coming_of_age_seconds)


async def _sweep_imports(app: FastAPI) -> None:
    while True:
        try:
            async with transaction(app.state.sessions) as session:
                swept = await RegistryService(session).sweep_interrupted_imports()
            if swept:
                log.warning("registry.imports_interrupted", imports=[str(i) for i in swept])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("registry.import_sweep_failed", error=describe_error(exc))
        await asyncio.sleep(app.state.settings.import_sweep_seconds)


COMING_OF_AGE = Background(name="registry-coming-of-age", run=_run, enabled=lambda s: s.coming_of_age_seconds > 0)
IMPORT_SWEEPER = Background(name="registry-import-sweeper", run=_sweep_imports,
                            enabled=lambda s: s.import_sweep_seconds > 0)
