"""The matters service's FastAPI app."""

from fastapi import FastAPI

from services.matters.consumers import consumers
from services.matters.repository import RecentMoves
from services.matters.router import router
from services.matters.scheduler import BALLOT_MIXER, DEADLINE_SWEEPER, utc_now
from services.matters.settings import Settings
from youmin.kit.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the matters service."""
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="Youmin matters: the 由民做主 workflow",
        routers=[router],
        consumers=consumers(settings),
        background=[DEADLINE_SWEEPER, BALLOT_MIXER],
        # clock: the time the service acts at; calendar: None means the configured working-day calendar.
        # recent_moves: the units' moves as read lately, to read tokens' scopes as today's codes.
        state={"clock": utc_now, "calendar": None, "recent_moves": RecentMoves(settings.moves_read_seconds)},
    )
