"""The matters service's FastAPI app."""

from fastapi import FastAPI

from services.matters.router import router
from services.matters.settings import Settings
from youmin.kit.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the matters service."""
    return create_service_app(settings or Settings(), title="Youmin matters: the 由民做主 workflow", routers=[router])
