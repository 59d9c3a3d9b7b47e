"""The registry service's FastAPI app."""

from fastapi import FastAPI

from services.registry.router import internal_router, router
from services.registry.scheduler import COMING_OF_AGE, IMPORT_SWEEPER
from services.registry.settings import Settings
from youmin.kit.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the registry service."""
    return create_service_app(settings or Settings(), title="Youmin registry: org, grid and party structure, people and roles",
                              routers=[router, internal_router], background=[COMING_OF_AGE, IMPORT_SWEEPER])
