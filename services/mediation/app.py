"""The mediation service's FastAPI app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from services.mediation.consumers import mediation_consumers
from services.mediation.router import router
from services.mediation.scheduler import sweeper
from services.mediation.service import MediationConfig
from services.mediation.settings import Settings
from youmin.kit.calendar import configured_calendar
from youmin.kit.service import Background, create_service_app


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """Builds the mediation service; `clock` replaces the wall clock (tests)."""
    settings = settings or Settings()
    clock = clock or (lambda: datetime.now(UTC))
    config = MediationConfig(ladder=settings.ladder_config(), grid_serial_width=settings.grid_serial_width,
                             auto_referral_route=settings.auto_referral_route,
                             calendar=configured_calendar(settings.calendar_path))
    return create_service_app(
        settings,
        title="Youmin mediation: the four-level dispute ladder",
        routers=[router],
        consumers=mediation_consumers(config, clock),
        background=[Background("mediation-sweeper", sweeper, enabled=lambda s: s.sweep_enabled)],
        state={"clock": clock, "mediation": config},
    )
