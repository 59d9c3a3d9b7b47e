"""The registry service's FastAPI app."""

from fastapi import FastAPI

from services.registry.router import internal_router, router
from services.registry.rules.codes import CodeScheme, configure
from services.registry.scheduler import COMING_OF_AGE, IMPORT_SWEEPER
from services.registry.settings import Settings
from youmin.kit.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the registry service; its codes follow the grid serial width of its settings."""
    settings = settings or Settings()
    configure(CodeScheme(grid_width=settings.grid_serial_width))
    return create_service_app(settings, title="Youmin registry: org, grid and party structure, people and roles",
                              routers=[router, internal_router], background=[COMING_OF_AGE, IMPORT_SWEEPER])
