"""The mediation service's FastAPI app."""

from fastapi import FastAPI

from services.mediation.router import router
from services.mediation.settings import Settings
from youmin.kit.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the mediation service."""
    return create_service_app(settings or Settings(), title="Youmin mediation: the four-level dispute ladder", routers=[router])
